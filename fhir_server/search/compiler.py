"""Compile search criteria into a MongoDB filter of typed values (DESIGN.md §3).

Chains and `_has` become a sub-search on the other type whose matches are turned into
`$in` of references or ids (a chain also applies the same filter to the contained resources
a reference points at); `lookup` runs those sub-searches, so this module stays pure.
Nothing from the query string reaches MongoDB but strings and numbers our parsers made,
on fields named by the registry.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import ModuleType

from fhir_server.conformance.code_systems import code_system, find_value_set
from fhir_server.conformance.costly_work import in_costly_thread
from fhir_server.conformance.held_terminology import drawing_on
from fhir_server.conformance.registry import is_supported
from fhir_server.conformance.search_parameters import (
    LIST_PARAMETER,
    SearchParameter,
    search_parameters,
    searches_by,
)
from fhir_server.conformance.unit_reading import in_units_thread, new_codes_counted
from fhir_server.conformance.units import read_searched, unread
from fhir_server.errors import BadRequest
from fhir_server.search.fhirpath import UnsupportedExpression, result_types
from fhir_server.search.index import (
    TOP_LEVEL_PARAMETERS,
    contained_filter,
    has_range_entries,
    indexes_bare_codes,
    type_module,
)
from fhir_server.search.stored_terminology import (
    MAX_STORED_VALUE_SETS,
    Lookup,
    Match,
    last_stored_first,
    stored_terminology_drawn_on,
)
from fhir_server.search.types import Criterion, near, quantity, reference
from fhir_server.search.types.date import (
    EARLIEST,
    compile_date,
    parse_date_parameter,
    split_prefix,
)
from fhir_server.search.types.string import names_no_text
from fhir_server.search.types.token import NEGATING
from fhir_server.search.values import split_escaped, unescape

# A chain or _has matching more resources than this is refused rather than run slowly.
MAX_SUBSEARCH_MATCHES = 10_000
MAX_VALUE_LENGTH = 2048
# Token modifiers that expand value sets or walk code system hierarchies.
_TERMINOLOGY_MODIFIERS = ("in", "not-in", "above", "below")


class UnknownParameter(LookupError):
    """A parameter this server does not know; ignored unless handling is strict."""


class NoValue(Exception):
    """A criterion none of whose values names anything to search for (`family=%CC%81`, which
    folds to nothing): ignored as `family=` is, wherever a chain or `_has` finds it."""


@dataclass
class Compiler:
    lookup: Lookup
    base_url: str | None = None
    # Called with every type a chain or _has searches; raises when the caller may not.
    check_searchable: Callable[[str], None] = lambda resource_type: None

    async def compile(
        self, resource_type: str, criteria: list[tuple[str, str]], strict: bool
    ) -> tuple[dict, list[tuple[str, str]]]:
        """The filter for the AND of the criteria, and the criteria it used; the UCUM codes
        not read before that its values name counted against one bound (inner searches'
        too)."""
        with new_codes_counted():
            units = [code for _, value in criteria for code in quantity.searched_units(value)]
            if unread(units):  # read off the event loop (conformance/unit_reading.py)
                await in_units_thread(read_searched, units)
            return await self._compile(resource_type, criteria, strict)

    async def _compile(
        self, resource_type: str, criteria: list[tuple[str, str]], strict: bool
    ) -> tuple[dict, list[tuple[str, str]]]:
        clauses, used = [], []
        for name, value in criteria:
            if not any(v.strip() for v in split_escaped(value, ",", keep_escapes=True)):
                continue  # `name=` (or `name=,`, `name=%20`) with no value: ignored, as
                # production servers do
            if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
                raise BadRequest(
                    f"The value of '{name}' is longer than {MAX_VALUE_LENGTH} characters "
                    "or contains a NUL character",
                    expression=name,
                )
            try:
                clauses.append(await self.clause(resource_type, name, value))
            except UnknownParameter as unknown:
                if strict:
                    raise BadRequest(str(unknown), expression=name) from None
                continue
            except NoValue:
                continue
            used.append((name, value))
        return ({"$and": clauses} if clauses else {}), used

    async def clause(self, resource_type: str, name: str, value: str,
                     written: str | None = None) -> dict:
        """The filter of `name=value`. Errors name the parameter as the request `written` it:
        a chain's or `_has`'s inner part (`birthdate` of `subject.birthdate`) is compiled by
        its own name, which the request has not."""
        written = written or name
        if name.startswith("_has:"):
            return await self._reverse_chain(resource_type, name, value, written)
        if name.partition(":")[0] == LIST_PARAMETER:
            return await self._in_lists(resource_type, name, value, written)
        head, dot, chained = name.partition(".")
        code, colon, modifier = head.partition(":")
        if colon and not modifier:  # `family:=x`: a modifier left out, not no modifier
            raise BadRequest(f"'{written}' names no modifier after its ':'", expression=written)
        parameter = search_parameters(resource_type).get(code)
        if parameter is None:
            raise UnknownParameter(f"Unknown search parameter '{code}' for {resource_type}")
        if dot:
            return await self._chain(parameter, modifier or None, chained, written, value)
        if modifier == "of-type" and parameter.type == "token" and not _has_identifiers(
                parameter, resource_type):
            raise BadRequest(f"'{written}': ':of-type' searches identifiers by their type; "
                             f"'{code}' of {resource_type} has no Identifier", expression=written)
        if modifier == "identifier" and _only_canonical(parameter, resource_type):
            raise BadRequest(f"'{written}': ':identifier' searches the identifier of a "
                             f"Reference; '{code}' of {resource_type} is a canonical URL, "
                             "which has none", expression=written)
        value_sets: dict[str, dict] = {}
        stored: list[dict] = []
        if parameter.type == "token" and modifier in ("in", "not-in"):
            value_sets = await self._stored_value_sets(value)
            stored = await stored_terminology_drawn_on(self.lookup, value_sets.values())
        elif parameter.type == "token" and modifier in ("above", "below"):
            stored = await self._stored_code_systems(value)
        simple = partial(self._simple, type_module(resource_type, parameter), parameter,
                         modifier or None, value, value_sets,
                         indexes_bare_codes(resource_type, parameter))
        try:
            if parameter.type == "token" and modifier in _TERMINOLOGY_MODIFIERS:
                # An expansion, or the hierarchy of a large stored code system, may take a
                # second: not on the event loop (`conformance/costly_work.py`).
                return await in_costly_thread(drawing_on, stored, simple)
            return drawing_on(stored, simple)
        except ValueError as bad:
            raise BadRequest(f"Invalid value for '{written}': {bad}", expression=written) from None

    async def _stored_code_systems(self, value: str) -> list[dict]:
        """The CodeSystems stored through the API (the last stored first) of the systems an
        `:above`/`:below` value names that the registry does not hold."""
        systems = sorted({parts[0] for item in split_escaped(value, ",", keep_escapes=True)
                          if len(parts := split_escaped(item, "|", 1)) == 2
                          and code_system(parts[0]) is None})
        return await last_stored_first(self.lookup, "CodeSystem", systems)

    async def _stored_value_sets(self, value: str) -> dict[str, dict]:
        """The ValueSets stored through the API that an `:in`/`:not-in` value names, by the
        value naming them: by a literal reference (`ValueSet/id`, or absolute under this
        server's base), or by canonical (`url` or `url|version`; without a version the one
        stored last) when the server has no definition of it (search.html#token: "the
        reference may be literal ... or logical")."""
        wanted = [canonical for item in split_escaped(value, ",", keep_escapes=True)
                  if (canonical := unescape(item)) and find_value_set(canonical) is None]
        literal = {item: target_id for item in wanted
                   for kind, target_id in reference.local_references([item], self.base_url)
                   if kind == "ValueSet"}
        wanted = [item for item in wanted if item not in literal]
        found = await self._value_sets_by_id(literal)
        if not wanted:
            return found
        urls = sorted({canonical.partition("|")[0] for canonical in wanted})
        stored = [match.resource for match in await self.lookup(
            "ValueSet", {"search.url": {"$in": urls}}, ["resource"], MAX_STORED_VALUE_SETS)
            if match.resource is not None]
        for canonical in wanted:
            url, _, version = canonical.partition("|")
            candidates = [value_set for value_set in stored if value_set.get("url") == url
                          and version in ("", value_set.get("version"))]
            if candidates:
                found[canonical] = max(candidates, key=lambda v: v["meta"]["lastUpdated"])
        return found

    async def _value_sets_by_id(self, literal: dict[str, str]) -> dict[str, dict]:
        """reference → the stored ValueSet of that id, for those that exist."""
        if not literal:
            return {}
        stored = {match.id: match.resource for match in await self.lookup(
            "ValueSet", {"_id": {"$in": sorted(set(literal.values()))}}, ["resource"],
            MAX_STORED_VALUE_SETS) if match.resource is not None}
        return {item: stored[id_] for item, id_ in literal.items() if id_ in stored}

    def _simple(self, module: ModuleType, parameter: SearchParameter, modifier: str | None,
                value: str, value_sets: dict[str, dict], bare_codes: bool) -> dict:
        field = TOP_LEVEL_PARAMETERS.get(parameter.code, f"search.{parameter.code}")
        if (
            modifier is not None
            and modifier not in module.MODIFIERS
            and not (parameter.type == "reference" and modifier in parameter.targets)
        ):
            raise ValueError(f"the modifier ':{modifier}' is not supported on this parameter")
        if modifier == "missing":
            if value not in ("true", "false"):
                raise ValueError("':missing' takes true or false")
            return missing_filter(parameter, field, value == "true")
        criterion = Criterion(field, parameter, modifier, self.base_url, value_sets, bare_codes)
        # Each alternative keeps its escapes for the type module, which splits it further.
        items = [item for item in split_escaped(value, ",", keep_escapes=True)
                 if not _names_nothing(criterion, item)]
        if not items:
            raise NoValue
        alternatives = [self._one(module, criterion, item) for item in items]
        if len(alternatives) == 1:
            return alternatives[0]
        return {"$and" if modifier in NEGATING else "$or": alternatives}

    def _one(self, module: ModuleType, criterion: Criterion, value: str) -> dict:
        if criterion.field == "_id":
            if criterion.modifier not in (None, "not"):  # an id has no text, system or type
                raise ValueError(f"the modifier ':{criterion.modifier}' is not supported on _id")
            value = unescape(value)
            return {"_id": {"$ne": value}} if criterion.modifier == "not" else {"_id": value}
        if criterion.field == "lastUpdated":
            prefix, text = split_prefix(value)
            search = parse_date_parameter(text, require_timezone=False)
            return compile_date("lastUpdated", "lastUpdated", prefix, search)
        return module.compile_value(criterion, value)

    async def _chain(
        self,
        parameter: SearchParameter,
        target_type: str | None,
        chained: str,
        written: str,
        value: str,
    ) -> dict:
        """`subject:Patient.name=x`: the references to the targets matching `name=x`, or to
        a contained one matching it (http://hl7.org/fhir/R4/search.html#chaining,
        #contained); errors name the chain as `written`."""
        if parameter.type != "reference":
            raise BadRequest(f"'{written}': only reference parameters can be chained",
                             expression=written)
        if target_type and parameter.targets and target_type not in parameter.targets:
            raise BadRequest(f"'{written}': '{parameter.code}' refers to "
                             f"{', '.join(sorted(parameter.targets))}, not {target_type}",
                             expression=written)
        types = [target_type] if target_type else list(parameter.targets)
        next_code = chained.partition(".")[0].partition(":")[0]
        types = [t for t in types if is_supported(t) and searches_by(t, next_code)]
        if not types:
            raise UnknownParameter(
                f"'{written}': no target type of '{parameter.code}' has a "
                f"search parameter '{next_code}'"
            )
        references: list[str] = []
        canonicals: list[tuple[str, str | None]] = []
        # Or a contained target matching it (search.html#contained).
        contained: list[dict] = []
        for kind in types:
            self.check_searchable(kind)
            inner = await self.clause(kind, chained, value, written)
            contained.append(contained_filter(parameter.code, kind, inner))
            # A canonical reference (`Measure.library`) names its target by `url|version`.
            canonical = reference.is_canonical_resource(kind)
            fields = ["_id", "search.url", "search.version"] if canonical else ["_id"]
            documents = await self._matching(kind, inner, fields, written)
            references += [f"{kind}/{document.id}" for document in documents]
            if canonical:
                canonicals += [target for document in documents
                               for target in reference.canonical_identity(document.search)]
        if self.base_url:
            references += [f"{self.base_url.rstrip('/')}/{r}" for r in references]
        field = f"search.{parameter.code}"
        stored = [{field: {"$in": references}}]
        if canonicals:
            stored.append(reference.referring_to_canonicals(field, canonicals))
        return {"$or": stored + contained}

    async def _reverse_chain(self, resource_type: str, name: str, value: str,
                             written: str) -> dict:
        """`_has:Encounter:patient:status=finished`: the resources that matching Encounters
        refer to through `patient` (http://hl7.org/fhir/R4/search.html#has)."""
        parts = name.split(":", 3)
        if len(parts) != 4:
            raise BadRequest(f"'{written}' must be _has:Type:parameter:criterion",
                             expression=written)
        if not is_supported(parts[1]):
            raise BadRequest(f"'{written}': '{parts[1]}' is not a resource type this server "
                             "stores", expression=written)
        _, kind, code, inner_name = parts
        parameter = search_parameters(kind).get(code)
        if parameter is None or parameter.type != "reference":
            raise BadRequest(f"'{written}': '{code}' is not a reference parameter of {kind}",
                             expression=written)
        self.check_searchable(kind)
        inner = await self.clause(kind, inner_name, value, written)
        documents = await self._matching(kind, inner, [f"search.{code}"], written)
        ids = {
            target_id
            for document in documents
            for target_type, target_id in reference.local_references(
                document.search.get(code, []), self.base_url
            )
            if target_type == resource_type
        }
        found = {"_id": {"$in": sorted(ids)}}
        if not reference.is_canonical_resource(resource_type):
            return found
        # Or referred to by canonical URL: by their `url` (and `version`).
        urls: set[str] = set()
        for document in documents:
            urls |= reference.canonical_urls(document.search.get(code, []), self.base_url)
        return {"$or": [found, reference.canonical_targets(urls)]} if urls else found

    async def _in_lists(self, resource_type: str, name: str, value: str,
                        written: str) -> dict:
        """`_list=42`: the resources List/42 holds (`List.entry.item`), of any of the Lists
        named (http://hl7.org/fhir/R4/search.html#list). A List not found (or deleted) holds
        nothing; functional lists (`$current-problems`) are not kept here."""
        if name != "_list":
            raise BadRequest(f"'{written}': _list takes no modifier", expression=written)
        ids = [unescape(item) for item in split_escaped(value, ",", keep_escapes=True)]
        if functional := [list_id for list_id in ids if list_id.startswith("$")]:
            raise BadRequest(f"_list: functional lists such as '{functional[0]}' are not "
                             "supported; name a List by its id", expression=written)
        self.check_searchable("List")
        lists = await self._matching("List", {"_id": {"$in": ids}}, ["search.item"], written)
        held = {item_id for found in lists
                for kind, item_id in reference.local_references(found.search.get("item", []),
                                                                self.base_url)
                if kind == resource_type}
        return {"_id": {"$in": sorted(held)}}

    async def _matching(
        self, kind: str, inner: dict, fields: list[str], name: str
    ) -> Sequence[Match]:
        documents = await self.lookup(kind, inner, fields, MAX_SUBSEARCH_MATCHES + 1)
        if len(documents) > MAX_SUBSEARCH_MATCHES:
            raise BadRequest(
                f"'{name}' matches more than {MAX_SUBSEARCH_MATCHES} {kind} "
                "resources; narrow it down",
                expression=name,
            )
        return documents


def missing_filter(parameter: SearchParameter, field: str, missing: bool) -> dict:
    """`:missing` (http://hl7.org/fhir/R4/search.html#missing), both ways on the
    parameter's own index: a document without entries has no such field (indexed as null;
    an empty array, as documents indexed before revision 9 of the extraction may still
    hold until re-indexed, as `undefined`), nor `lo`/`v`/`c0` under it. Only `near`'s
    2dsphere index leaves such documents out, so `near:missing=true` reads the collection."""
    if field in ("_id", "lastUpdated"):
        return {"_id": {"$exists": not missing}}
    ranged = has_range_entries(parameter)
    if missing:
        subfield = {"quantity": "v", "composite": "c0"}
        if ranged or parameter.type in subfield:
            return {f"{field}.{'lo' if ranged else subfield[parameter.type]}": {"$exists": False}}
        return {field: {"$in": [None, []]}}
    if parameter.type == "date":
        return {f"{field}.lo": {"$gte": EARLIEST}}
    if parameter.type in ("number", "quantity"):
        return {f"{field}.{'lo' if ranged else 'v'}": {"$gte": float("-inf")}}
    if parameter.type == "composite":
        return {f"{field}.c0": {"$gte": ""}}
    if parameter.type == "special":
        return near.present(field)
    return {field: {"$gte": ""}}


def _names_nothing(criterion: Criterion, item: str) -> bool:
    """Whether an alternative names nothing to search for: a blank one, or, where text is
    matched folded (strings but `:exact`, token `:text`), one that folds to nothing. Either
    is left out: as a string prefix it would match every value."""
    if criterion.modifier == "text" or (criterion.parameter.type == "string"
                                        and criterion.modifier != "exact"):
        return names_no_text(item)
    return not item.strip()


def _only_canonical(parameter: SearchParameter, resource_type: str) -> bool:
    """Whether a reference parameter's values on this type are all canonical URLs (no
    Reference, so no `Reference.identifier` for `:identifier` to search)."""
    try:
        types = result_types(parameter.expression, resource_type)
    except UnsupportedExpression:
        return False
    return bool(types) and types <= {"canonical", "uri"}


def _has_identifiers(parameter: SearchParameter, resource_type: str) -> bool:
    """Whether a token parameter indexes Identifiers on this type (what `:of-type` reads);
    true when its expression is beyond the compiled subset, which decides nothing."""
    try:
        return "Identifier" in result_types(parameter.expression, resource_type)
    except UnsupportedExpression:
        return True
