"""The per-write search index stored beside each resource (DESIGN.md §2): `search.<code>`
entry arrays for every supported parameter, `sort.<code>` keys for `_sort`, the
compartments (Patient, Encounter, RelatedPerson, Practitioner, Device) the resource is in,
the literal references it holds (`references`), and the `search` entries of the contained
resources its references point at, for chains (`contained`)."""

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.registry import is_supported
from fhir_server.conformance.search_parameters import (
    COMPARTMENT_TYPES,
    SearchParameter,
    compartment_parameters,
    search_parameters,
)
from fhir_server.conformance.terminology import implicit_system
from fhir_server.search.fhirpath import Node, UnsupportedExpression, compile_path, result_types
from fhir_server.search.types import (
    age,
    composite,
    date,
    near,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)

log = logging.getLogger(__name__)

TYPE_MODULES = {
    "string": string,
    "token": token,
    "date": date,
    "reference": reference,
    "quantity": quantity,
    "number": number,
    "uri": uri,
    "composite": composite,
    "special": near,
}
IndexKeys = list[tuple[str, int | str]]
# Served by top-level fields of the stored document instead of `search.<code>`.
TOP_LEVEL_PARAMETERS = {"_id": "_id", "_lastUpdated": "lastUpdated"}
# Bump when extraction changes, so `$reindex` knows stored entries are stale.
# 6: no `s:` token entry beside `sc:`; 7: no `missing` list; 8: composites without the
# token entries only modifiers use; 9: no empty `search.<code>` arrays; 10: Timing dates;
# 11: compartments of absolute references too; 12: leap seconds (second 60) indexed;
# 13: dates without a timezone in the server's local time zone (was UTC); 14: a fraction
# of a second covers what its digits name (`.5` a tenth of a second, was a millisecond);
# 15: UCUM quantities also in base units; 16: no date entries of string values; 17: Range
# values of quantity parameters, and a number in a UCUM unit kept (mg/(24.h) was mg/h);
# 18: number ranges; 19: a resource as a reference's value (Bundle's composition, message);
# 20: UCUM base forms from UCUM's own definitions (pint's differed for about twenty units),
# Devices in their patient's compartment, and a BHYT card's BHXH code; 21: strings sorted
# in Vietnamese alphabetical order (was their accent-folded form); 23: Bundle's composition
# and message by their entry's fullUrl (was the resource's `Type/id`); 24: a 10-digit BHYT
# number also as that BHXH code and the reverse, and a card's `:of-type` entries by its code;
# 25: a canonical of a uri parameter (`_profile`) also without its `|version`; 26: a number
# parameter over dates (Patient `age`) as ages; 27: every literal reference of a resource,
# its contained resources' too (`references`); 28: the entries of contained resources that
# references point at (`contained`); 29: quantities sorted in UCUM base units (`sort.<code>`);
# 30: a UCUM quantity beyond a double in base units (1e300 Ym) also in base units, as the
# largest double of its sign, and one below it (1e-320 ug) as the smallest, not 0; 31: the
# entry resource Bundle's `composition` and `message` are, as a contained one (chains); 32:
# a ContactDetail's name as a string (ValueSet `author` of the extensions pack); 33: an
# integer as a token (Patient `birthOrderBoolean` of the extensions pack, multipleBirth[x]);
# 34: a coding of a code system held here that is not case sensitive also as the code system
# writes its code (`lab` of v2-0074 as `LAB`); 35: an instant as the point in time it is
# (was the range of its precision, a second); 36: an absolute reference to a type its
# parameter does not name also as `*/<base>/<id>` (`Observation?performer=e1` finds this
# server's URL of Encounter/e1, as it finds `Encounter/e1`), and a logical reference (an
# identifier alone) as `resolve() is T` when its `type` names T (`patient:identifier=`)
_EXTRACTION_REVISION = "36"


@cache
def index_version() -> str:
    """Identifies the definitions, extraction code and local time zone the stored entries
    came from."""
    digest = hashlib.sha256(f"{_EXTRACTION_REVISION} {date.local_timezone()}".encode())
    for kind in ("SearchParameter", "CompartmentDefinition"):
        for definition in sorted(registry().all(kind), key=lambda d: d["url"]):
            digest.update(json.dumps(definition, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def use_timezone(name: str) -> None:
    """Index and search dates without a timezone in the IANA zone `name` (FHIR_TIMEZONE); the
    entries stored under another zone become stale (`index_version`), so `$reindex` and the
    re-indexing at start-up rewrite them."""
    date.set_local_timezone(name)
    index_version.cache_clear()


@cache
def type_module(resource_type: str, parameter: SearchParameter) -> ModuleType:
    """The module that indexes and searches a parameter on a type: its type's, but `age`
    for a number whose expression selects dates (Patient `age` of the extensions pack,
    `Patient.birthDate`), which the number module would find nothing in."""
    if parameter.type == "number":
        try:
            if age.counts_from(result_types(parameter.expression, resource_type)):
                return age
        except UnsupportedExpression:
            pass
    return TYPE_MODULES[parameter.type]


@dataclass(frozen=True)
class Extractor:
    resource_type: str
    parameter: SearchParameter
    module: ModuleType  # `type_module`
    extract: Callable[[dict], list[Node]]
    implicit_system: str | None  # of a bound `code` element, for token `system|code`
    # Bundle's `composition` and `message` (`Bundle.entry[0].resource`): a resource in a
    # Bundle entry, extracted with its entry, which holds its fullUrl.
    of_entries: bool = False

    def entries(self, resource: dict) -> list:
        if self.parameter.type == "composite":
            return composite.index(self.parameter, self.resource_type, resource)
        nodes = self.extract(resource)
        if self.implicit_system:
            nodes = [_with_system(node, self.implicit_system) for node in nodes]
        if self.parameter.type == "quantity":
            return quantity.index(nodes, quantity.takes_ranges(self.parameter.expression))
        if self.of_entries:
            return reference.entry_index(nodes, self.parameter.targets)
        if self.parameter.type == "reference":
            return reference.index(nodes, self.parameter.targets)
        if self.module is age:  # none for a resource that records a death
            return age.index(nodes, resource)
        return self.module.index(nodes)


def _with_system(node: Node, system: str) -> Node:
    if node.type == "code" and isinstance(node.value, str):
        return Node({"system": system, "code": node.value}, "Coding")
    return node


def _implicit_system(resource_type: str, parameter: SearchParameter) -> str | None:
    if parameter.type != "token":
        return None
    for branch in parameter.expression.split("|"):
        head, _, path = branch.strip().partition(".")
        if head == resource_type:
            return implicit_system(resource_type, path)
    return None


@cache
def indexes_bare_codes(resource_type: str, parameter: SearchParameter) -> bool:
    """Whether a token parameter indexes codes of primitive elements (`code`, `string`,
    `boolean`, ...) with no system to index them under on this type. A Coding or
    Identifier without a system has none either, but it is in no ValueSet: only such codes
    are found by their code alone by `:in`."""
    try:
        types = result_types(parameter.expression, resource_type)
    except UnsupportedExpression:
        return True
    return (any(kind[:1].islower() for kind in types)
            and _implicit_system(resource_type, parameter) is None)


@cache
def _extractors(resource_type: str) -> dict[str, Extractor]:
    extractors = {}
    for code, parameter in search_parameters(resource_type).items():
        if code in TOP_LEVEL_PARAMETERS:
            continue
        try:
            of_entries = parameter.type == "reference" and result_types(
                parameter.expression, resource_type) == {"Resource"}
            extract = compile_path(parameter.expression.removesuffix(".resource")
                                   if of_entries else parameter.expression, resource_type)
        except UnsupportedExpression as unsupported:
            # An installed package's expression beyond the compiled subset: the parameter
            # indexes nothing, and writes of the type go on (logged once per type).
            log.warning("search parameter %s is not indexed on %s: %s", parameter.url,
                        resource_type, unsupported)
            continue
        extractors[code] = Extractor(resource_type, parameter,
                                     type_module(resource_type, parameter), extract,
                                     _implicit_system(resource_type, parameter), of_entries)
    return extractors


def build_search_index(resource_type: str, resource: dict) -> dict:
    """The `search`, `sort`, `compartments`, `references` and `contained` fields of a
    current-version document.

    A `search.<code>` array is stored only when the resource has values for it: a missing
    field is indexed as null, so `:missing=true` is still a lookup in the parameter's own
    index, and the empty arrays of the many parameters a resource has no value for would
    be about a tenth of its document.
    """
    search = _search_entries(resource_type, resource)
    return {
        "search": search,
        "sort": _sort_keys(resource_type, search),
        "compartments": compartments_of(resource_type, resource, search),
        "references": reference.resource_references(resource),
        "contained": _contained_entries(resource_type, resource, search)
        + _entry_resources(resource_type, resource),
        "indexVersion": index_version(),
    }


def _search_entries(resource_type: str, resource: dict) -> dict[str, list]:
    """code → the entries of each parameter the resource has values for."""
    search = {}
    for code, extractor in _extractors(resource_type).items():
        if entries := extractor.entries(resource):
            search[code] = entries
    return search


def _sort_keys(resource_type: str, search: dict[str, list]) -> dict[str, dict]:
    """code → the smallest and largest value (`a`, `d`) of each parameter `_sort` takes."""
    sort, extractors = {}, _extractors(resource_type)
    for code, entries in search.items():
        extractor = extractors[code]
        if extractor.parameter.type != "composite":
            low_high = extractor.module.sort_range(entries)
            if low_high is not None:
                sort[code] = {"a": low_high[0], "d": low_high[1]}
    return sort


def _contained_entries(resource_type: str, resource: dict, search: dict[str, list]
                       ) -> list[dict]:
    """`{type, via, search}` of each contained resource a reference parameter points at
    (`#id`): its type, those parameters, and its own `search` entries. R4 search.html
    #contained: "A chained condition will be evaluated inside contained resources", so
    `subject.name=x` finds an Observation whose subject is a contained Patient named x.
    Nothing else: a contained resource is never a match itself (no sort keys, no
    compartments)."""
    if not resource.get("contained"):
        return []
    via = _contained_references(resource_type, search)
    found = []
    for contained in resource.get("contained") or []:
        if not isinstance(contained, dict) or not isinstance(contained.get("id"), str):
            continue
        kind, codes = contained.get("resourceType"), via.get(contained["id"])
        if codes and isinstance(kind, str) and is_supported(kind):
            found.append({"type": kind, "via": sorted(codes),
                          "search": _search_entries(kind, contained)})
    return found


def _entry_resources(resource_type: str, resource: dict) -> list[dict]:
    """`{type, via, search}` of the entry resource that Bundle's `composition` or `message`
    is (`Bundle.entry[0].resource`), as of a contained resource: the parameters "provide
    access to search its contents" (their R4 descriptions), so a chain through them
    (`Bundle?composition.type=...`, `message.focus=...`) is evaluated inside the entry, not
    only on a stored resource its fullUrl names."""
    found = []
    for code, extractor in _extractors(resource_type).items():
        if not extractor.of_entries:
            continue
        for node in extractor.extract(resource):
            inner = node.value.get("resource") if isinstance(node.value, dict) else None
            if not isinstance(inner, dict):
                continue
            kind = inner.get("resourceType")
            if kind in extractor.parameter.targets and is_supported(kind):
                found.append({"type": kind, "via": [code], "search": _search_entries(kind, inner)})
    return found


def _contained_references(resource_type: str, search: dict[str, list]) -> dict[str, set[str]]:
    """id → the reference parameters whose values point at the contained resource `#id`."""
    via: dict[str, set[str]] = {}
    extractors = _extractors(resource_type)
    for code, entries in search.items():
        if extractors[code].parameter.type == "reference":
            for entry in entries:
                if entry.startswith("#"):
                    via.setdefault(entry[1:], set()).add(code)
    return via


def contained_filter(code: str, target_type: str, inner: dict) -> dict:
    """A filter on the contained resources of `target_type` that reference parameter `code`
    points at (`_contained_entries`): one matching `inner`, a filter on a stored resource's
    `search` fields, which `$elemMatch` applies to each contained resource's own. Its
    `contained.via` condition beside lets the planner take the index of `contained`, which
    holds only the documents that have such resources."""
    return {"contained.via": code,
            "contained": {"$elemMatch": {"via": code, "type": target_type, **inner}}}


@cache
def _compartment_parameters(resource_type: str) -> dict[str, frozenset[str]]:
    """code → the compartment types its references put a resource of this type in."""
    types_by_code: dict[str, set[str]] = {}
    for compartment_type in COMPARTMENT_TYPES:
        for code in compartment_parameters(compartment_type).get(resource_type, ()):
            types_by_code.setdefault(code, set()).add(compartment_type)
    return {code: frozenset(types) for code, types in types_by_code.items()}


def compartments_of(resource_type: str, resource: dict, search: dict) -> list[str]:
    """`Patient/1`, `Encounter/7`, ...: the compartments a resource is in, by the parameters
    of the CompartmentDefinitions; the focal resource of a compartment is in its own. An
    absolute reference (`https://host/fhir/Patient/1`) is kept whole: whether it names this
    server depends on the base a request uses, so `compartment_filter` matches it then."""
    found = set()
    for code, compartment_types in _compartment_parameters(resource_type).items():
        entries = search.get(code, [])
        found |= {
            f"{kind}/{target_id}"
            for kind, target_id in reference.local_references(entries)
            if kind in compartment_types
        }
        found |= {entry for entry, kind in reference.absolute_references(entries)
                  if kind in compartment_types}
    if resource_type in COMPARTMENT_TYPES and isinstance(resource.get("id"), str):
        found.add(f"{resource_type}/{resource['id']}")
    return sorted(found)


def parameter_entries(resource_type: str, code: str, resource: dict) -> list:
    """The index entries of one search parameter of a resource, as searches find them; none
    for a parameter the type has not."""
    extractor = _extractors(resource_type).get(code)
    return extractor.entries(resource) if extractor is not None else []


def reference_literals(resource_type: str, code: str, resource: dict) -> list[str]:
    """The literal references among a reference parameter's values in a resource, as
    written (`Patient/1/_history/2`: its entries keep no version); none for a parameter the
    type has not, or whose values are Bundle entries."""
    extractor = _extractors(resource_type).get(code)
    if extractor is None or extractor.parameter.type != "reference" or extractor.of_entries:
        return []
    return reference.literals(extractor.extract(resource))


def resource_compartments(resource_type: str, resource: dict) -> list[str]:
    """`compartments_of` a resource without the rest of its search index (an older version,
    whose index is not stored): only the parameters that define compartments are read."""
    extractors = _extractors(resource_type)
    search = {code: extractors[code].entries(resource)
              for code in _compartment_parameters(resource_type) if code in extractors}
    return compartments_of(resource_type, resource, search)


def compartment_filter(compartment_type: str, ids: Sequence[str] | None, base: str) -> dict:
    """A filter on `compartments`: resources in the `compartment_type` compartment of one of
    `ids` (None: of any), by a relative reference or an absolute one under `base`."""
    prefixes = (f"{compartment_type}/", f"{base.rstrip('/')}/{compartment_type}/")
    if ids is None:  # `Patient/` up to the next character, under each prefix
        return {"$or": [{"compartments": {"$gte": p, "$lt": p[:-1] + "0"}} for p in prefixes]}
    return {"compartments": {"$in": [prefix + i for i in ids for prefix in prefixes]}}


def outside_compartments(compartment_type: str, base: str) -> dict:
    """A filter on `compartments`: resources in no compartment of `compartment_type` (a
    Specimen without subject is in no patient's)."""
    return {"$nor": [compartment_filter(compartment_type, None, base)]}


def index_plan(resource_type: str) -> list[IndexKeys | tuple[IndexKeys, dict]] | None:
    """The search indexes of a resource type; None for a name that is not one."""
    return index_keys(resource_type) if is_supported(resource_type) else None


def has_range_entries(parameter: SearchParameter) -> bool:
    """Whether a parameter's entries are ranges `{lo, hi}` (dates, numbers, quantities that
    may be Ranges) rather than values `{v}`."""
    return parameter.type in ("date", "number") or (
        parameter.type == "quantity" and quantity.takes_ranges(parameter.expression))


def index_keys(resource_type: str) -> list[IndexKeys | tuple[IndexKeys, dict]]:
    """The MongoDB index of every supported parameter of a type (DESIGN.md §2): one on the
    entry array, or on the range fields for dates and numbers; and of a type with reference
    parameters, the index of `contained` (`contained_filter`), which holds only the documents
    with contained entries (deleted versions have none)."""
    keys: list[IndexKeys | tuple[IndexKeys, dict]] = [[("compartments", 1)]]
    parameters = search_parameters(resource_type)
    if any(parameter.type == "reference" for parameter in parameters.values()):
        keys.append(([("contained.via", 1), ("contained.type", 1)],
                     {"contained.via": {"$exists": True}}))
    for code, parameter in parameters.items():
        field = f"search.{code}"
        if code in TOP_LEVEL_PARAMETERS:
            continue
        if has_range_entries(parameter):
            # `lo` leads for eq/lt/le/sa, `hi` alone serves gt/ge/eb.
            keys += [[(f"{field}.lo", 1), (f"{field}.hi", 1)], [(f"{field}.hi", 1)]]
        elif parameter.type == "quantity":
            keys.append([(f"{field}.v", 1)])
        elif parameter.type == "special":
            keys.append(near.index_key(field))
        elif parameter.type == "composite":
            keys.append(composite.index_key(field))
        else:
            keys.append([(field, 1)])
    return keys
