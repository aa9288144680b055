"""search-system (http://hl7.org/fhir/R4/search.html#searchcontexts, http.html#search):
`GET [base]?_type=Patient,Practitioner&name=an`, `POST [base]/_search`; and the search of
every type of a compartment, `GET Patient/123/*` (compartmentdefinition.html).

The types are those `_type` names (each must be searchable with the token's scopes), else
every stored type the token may search but the audit trail. Each type is searched as
search-type searches it, with the includes that apply to that type. With `_sort`, the
matches of all types come in that one order (services/sorted_search.py); without, the page
holds the matches of one type after another, and the cursor names the type reached and that
type's own cursor. A filtering parameter must be defined for every type searched: left out
for some, it would give all of that type.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.primitives import is_digits
from fhir_server.conformance.registry import READ_ONLY_TYPES, is_supported
from fhir_server.conformance.search_parameters import (
    COMPARTMENT_TYPES,
    compartment_members,
    reference_parameters,
    search_parameters,
    searches_by,
)
from fhir_server.errors import BadRequest, Forbidden, NotFound
from fhir_server.search.request import (
    NOT_RUN,
    RESULT_PARAMETERS,
    TOTAL_MODES,
    check_include_rules,
    r4_form,
)
from fhir_server.services.bundle_assembly import bundle_of, page_links
from fhir_server.services.cursors import CursorCodec

# search-type of one type: (type, parameters) → its searchset Bundle.
SearchType = Callable[[str, list[tuple[str, str]]], Awaitable[dict]]
# A search of several types in one `_sort` order (`sorted_search.search_across`): (each
# type's parameters, count, position) → its page (no links, no total) and the next position.
SearchAcross = Callable[[dict[str, list[tuple[str, str]]], int, list | None],
                        Awaitable[tuple[dict, list | None]]]
# Parameters every type has beside its own (Resource's), and those of the search itself.
_OWN_PARAMETERS = RESULT_PARAMETERS | {"_type"}


@dataclass
class SystemSearch:
    search_type: SearchType
    search_across: SearchAcross
    cursors: CursorCodec
    default_count: int
    max_count: int
    base: str
    compartment: str | None = None  # `Patient/123`: `Patient/123/*`, its types only

    async def search(self, params: list[tuple[str, str]], stored: list[str],
                     permissions: Permissions, strict: bool) -> dict:
        members = None
        if self.compartment is not None:
            kind = self.compartment.partition("/")[0]
            if kind not in COMPARTMENT_TYPES:
                raise NotFound(f"'{kind}' is not a compartment type; those are "
                               f"{', '.join(COMPARTMENT_TYPES)}")
            members = compartment_members(kind)
            stored = [t for t in stored if t in members]
        params = [r4_form(name, value) for name, value in params]
        types = _types(params, stored, permissions, members)
        unknown = _unknown(params, types, strict)
        params = [(n, v) for n, v in params if n not in unknown]
        for name, value in params:
            if name.startswith(("_include", "_revinclude")):
                check_include_rules(name, value)
        criteria = [(n, v) for n, v in params
                    if n not in ("_type", "_cursor", "_count", "_total")]
        count = _count(params, self.default_count, self.max_count)
        if count == 0 or ("_summary", "count") in params:
            shown = [(n, v) for n, v in params if n not in ("_cursor",)]  # for the self link
            return await self._totals(types, criteria, shown)
        page = _Page(params, criteria, count, _total_mode(params),
                     # What its cursors belong to: the search, whatever types it finds
                     # stored and the token may search at each page.
                     json.dumps([self._path, [v for n, v in params if n == "_type"],
                                 sorted(criteria)]))
        if len(types) > 1 and any(name == "_sort" for name, _ in criteria):
            return await self._in_one_order(types, page)
        return await self._by_type(types, page)

    async def _by_type(self, types: list[str], page: "_Page") -> dict:
        """A page of the matches of one type after another's."""
        entries: list[dict] = []
        matched, totals = 0, []
        index, type_cursor = self._position(page, types)
        next_position: tuple[str, str | None] | None = None
        while index < len(types) and matched < page.count:
            kind = types[index]
            found_page = await self.search_type(kind, [
                *_for_type(page.criteria, kind), ("_count", str(max(1, page.count - matched))),
                *((("_cursor", type_cursor),) if type_cursor else ())])
            found = found_page.get("entry", [])
            entries += found
            matched += sum(1 for e in found if e.get("search", {}).get("mode") == "match")
            totals.append(found_page.get("total"))
            following = _next_cursor(found_page)
            if following is not None:
                next_position = (kind, following)
                break
            index, type_cursor = index + 1, None
            if matched >= page.count:
                next_position = await self._first_with_matches(types, index, page.criteria)
                break
        cursor = None
        if next_position is not None:
            cursor = self.cursors.encode({"s": list(next_position)}, page.context)
        counted = None if None in totals else sum(t for t in totals if t is not None)
        total = await self._total(types, page, next_position is None, counted)
        return bundle_of("searchset", _each_once(entries), self._links(page, cursor), total)

    async def _in_one_order(self, types: list[str], page: "_Page") -> dict:
        """A page of the matches of all `types` in their `_sort` order."""
        position = None
        if page.current is not None:
            position = self.cursors.decode(page.current, page.context).get("g")
            if not (isinstance(position, list) and position and isinstance(position[-1], str)):
                raise _foreign_cursor()
        found, following = await self.search_across(
            {kind: _for_type(page.criteria, kind) for kind in types}, page.count, position)
        entries = found.get("entry", [])
        matched = sum(1 for e in entries if e.get("search", {}).get("mode") == "match")
        total = await self._total(types, page, following is None, matched)
        cursor = None if following is None else self.cursors.encode({"g": following},
                                                                     page.context)
        return bundle_of("searchset", _each_once(entries), self._links(page, cursor), total)

    async def _total(self, types: list[str], page: "_Page", last: bool,
                     counted: int | None) -> int | None:
        """`_total` as a search of one type takes it: `estimate` and `accurate` count, `none`
        gives none; without it, a first page that is also the `last` holds all there is
        (`counted`)."""
        if page.total_mode not in (None, "none"):
            return (await self._totals(types, page.criteria))["total"]
        if page.total_mode is None and page.current is None and last:
            return counted
        return None

    def _links(self, page: "_Page", cursor: str | None) -> list[dict]:
        # `_count` once, the page size used (`_count=5000` is the ceiling), as a search of
        # one type states it.
        shown = [(n, v) for n, v in page.params if n not in ("_cursor", "_count")]
        if any(n == "_count" for n, _ in page.params):
            shown.append(("_count", str(page.count)))
        return page_links(self.base, self._path, shown, cursor, page.current)

    @property
    def _path(self) -> str:
        return f"{self.compartment}/*" if self.compartment else ""

    async def _first_with_matches(self, types: list[str], index: int,
                                  criteria: list[tuple[str, str]]) -> tuple[str, None] | None:
        """Where the next page starts: the next type with a match (no empty last page)."""
        for kind in types[index:]:
            probe = await self.search_type(kind, [
                *_for_type(criteria, kind), ("_count", "1"), ("_total", "none")])
            if probe.get("entry"):
                return kind, None
        return None

    async def _totals(self, types: list[str], criteria: list[tuple[str, str]],
                      shown: list[tuple[str, str]] | None = None) -> dict:
        """`_summary=count` or `_count=0`: the matches of every type, counted; `shown`, the
        parameters the self link lists (`_type` among them)."""
        total = 0
        for kind in types:
            page = await self.search_type(kind, [*_for_type(criteria, kind),
                                                 ("_summary", "count")])
            total += page.get("total", 0)
        return bundle_of("searchset", [], page_links(self.base, self._path,
                                                     criteria if shown is None else shown,
                                                     None), total)

    def _position(self, page: "_Page", types: list[str]) -> tuple[int, str | None]:
        """Where a page starts: the type its cursor names (or, gone from the types found
        now, the next one: the types without `_type` are sorted) and that type's cursor."""
        if page.current is None:
            return 0, None
        try:
            kind, type_cursor = self.cursors.decode(page.current, page.context)["s"]
            if isinstance(kind, str) and isinstance(type_cursor, str | None):
                if kind in types:
                    return types.index(kind), type_cursor
                return next((i for i, t in enumerate(types) if t > kind), len(types)), None
        except (KeyError, TypeError, ValueError):
            pass
        raise _foreign_cursor()


@dataclass(frozen=True)
class _Page:
    """What a page of a system search is asked for."""
    params: list[tuple[str, str]]
    criteria: list[tuple[str, str]]  # what each type is searched by
    count: int
    total_mode: str | None  # `_total`
    context: str  # what its cursors are bound to

    @property
    def current(self) -> str | None:
        return next((v for n, v in self.params if n == "_cursor"), None)


def _foreign_cursor() -> BadRequest:
    return BadRequest("The paging cursor does not belong to this search", expression="_cursor")


def _total_mode(params: list[tuple[str, str]]) -> str | None:
    """`_total`, the last one given (as in a search of one type)."""
    modes = [v for n, v in params if n == "_total"]
    if modes and modes[-1] not in TOTAL_MODES:
        raise BadRequest(f"_total must be one of {', '.join(TOTAL_MODES)}, not "
                         f"'{modes[-1]}'", expression="_total")
    return modes[-1] if modes else None


def _types(params: list[tuple[str, str]], stored: list[str], permissions: Permissions,
           members: frozenset[str] | None) -> list[str]:
    named = [t.strip() for n, v in params if n == "_type" for t in v.split(",") if t.strip()]
    if not named:
        searchable = [t for t in stored if t not in READ_ONLY_TYPES]
        allowed = [t for t in searchable if permissions.allows(t, "s")]
        if searchable and not allowed and members is None:
            # An empty answer would say that nothing is stored.
            raise Forbidden("The token's scopes do not allow searching any type across the "
                            "system (patient/ and granular scopes grant searches of a type: "
                            "search it, or its compartment)")
        return allowed
    unknown = [t for t in named if not is_supported(t)]
    if unknown:
        raise BadRequest(f"_type names {', '.join(unknown)}: not a resource type this server "
                         "stores", expression="_type")
    outside = [t for t in named if members and t not in members]
    if outside:
        raise BadRequest(f"_type names {', '.join(outside)}, whose resources are not in the "
                         "compartment searched", expression="_type")
    refused = [t for t in named if not permissions.allows(t, "s")]
    if refused:
        raise Forbidden(f"The token's scopes do not allow searching {', '.join(refused)}")
    return sorted(set(named), key=named.index)


def _unknown(params: list[tuple[str, str]], types: list[str], strict: bool) -> set[str]:
    """The parameters no searched type has, which a lenient search ignores as a search of
    one type does (a strict one refuses them). One that some types have and others lack is
    400 either way: ignored, it would answer every resource of the types that lack it."""
    unknown = set()
    for name, _ in params:
        code = name.split(":")[0].split(".")[0]
        if (name in _OWN_PARAMETERS or code.startswith("_has") or code in _OWN_PARAMETERS
                or code in NOT_RUN):  # each type's search refuses these (but _contained=false)
            continue
        lacking = [t for t in types if not searches_by(t, code)]
        if not lacking:
            continue
        if len(lacking) == len(types) and not strict:
            unknown.add(name)
            continue
        raise BadRequest(
            f"{code} is not a search parameter of {', '.join(lacking[:5])}: searching "
            "several types takes only parameters every one of them has (name the types "
            "with _type)", expression=name)
    return unknown


def _for_type(criteria: list[tuple[str, str]], kind: str) -> list[tuple[str, str]]:
    """The criteria, with only the `_include`s whose source is `kind` (others name another
    type's references) and the `_revinclude`s that can point at `kind`."""
    kept = []
    for name, value in criteria:
        if name == "_include":
            value = ",".join(v for v in value.split(",") if v.split(":")[0] in (kind, "*"))
        elif name == "_revinclude":
            value = ",".join(v for v in value.split(",") if _targets(v, kind))
        if value or name not in ("_include", "_revinclude"):
            kept.append((name, value))
    return kept


def _targets(revinclude: str, kind: str) -> bool:
    """Whether `_revinclude=Source:code[:Target]` (or `Source:*`, or `*`) can find resources
    that refer to one of `kind`."""
    if revinclude == "*":
        return True
    source, _, rest = revinclude.partition(":")
    code, _, target = rest.partition(":")
    parameters = search_parameters(source)
    codes = reference_parameters(source) if code == "*" and is_supported(source) else (code,)
    return target in ("", kind) and any(
        code in parameters and kind in parameters[code].targets for code in codes)


def _each_once(entries: list[dict]) -> list[dict]:
    """The entries of the types searched, each version of a resource once (bdl-7: one
    fullUrl, different versionIds): an include of a version that one type matched or
    another type included already is left out."""
    matched = {_version_key(e) for e in entries if e.get("search", {}).get("mode") == "match"}
    kept, seen = [], set()
    for entry in entries:
        key = _version_key(entry)
        included = entry.get("search", {}).get("mode") != "match"
        if key[0] is not None and included and (key in seen or key in matched):
            continue
        seen.add(key)
        kept.append(entry)
    return kept


def _version_key(entry: dict) -> tuple[str | None, str | None]:
    """An entry's fullUrl and its resource's versionId (an older version may be included
    beside the current one, `_include` of a version-specific reference)."""
    meta = (entry.get("resource") or {}).get("meta") or {}
    return entry.get("fullUrl"), meta.get("versionId")


def _count(params: list[tuple[str, str]], default: int, largest: int) -> int:
    counts = [v for n, v in params if n == "_count"]
    if not counts:
        return default
    if not is_digits(counts[-1]):
        raise BadRequest(f"_count must be a non-negative integer, not '{counts[-1]}'",
                         expression="_count")
    return min(int(counts[-1]), largest)


def _next_cursor(bundle: dict) -> str | None:
    for link in bundle.get("link", []):
        if link.get("relation") == "next":
            return dict(parse_qsl(urlsplit(link["url"]).query)).get("_cursor")
    return None
