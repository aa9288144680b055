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
from fhir_server.search.request import RESULT_PARAMETERS
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
        types = _types(params, stored, permissions, members)
        unknown = _unknown(params, types, strict)
        params = [(n, v) for n, v in params if n not in unknown]
        criteria = [(n, v) for n, v in params
                    if n not in ("_type", "_cursor", "_count", "_total")]
        count = _count(params, self.default_count, self.max_count)
        if count == 0 or ("_summary", "count") in params:
            shown = [(n, v) for n, v in params if n not in ("_cursor",)]  # for the self link
            return await self._totals(types, criteria, shown)
        if len(types) > 1 and any(name == "_sort" for name, _ in criteria):
            return await self._in_one_order(types, criteria, params, count)
        position = self._position(params)
        entries: list[dict] = []
        matched, totals = 0, []
        index, type_cursor = position
        next_position: tuple[int, str | None] | None = None
        while index < len(types) and matched < count:
            kind = types[index]
            page = await self.search_type(kind, [
                *_for_type(criteria, kind), ("_count", str(max(1, count - matched))),
                *((("_cursor", type_cursor),) if type_cursor else ())])
            found = page.get("entry", [])
            entries += found
            matched += sum(1 for e in found if e.get("search", {}).get("mode") == "match")
            totals.append(page.get("total"))
            following = _next_cursor(page)
            if following is not None:
                next_position = (index, following)
                break
            index, type_cursor = index + 1, None
            if matched >= count:
                next_position = await self._first_with_matches(types, index, criteria)
                break
        kept = [(n, v) for n, v in params if n not in ("_cursor",)]
        cursor = self.cursors.encode({"s": list(next_position)}) if next_position else None
        current = next((v for n, v in params if n == "_cursor"), None)
        total = None
        if ("_total", "accurate") in params:
            total = (await self._totals(types, criteria))["total"]
        elif position == (0, None) and next_position is None and None not in totals:
            total = sum(t for t in totals if t is not None)  # one page: all there is
        links = page_links(self.base, self._path, kept, cursor, current)
        return bundle_of("searchset", _each_once(entries), links, total)

    async def _in_one_order(self, types: list[str], criteria: list[tuple[str, str]],
                            params: list[tuple[str, str]], count: int) -> dict:
        """A page of the matches of all `types` in their `_sort` order."""
        current = next((v for n, v in params if n == "_cursor"), None)
        # What its cursors belong to: its rows, in their order.
        context = json.dumps([self._path, types, sorted(criteria)])
        position = None if current is None else self.cursors.decode(current, context).get("g")
        if current is not None and not (isinstance(position, list) and position
                                        and isinstance(position[-1], str)):
            raise BadRequest("The paging cursor does not belong to this search",
                             expression="_cursor")
        page, following = await self.search_across(
            {kind: _for_type(criteria, kind) for kind in types}, count, position)
        entries = page.get("entry", [])
        total = None
        if ("_total", "accurate") in params:
            total = (await self._totals(types, criteria))["total"]
        elif current is None and following is None:  # one page: all there is
            total = sum(1 for e in entries if e.get("search", {}).get("mode") == "match")
        cursor = None if following is None else self.cursors.encode({"g": following}, context)
        links = page_links(self.base, self._path, [(n, v) for n, v in params if n != "_cursor"],
                           cursor, current)
        return bundle_of("searchset", _each_once(entries), links, total)

    @property
    def _path(self) -> str:
        return f"{self.compartment}/*" if self.compartment else ""

    async def _first_with_matches(self, types: list[str], index: int,
                                  criteria: list[tuple[str, str]]) -> tuple[int, None] | None:
        """Where the next page starts: the next type with a match (no empty last page)."""
        for later in range(index, len(types)):
            probe = await self.search_type(types[later], [
                *_for_type(criteria, types[later]), ("_count", "1"), ("_total", "none")])
            if probe.get("entry"):
                return later, None
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

    def _position(self, params: list[tuple[str, str]]) -> tuple[int, str | None]:
        cursor = next((v for n, v in params if n == "_cursor"), None)
        if cursor is None:
            return 0, None
        try:
            index, type_cursor = self.cursors.decode(cursor)["s"]
            if isinstance(index, int) and isinstance(type_cursor, str | None):
                return index, type_cursor
        except (KeyError, TypeError, ValueError):
            pass
        raise BadRequest("The paging cursor does not belong to this search",
                         expression="_cursor")


def _types(params: list[tuple[str, str]], stored: list[str], permissions: Permissions,
           members: frozenset[str] | None) -> list[str]:
    named = [t.strip() for n, v in params if n == "_type" for t in v.split(",") if t.strip()]
    if not named:
        return [t for t in stored if t not in READ_ONLY_TYPES and permissions.allows(t, "s")]
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
        if name in _OWN_PARAMETERS or code.startswith("_has") or code in _OWN_PARAMETERS:
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
