"""search-type and compartment search (http://hl7.org/fhir/R4/search.html): compile the
criteria, page with keyset cursors, add `_include`/`_revinclude`d resources, count, subset."""

from dataclasses import dataclass
from functools import partial

from fhir_server.auth.scopes import ALL, Permissions
from fhir_server.conformance.registry import is_supported
from fhir_server.conformance.search_parameters import (
    COMPARTMENT_TYPES,
    compartment_parameters,
    search_parameters,
)
from fhir_server.errors import BadRequest, NotFound
from fhir_server.search import paging
from fhir_server.search.compiler import Compiler
from fhir_server.search.request import Include, SearchRequest, parse_request
from fhir_server.search.types.reference import local_references
from fhir_server.services.access import require_search
from fhir_server.services.bundle_assembly import page_links, searchset_bundle
from fhir_server.services.cursors import CursorCodec
from fhir_server.services.subsetting import subset
from fhir_server.services.versions import Version
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import ResourceStore

# Included resources per page at most, so one page cannot pull in a whole database.
MAX_INCLUDED = 1000
_INCLUDE_ROUNDS = 4
# `_total=estimate` gives up counting after this long.
ESTIMATE_MILLISECONDS = 1000

Found = tuple[str, CurrentVersion]
_DERIVED_FIELDS = ("missing", "compartments", "indexVersion")  # resource type, stored document


@dataclass
class SearchService:
    store: ResourceStore
    cursors: CursorCodec
    default_count: int
    max_count: int
    base: str  # this server's base URL: for links, and references written absolutely
    permissions: Permissions = ALL  # the caller's: no included or chained type beyond them

    async def search(
        self,
        resource_type: str,
        params: list[tuple[str, str]],
        strict: bool,
        compartment: str | None = None,
    ) -> dict:
        """A searchset page; `compartment` (e.g. `Patient/123`) narrows it to one."""
        request = parse_request(resource_type, params, self.max_count)
        compiler = Compiler(
            self.store.project, self.base, partial(require_search, self.permissions)
        )
        query, used = await compiler.compile(resource_type, request.criteria, strict)
        path = resource_type
        if compartment is not None:
            query = {"$and": [query, _in_compartment(compartment, resource_type)]}
            path = f"{compartment}/{resource_type}"
        total = await self._total(request, resource_type, query)
        kept = used + request.result_parameters()
        if request.summary == "count":
            return searchset_bundle(self.base, [], page_links(self.base, path, kept, None), total)
        count = self.default_count if request.count is None else request.count
        fields = paging.sort_fields(request.sort)
        page_query = query
        if request.cursor:
            page_query = {"$and": [query, self._resume(request.cursor, fields)]}
        # Search entries are large; only _include and _revinclude:iterate read them.
        unread = {field: 0 for field in _DERIVED_FIELDS}
        if not request.includes and not request.revincludes:
            unread["search"] = 0
        documents = await self.store.find(
            resource_type, page_query, count + 1, projection=unread, sort=fields
        )
        matches = documents[:count]
        next_cursor = None
        if len(documents) > count and matches:
            next_cursor = self.cursors.encode({"k": paging.position(matches[-1], fields)})
        if total is None and request.total is None and not request.cursor and not next_cursor:
            total = len(matches)
        included = await self._included(request, [(resource_type, d) for d in matches])
        links = page_links(self.base, path, kept, next_cursor)
        return searchset_bundle(
            self.base,
            [self._entry(request, resource_type, d, "match") for d in matches]
            + [self._entry(request, kind, d, "include") for kind, d in included],
            links,
            total,
        )

    def _resume(self, cursor: str, fields: list[tuple[str, int]]) -> dict:
        position = self.cursors.decode(cursor)
        try:
            return paging.after(fields, position["k"])
        except (KeyError, TypeError, ValueError):
            raise BadRequest(
                "The paging cursor does not belong to this search", expression="_cursor"
            ) from None

    async def _total(self, request: SearchRequest, kind: str, query: dict) -> int | None:
        """`_total` (http://hl7.org/fhir/R4/search.html#total): `accurate` and `_summary=count`
        count; `estimate` counts unless that takes too long. Without `_total`, only a
        single-page result (where it is free) gets a total, see `search`."""
        if request.total == "accurate" or request.summary == "count":
            return await self.store.count(kind, query)
        if request.total != "estimate":
            return None
        try:
            return await self.store.count(kind, query, max_time_ms=ESTIMATE_MILLISECONDS)
        except TimeoutError:
            return None

    def _entry(
        self, request: SearchRequest, kind: str, document: CurrentVersion, mode: str
    ) -> tuple[Version, str]:
        version = Version.from_current(kind, document)
        unshaped = request.summary in (None, "false") and request.elements is None
        if mode == "include" or unshaped:  # _summary and _elements shape the matches only
            return version, mode
        if version.resource is None:  # a deletion: nothing to shape (searches find none)
            return version, mode
        resource = subset(version.resource, request.summary, request.elements)
        return Version(kind, version.id, version.vid, version.last_updated, resource), mode

    async def _included(self, request: SearchRequest, matches: list[Found]) -> list[Found]:
        """`_include` and `_revinclude`, and their `:iterate` forms on what they brought in
        (http://hl7.org/fhir/R4/search.html#include)."""
        seen = {(kind, d.id) for kind, d in matches}
        included: list[Found] = []
        frontier = matches
        for round_number in range(_INCLUDE_ROUNDS):
            rules = [
                r for r in request.includes + request.revincludes if r.iterate or round_number == 0
            ]
            if not rules or not frontier:
                break
            found: list[Found] = []
            for rule in request.includes:
                if rule in rules:
                    found += await self._forward(rule, frontier)
            for rule in request.revincludes:
                if rule in rules:
                    found += await self._reverse(rule, frontier)
            frontier = []
            for kind, document in found:
                if not self.permissions.allows(kind, "r"):
                    continue  # never leak a type the token may not read through an include
                if (kind, document.id) not in seen and len(included) < MAX_INCLUDED:
                    seen.add((kind, document.id))
                    frontier.append((kind, document))
            included += frontier
        return included

    async def _forward(self, rule: Include, frontier: list[Found]) -> list[Found]:
        codes = _reference_codes(rule)
        wanted: dict[str, set[str]] = {}
        for kind, document in frontier:
            if kind != rule.source_type:
                continue
            for code in codes:
                for target, target_id in local_references(document.search.get(code, []), self.base):
                    if is_supported(target) and rule.target_type in (None, target):
                        wanted.setdefault(target, set()).add(target_id)
        found = []
        for target, ids in wanted.items():
            documents = await self.store.find(target, {"_id": {"$in": sorted(ids)}}, MAX_INCLUDED)
            found += [(target, d) for d in documents]
        return found

    async def _reverse(self, rule: Include, frontier: list[Found]) -> list[Found]:
        targets = [f"{kind}/{d.id}" for kind, d in frontier if rule.target_type in (None, kind)]
        targets += [f"{self.base.rstrip('/')}/{target}" for target in targets]
        if not targets:
            return []
        clauses = [{f"search.{code}": {"$in": targets}} for code in _reference_codes(rule)]
        documents = await self.store.find(rule.source_type, {"$or": clauses}, MAX_INCLUDED)
        return [(rule.source_type, d) for d in documents]


def _reference_codes(rule: Include) -> list[str]:
    if rule.code != "*":
        return [rule.code]
    return [
        code
        for code, parameter in search_parameters(rule.source_type).items()
        if parameter.type == "reference"
    ]


def _in_compartment(compartment: str, resource_type: str) -> dict:
    """Compartment search `Patient/123/Encounter`, `Encounter/7/Observation`, ...
    (http://hl7.org/fhir/R4/compartmentdefinition.html); `Patient/123/*` is every type."""
    kind = compartment.partition("/")[0]
    if kind not in COMPARTMENT_TYPES:
        raise NotFound(
            f"'{kind}' is not a compartment type; those are {', '.join(COMPARTMENT_TYPES)}"
        )
    if resource_type != kind and resource_type not in compartment_parameters(kind):
        raise BadRequest(f"{resource_type} resources are not in the {kind} compartment")
    return {"compartments": compartment}
