"""search-type and compartment search (http://hl7.org/fhir/R4/search.html): compile the
criteria, page with keyset cursors, add `_include`/`_revinclude`d resources, count, subset."""

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, partial

from fhir_server.auth.scopes import ALL, Permissions
from fhir_server.conformance.registry import READ_ONLY_TYPES, is_supported, resource_types
from fhir_server.conformance.search_parameters import (
    COMPARTMENT_TYPES,
    compartment_members,
    reference_parameters,
    search_parameters,
)
from fhir_server.errors import BadRequest, NotFound
from fhir_server.search import paging
from fhir_server.search.compiler import Compiler
from fhir_server.search.index import compartment_filter
from fhir_server.search.request import ANY_SOURCE, Include, SearchRequest, parse_request
from fhir_server.search.types.reference import (
    canonical_targets,
    canonical_urls,
    is_canonical_resource,
    referring_to_canonicals,
)
from fhir_server.services.access import require_search
from fhir_server.services.bundle_assembly import page_links, searchset_bundle
from fhir_server.services.cursors import CursorCodec
from fhir_server.services.include_access import readable
from fhir_server.services.include_reads import (
    Found,
    OnPage,
    Reads,
    Room,
    Targets,
    reference_entries,
    referenced,
)
from fhir_server.services.scope_searches import scope_filter
from fhir_server.services.search_warnings import versioned_chains, warned, warning_entry
from fhir_server.services.stale_entries import never_stale, stale_entries_read
from fhir_server.services.subsetting import subset
from fhir_server.services.versions import Version
from fhir_server.storage.resources import ResourceStore

# FHIR_MAX_RESPONSE_BYTES unless set: twenty clients that never read a page of large
# resources held 1.8 GB at 64 MiB a page.
MOST_RESPONSE_BYTES = 32 * 2**20
# `_total=estimate` gives up counting after this long.
ESTIMATE_MILLISECONDS = 1000


async def _no_types() -> list[str]:
    return []


@dataclass(frozen=True)
class ResponseLimits:
    """How much one searchset page may hold, so that a page (and eight at once) stays within
    bounded memory: FHIR_MAX_RESPONSE_RESOURCES (matches and included resources together),
    FHIR_MAX_INCLUDE_ITERATIONS (rounds of `:iterate` after the first) and
    FHIR_MAX_RESPONSE_BYTES (the stored size of all its resources)."""

    max_resources: int = 2000
    include_iterations: int = 3
    max_bytes: int = MOST_RESPONSE_BYTES

    def left_out(self, matches: int) -> str:
        """Why a page's included resources were cut short, and how to get them all: a
        smaller `_count` leaves more room for the includes of each match, but not for
        those of one match alone, which only a search of their type pages through."""
        fewer = "ask for a smaller _count, or " if matches > 1 else ""
        return (f"Included resources were left out: a page holds at most "
                f"{self.max_resources} resources, of {self.max_bytes} bytes together; "
                f"{fewer}page through them by a search of their type "
                "(Observation?performer=Practitioner/1 for Practitioner?_id=1"
                "&_revinclude=Observation:performer; _has for an _include)")


@dataclass
class SearchService:
    store: ResourceStore
    cursors: CursorCodec
    default_count: int
    max_count: int
    base: str  # this server's base URL: for links, and references written absolutely
    permissions: Permissions = ALL  # the caller's: no included or chained type beyond them
    limits: ResponseLimits = field(default_factory=ResponseLimits)
    # The types with stored resources (for `_revinclude=*`).
    stored_types: Callable[[], Awaitable[list[str]]] = _no_types
    # Whether a type may still hold search entries of an earlier release (being re-indexed).
    stale_index: Callable[[str], Awaitable[bool]] = never_stale

    async def search(
        self,
        resource_type: str,
        params: list[tuple[str, str]],
        strict: bool,
        compartment: str | None = None,
        scope_queries: tuple[str, ...] = (),
    ) -> dict:
        """A searchset page; `compartment` (e.g. `Patient/123`) narrows it to one, and
        `scope_queries` (of granular scopes, `access.scope_queries`) to what one of them
        matches."""
        request = parse_request(resource_type, params, self.max_count)
        query, used = await self.compiled(request, strict, compartment, scope_queries)
        path = resource_type if compartment is None else f"{compartment}/{resource_type}"
        total = await self._total(request, resource_type, query)
        kept = used + request.result_parameters() + request.presentation
        # What the cursors of this search's pages belong to: its rows, in its order.
        # Written as stdlib json writes it: a `next` link that an earlier release handed out
        # pages on after an upgrade only if its cursor's context is the same text.
        search_context = json.dumps([path, sorted(used),
                                     [[key.code, key.descending] for key in request.sort]])
        reindexing = await stale_entries_read(request, used, compartment,
                                              self.stale_index)
        if request.counts_only:
            return warned(searchset_bundle(self.base, [], page_links(self.base, path, kept, None),
                                           total), reindexing)
        count = self.default_count if request.count is None else request.count
        fields = paging.sort_fields(request.sort)
        page_query, backward = query, False
        if request.cursor:
            resumed, backward = self._resume(request.cursor, fields, search_context)
            page_query = {"$and": [query, resumed]}
        # A `previous` page is read backwards from the first row of the page after it.
        order = paging.reversed_order(fields) if backward else fields
        reading = page_projection(reference_codes_of(request.includes),
                                  [f for f, _ in fields])
        documents, size, cut = await self.store.find_within(
            resource_type, page_query, count + 1, self.limits.max_bytes, reading, order
        )
        more = cut or len(documents) > count
        matches = documents[:count][::-1] if backward else documents[:count]
        next_cursor = previous_cursor = None
        if matches and (more or backward):
            next_cursor = self.cursors.encode({"k": paging.position(matches[-1], fields)},
                                              search_context)
        if matches and (more if backward else request.cursor):
            previous_cursor = self.cursors.encode(
                {"k": paging.position(matches[0], fields), "b": 1}, search_context)
        if total is None and request.total is None and not request.cursor and not next_cursor:
            total = len(matches)
        links = page_links(self.base, path, kept, next_cursor, request.cursor, previous_cursor)
        found = [(resource_type, d) for d in matches]
        return warned(await self.page({resource_type: request}, found, size, links, total),
                      reindexing, versioned_chains(resource_type, used, found))

    async def page(self, requests: dict[str, SearchRequest], matches: Sequence[Found],
                   size: int, links: list[dict], total: int | None) -> dict:
        """The searchset of `matches` (of `size` bytes), each shaped by its type's request,
        and the resources those requests include, in the room the matches leave; then a
        warning entry for each reason some were left out."""
        withheld: list[str] = []  # types of included resources the token may not read
        room = Room(0, self.limits.max_bytes - size)
        included: list[Found] = []
        left_out: dict[str, None] = {}  # why some were, once each
        for kind, request in requests.items():
            room.resources = max(0, self.limits.max_resources - len(matches) - len(included))
            found, reason = await self.included(
                request, [(k, d) for k, d in matches if k == kind], room, withheld)
            included += found
            left_out.update({reason: None} if reason else {})
        bundle = searchset_bundle(
            self.base,
            # _summary and _elements shape the matches only.
            [(shaped(requests[kind], Version.from_record(kind, d)), "match")
             for kind, d in matches]
            + [(Version.from_record(kind, d), "include") for kind, d in included],
            links,
            total,
        )
        warnings = [warning_entry(reason) for reason in left_out]
        if withheld:
            # Said, not counted: how many would tell of resources the token may not see.
            warnings.append(warning_entry(self.withheld(withheld), "suppressed"))
        if warnings:
            bundle.setdefault("entry", []).extend(warnings)
        return bundle

    async def compiled(self, request: SearchRequest, strict: bool,
                       compartment: str | None = None, scope_queries: tuple[str, ...] = ()
                       ) -> tuple[dict, list[tuple[str, str]]]:
        """The search's MongoDB filter, and the criteria it used (what its `self` link
        shows and its cursors are bound to)."""
        kind = request.resource_type
        compiler = Compiler(
            self.store.project, self.base, partial(require_search, self.permissions)
        )
        query, used = await compiler.compile(kind, request.criteria, strict)
        if compartment is not None:
            query = {"$and": [query, _in_compartment(compartment, kind, self.base)]}
        if scope_queries:
            query = {"$and": [query, await scope_filter(self.store, self.base, kind,
                                                        scope_queries)]}
        return query, used

    def withheld(self, withheld: list[str]) -> str:
        """Why included resources are left out: types the token may not read (whole), or
        those its `patient/` scopes let it read in its patient's compartment only, by
        search or read, never as includes."""
        kinds = sorted(set(withheld))
        own = [kind for kind in kinds if self.permissions.patient_allows(kind, "r")]
        said = []
        if others := [kind for kind in kinds if kind not in own]:
            said.append("Included resources the token's scopes do not allow reading "
                        f"({', '.join(others)}: the types, or some of them) are left out, if "
                        "there are any")
        if own:
            said.append(f"Included {', '.join(own)} resources are left out, if there are "
                        "any: the token's patient/ scopes grant reading its patient's "
                        "compartment by read and search, not through _include or _revinclude")
        return "; ".join(said)

    def _resume(self, cursor: str, fields: list[tuple[str, int]], context: str
                ) -> tuple[dict, bool]:
        """The filter of the rows after the cursor's position, or (a `previous` link's
        cursor) before it; and whether it is before."""
        position = self.cursors.decode(cursor, context)
        backward = position.get("b") == 1
        try:
            order = paging.reversed_order(fields) if backward else fields
            return paging.after(order, position["k"]), backward
        except (KeyError, TypeError, ValueError):
            raise BadRequest(
                "The paging cursor does not belong to this search", expression="_cursor"
            ) from None

    async def _total(self, request: SearchRequest, kind: str, query: dict) -> int | None:
        """`_total` (http://hl7.org/fhir/R4/search.html#total): `accurate`, `_summary=count`
        and `_count=0` count; `estimate` counts unless that takes too long. Without `_total`,
        only a single-page result (where it is free) gets a total, see `search`."""
        if request.total == "accurate" or request.counts_only:
            return await self.store.count(kind, query)
        if request.total != "estimate":
            return None
        try:
            return await self.store.count(kind, query, max_time_ms=ESTIMATE_MILLISECONDS)
        except TimeoutError:
            return None

    async def included(
        self, request: SearchRequest, matches: list[Found], room: Room, withheld: list[str]
    ) -> tuple[list[Found], str | None]:
        """`_include` and `_revinclude`, and their `:iterate` forms on what they brought in
        (http://hl7.org/fhir/R4/search.html#include): what fits in `room`, and why some
        were left out, if they were; the types the token may not read, in `withheld`."""
        # Said whether or not any is found: said only then, it would tell that resources
        # the token may not read refer to the matches.
        withheld += [rule.source_type for rule in request.revincludes
                     if rule.source_type != ANY_SOURCE
                     and not self.permissions.allows(rule.source_type, "r")]
        if any(rule.source_type == ANY_SOURCE for rule in request.revincludes):
            withheld += [kind for kind in await self.stored_types()  # what `*` reads in part
                         if kind not in READ_ONLY_TYPES and not self.permissions.allows(kind, "r")
                         and (self.permissions.queries_anywhere(kind, "r")
                              or self.permissions.patient_allows(kind, "r"))]
        seen = OnPage()
        for kind, document in matches:
            seen.add(kind, document)
        included: list[Found] = []
        frontier = matches
        rounds = 1 + self.limits.include_iterations
        for round_number in range(rounds):
            rules = [
                r for r in request.includes + request.revincludes if r.iterate or round_number == 0
            ]
            if not rules or not frontier:
                return included, None
            # What the next round follows from these: their references, for _include:iterate.
            follows = [r for r in request.includes if r.iterate and round_number + 1 < rounds]
            reads = Reads(room.resources - len(included) + 1, room,
                          page_projection(reference_codes_of(follows), []))
            found: list[Found] = []
            for rule in request.includes:
                if rule in rules:
                    found += await self._forward(rule, frontier, reads, seen)
            for rule in request.revincludes:
                if rule in rules:
                    found += await self._reverse(rule, frontier, reads)
            frontier = []
            for kind, document in await readable(self.store, self.base, self.permissions,
                                                 found, withheld):
                if seen.add(kind, document):
                    frontier.append((kind, document))
            if len(included) + len(frontier) > room.resources or reads.capped:
                included += frontier[: room.resources - len(included)]
                return included, self.limits.left_out(len(matches))
            included += frontier
        if frontier and any(r.iterate for r in request.includes + request.revincludes):
            return included, (
                f"_include:iterate and _revinclude:iterate were followed "
                f"{self.limits.include_iterations} times; resources further away may be "
                "left out"
            )
        return included, None

    async def _forward(self, rule: Include, frontier: list[Found], reads: Reads,
                       seen: OnPage) -> list[Found]:
        """What the frontier's references name (in the version a version-specific one
        names), but what the page holds: it would use up the round's reads (and the page
        seemed full with room left)."""
        wanted: dict[str, Targets] = {}
        canonicals: dict[str, set[str]] = {}  # target type → the canonical URLs naming it
        for kind, document in frontier:
            if rule.source_type not in (ANY_SOURCE, kind):
                continue
            for code in _reference_codes(rule, kind):
                entries = reference_entries(kind, document, code)
                for target, target_id, vid in referenced(kind, document, code, entries,
                                                         self.base):
                    if (is_supported(target) and rule.target_type in (None, target)
                            and not seen.holds(target, target_id, vid)):
                        wanted.setdefault(target, Targets()).add(target_id, vid)
                # A canonical reference (`Measure.library`) names its target by `url`.
                if urls := canonical_urls(entries, self.base):
                    for target in _canonical_targets(rule, kind, code):
                        canonicals.setdefault(target, set()).update(urls)
        found: list[Found] = []
        for target, named in wanted.items():
            found += [(target, d) for d in await reads.targets(self.store, target, named)]
        for target, urls in canonicals.items():
            query = canonical_targets(urls)
            found += [(target, d) for d in await reads.find(self.store, target, query)]
        return found

    async def _reverse(self, rule: Include, frontier: list[Found], reads: Reads) -> list[Found]:
        if rule.source_type != ANY_SOURCE:
            return await self._referring(rule, frontier, reads)
        # `_revinclude=*`: each stored type the token may read (`readable` keeps what granular
        # scopes' searches match), but the audit trail (each read of a patient refers to it).
        found = []
        for kind in await self.stored_types():
            if kind not in READ_ONLY_TYPES and (self.permissions.allows(kind, "r")
                                                or self.permissions.queries_anywhere(kind, "r")):
                found += await self._referring(replace(rule, source_type=kind), frontier, reads)
        return found

    async def _referring(self, rule: Include, frontier: list[Found], reads: Reads
                         ) -> list[Found]:
        """The resources of `rule.source_type` referring to the frontier by its parameter
        (`*`: any reference parameter of that type)."""
        targets = [f"{kind}/{d.id}" for kind, d in frontier if rule.target_type in (None, kind)]
        targets += [f"{self.base.rstrip('/')}/{target}" for target in targets]
        # Resources referred to by canonical URL are also referred to by `url|version`.
        canonicals = [
            (url, version if isinstance(version := resource.get("version"), str) else None)
            for kind, d in frontier
            if rule.target_type in (None, kind) and is_canonical_resource(kind)
            and isinstance(url := (resource := d.resource or {}).get("url"), str)
        ]
        clauses = [{f"search.{code}": {"$in": targets}} for code in _reference_codes(rule)]
        if canonicals:
            clauses += [referring_to_canonicals(f"search.{code}", canonicals)
                        for code in _reference_codes(rule)]
        if not targets or not clauses:  # `Practitioner:*`: a type with no reference parameter
            return []
        documents = await reads.find(self.store, rule.source_type, {"$or": clauses})
        return [(rule.source_type, d) for d in documents]


def shaped(request: SearchRequest, version: Version) -> Version:
    """A match as the search's `_summary` and `_elements` show it."""
    unshaped = request.summary in (None, "false") and request.elements is None
    if unshaped or version.resource is None:  # a deletion: nothing to shape
        return version
    resource = subset(version.resource, request.summary, request.elements)
    return Version(version.resource_type, version.id, version.vid, version.last_updated,
                   resource)


def page_projection(search_codes: set[str], sort_fields: list[str]) -> dict:
    """The projection of what a page shows (the resource and its version) and what it goes
    on with: the search entries of the references an `_include` follows, the sort keys a
    cursor records. Decoding the rest (all search entries, sort keys) would cost more than
    everything else a large page does."""
    return {
        "vid": 1,
        "lastUpdated": 1,
        "deleted": 1,
        "resource": 1,
        **{f"search.{code}": 1 for code in search_codes},
        **{field: 1 for field in sort_fields if field.startswith("sort.")},
    }


def _canonical_targets(rule: Include, source: str, code: str) -> list[str]:
    """The types a reference parameter of `source` may refer to by canonical URL."""
    return sorted(
        target
        for target in search_parameters(source)[code].targets
        if rule.target_type in (None, target)
        and is_supported(target)
        and is_canonical_resource(target)
    )


def reference_codes_of(rules: list[Include]) -> set[str]:
    return {code for rule in rules for code in _reference_codes(rule)}


def _reference_codes(rule: Include, kind: str | None = None
                     ) -> list[str] | tuple[str, ...] | frozenset[str]:
    """The reference parameters a rule follows out of resources of `kind`; with no kind,
    out of any resource it applies to."""
    if rule.code != "*":
        return [rule.code]
    source = kind if rule.source_type == ANY_SOURCE and kind else rule.source_type
    return _any_reference_codes() if source == ANY_SOURCE else reference_parameters(source)


@cache
def _any_reference_codes() -> frozenset[str]:
    """The reference parameters of every type (what `_include:iterate=*` may follow)."""
    return frozenset(code for resource_type in resource_types()
                     for code in reference_parameters(resource_type))


def _in_compartment(compartment: str, resource_type: str, base: str) -> dict:
    """Compartment search `Patient/123/Encounter`, `Encounter/7/Observation`, ...
    (http://hl7.org/fhir/R4/compartmentdefinition.html), one type at a time (`Patient/123/*`
    searches each type through services/system_search.py)."""
    kind = compartment.partition("/")[0]
    if kind not in COMPARTMENT_TYPES:
        raise NotFound(
            f"'{kind}' is not a compartment type; those are {', '.join(COMPARTMENT_TYPES)}"
        )
    if resource_type not in compartment_members(kind):
        raise BadRequest(f"{resource_type} resources are not in the {kind} compartment")
    return compartment_filter(kind, [compartment.partition("/")[2]], base)
