"""Who a transaction's entries are (http://hl7.org/fhir/R4/http.html#trules): the `Type/id`
each create and conditional write is given before the transaction runs, so that references
to their fullUrls can be rewritten, and the check that each entry then wrote what it was
given."""

import heapq
import json
import re
from collections import Counter
from urllib.parse import parse_qsl, unquote

from fhir_server.conformance.messages import refusal
from fhir_server.conformance.reference_targets import named_resource
from fhir_server.errors import BadRequest, Conflict, FhirError
from fhir_server.services import interactions
from fhir_server.services.bundle_entries import Entry, in_entry
from fhir_server.services.conditional_criteria import acquire_guards, criteria_key, find_matches
from fhir_server.services.interactions import WriteResult
from fhir_server.services.references import (
    full_url_key,
    linked_query,
    reference_base,
    version_specific_targets,
)
from fhir_server.services.versions import new_id
from fhir_server.storage.resources import ResourceStore

# What may name a resource: an id (datatypes.html#id), a UUID, an OID's digits.
_NAME = re.compile(r"[a-z0-9\-.]{1,64}")


def check_identity(entry: Entry, result: WriteResult | None, assigned: dict[str, str],
                   written: dict[str, Entry], mentions: "Mentions") -> None:
    """What an entry wrote is what the transaction's references to it were given, and no
    other entry names it too, whether or not either changed it: "If any resource identities
    (including resolved identities from conditional update/delete) overlap in steps 1-3,
    then the transaction SHALL fail" (http://hl7.org/fhir/R4/http.html#trules), identities
    resolved only now (a conditional create's match, a conditional patch or delete) too.
    Only creates may meet: a conditional create that finds what another create finds or
    makes asks for no resource of its own (the server "ignores the post" that matched,
    http.html#ccreate). A conditional create that finds what another create made is
    refused only when something of the transaction (`mentions`) names it by its fullUrl:
    that was given another id."""
    if result is None:
        return
    target = f"{entry.resource_type}/{result.version.id}"
    expected = assigned.get(full_url_key(entry.full_url or ""), target)
    if expected != target and mentions.name(entry.full_url or "", expected):
        raise refusal(Conflict, "entry.resolved-elsewhere", None, where=entry.location,
                      target=target, expected=expected)
    other = written.setdefault(target, entry)
    if other is not entry and not entry.method == other.method == "POST":
        raise refusal(BadRequest, "entry.same-resource", entry.location, where=entry.location,
                      target=target, other=other.location)


class Mentions:
    """The names (ids, URN values) that the resources, conditions and searches of a
    transaction's entries hold anywhere (a reference, a uri, the narrative), read once, when
    first asked: a mismatch per entry of 5,000 would otherwise read them all each time.
    Each entry either still names an entry by its fullUrl or already by the `Type/id` given
    to it, so a reading at any point of the run finds either."""

    def __init__(self, entries: list[Entry]):
        self._entries = entries
        self._names: frozenset[str] | None = None

    def name(self, full_url: str, given: str) -> bool:
        """Whether anything names the entry of `full_url`, given the `Type/id` `given`."""
        if self._names is None:
            text = json.dumps([[entry.resource, *map(unquote, filter(None, (
                entry.query, entry.if_none_exist, entry.resolved_criteria)))]
                for entry in self._entries], ensure_ascii=False)
            self._names = frozenset(_NAME.findall(text.lower()))
        local = named_resource(full_url)  # a RESTful fullUrl's `Type/id`
        own = local[1] if local else full_url.rpartition(":")[2]  # a URN's value
        return not self._names.isdisjoint({own.lower(), given.rpartition("/")[2].lower()})


async def assign_ids(store: ResourceStore, entries: list[Entry]) -> dict[str, str]:
    """fullUrl → `Type/id` for every entry that creates or updates a resource, the entries
    without a condition first. A condition (ifNoneExist, a conditional URL) that names another
    entry by its fullUrl is given that entry's `Type/id` first (http.html#trules: "all matching
    links"), whatever the entries' order, so a transaction sent twice matches what it made the
    first time. Conditional creates with the same condition and no stored match make one
    resource: the first makes it, the others match it, so all their fullUrls are given its
    id."""
    assigned: dict[str, str] = {}
    deleted = await _deleted_first(store, entries)
    for entry in entries:
        if entry.method == "POST" and not entry.if_none_exist:
            entry.assigned_id = new_id()
            _assign(assigned, entry, entry.assigned_id)
        elif entry.method == "PUT" and entry.resource_id:
            _assign(assigned, entry, entry.resource_id)
    conditional_creates: dict[tuple[str, frozenset], str] = {}
    for entry in _named_ones_first(entries):
        try:
            if entry.method == "POST":
                await _conditional_create_target(store, entry, assigned, deleted,
                                                 conditional_creates)
            else:
                await _conditional_update_target(store, entry, assigned, deleted)
        except FhirError as error:  # criteria of an unknown parameter, not UTF-8, ...
            raise in_entry(entry, error) from None
    for entry in entries:  # conditional PATCH and DELETE, and searches
        if entry.query is not None:
            try:
                entry.query = linked_query(entry.query, assigned)
            except FhirError as error:
                raise in_entry(entry, error) from None
    return assigned


def _named_ones_first(entries: list[Entry]) -> list[Entry]:
    """The conditional creates and updates, in the order given, but each after the others
    whose fullUrl its condition names; entries that name each other round a cycle come
    together, in the order given. Linear in the entries and the names (a topological order
    of the cycles): 2,000 entries each naming the next held the event loop for a minute
    when each step looked at all of them."""
    pending = [entry for entry in entries if _condition(entry) is not None]
    by_url = {full_url_key(entry.full_url): index for index, entry in enumerate(pending)
              if entry.full_url}
    names = [sorted({by_url[url] for url in _full_urls_named(entry) if url in by_url} - {index})
             for index, entry in enumerate(pending)]
    cycles = _cycles(names)  # every entry in one: most alone
    cycle_of = {index: number for number, cycle in enumerate(cycles) for index in cycle}
    waiting = [0] * len(cycles)  # the other cycles a cycle names that are still to come
    dependents: list[set[int]] = [set() for _ in cycles]
    for index, named in enumerate(names):
        for other in (cycle_of[other] for other in named):
            if other != cycle_of[index] and cycle_of[index] not in dependents[other]:
                dependents[other].add(cycle_of[index])
                waiting[cycle_of[index]] += 1
    ready = [(min(cycle), number) for number, cycle in enumerate(cycles) if not waiting[number]]
    heapq.heapify(ready)
    ordered: list[Entry] = []
    while ready:
        _, number = heapq.heappop(ready)
        ordered += [pending[index] for index in sorted(cycles[number])]
        for dependent in dependents[number]:
            waiting[dependent] -= 1
            if not waiting[dependent]:
                heapq.heappush(ready, (min(cycles[dependent]), dependent))
    return ordered


def _cycles(names: list[list[int]]) -> list[list[int]]:
    """The strongly connected components of the graph of names (Tarjan's algorithm, with a
    stack of its own: a chain of 5,000 would exceed Python's recursion limit)."""
    order = [-1] * len(names)
    low = [0] * len(names)
    on_stack = [False] * len(names)
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in range(len(names)):
        if order[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                order[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            if child < len(names[node]):
                work.append((node, child + 1))
                other = names[node][child]
                if order[other] == -1:
                    work.append((other, 0))
                elif on_stack[other]:
                    low[node] = min(low[node], order[other])
                continue
            if work:  # back in the node that named this one
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == order[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found


def _condition(entry: Entry) -> str | None:
    if entry.method == "POST":
        return entry.if_none_exist or None
    return entry.criteria if entry.method == "PUT" and not entry.resource_id else None


def _full_urls_named(entry: Entry) -> set[str]:
    # Read leniently: the entry's own processing refuses criteria that are not UTF-8.
    return {full_url_key(part) for _, value in parse_qsl(_condition(entry) or "")
            for part in value.split(",")}


async def _conditional_create_target(store: ResourceStore, entry: Entry,
                                     assigned: dict[str, str], deleted: frozenset[str],
                                     conditional_creates: dict[tuple[str, frozenset], str],
                                     ) -> None:
    assert entry.if_none_exist is not None  # _named_ones_first: conditional writes
    entry.if_none_exist = linked_query(entry.if_none_exist, assigned)
    target_id = entry.assigned_id = new_id()
    # The same condition however spelled: the second would find what the first makes, a
    # resource other than the one its fullUrl was given (409).
    condition = (entry.resource_type, criteria_key(entry.resource_type, entry.if_none_exist))
    matches = await find_matches(store, entry.resource_type, entry.if_none_exist,
                                 excluding=deleted)
    if len(matches) == 1:
        target_id = matches[0].id
    elif not matches:
        target_id = conditional_creates.setdefault(condition, target_id)
    _assign(assigned, entry, target_id)


async def _conditional_update_target(store: ResourceStore, entry: Entry,
                                     assigned: dict[str, str], deleted: frozenset[str]) -> None:
    resource = entry.resource
    assert isinstance(resource, dict), "parse_entry refuses a PUT without a resource"
    criteria = linked_query(entry.criteria, assigned)
    # As a conditional update outside a transaction: concurrent ones with the same
    # criteria serialise here, so that only one of them creates.
    await acquire_guards(store, entry.resource_type, criteria)
    target_id = await interactions.conditional_update_target(
        store, entry.resource_type, criteria, resource.get("id"), excluding=deleted)
    entry.creates_new = target_id is None
    target_id = entry.resource_id = target_id or new_id()
    resource["id"] = target_id
    entry.query, entry.resolved_criteria = None, criteria
    _assign(assigned, entry, target_id)


async def _deleted_first(store: ResourceStore, entries: list[Entry]) -> frozenset[str]:
    """`Type/id` of what the transaction's DELETEs remove. They run before its creates and
    updates (http.html#trules), so the conditions of those must not match them: delete a
    resource and create its replacement with `ifNoneExist` on the same identifier."""
    deleted: dict[str, Entry] = {}
    for entry in entries:
        if entry.method != "DELETE":
            continue
        target = None
        if entry.resource_id:
            target = f"{entry.resource_type}/{entry.resource_id}"
        else:
            try:
                matches = await find_matches(store, entry.resource_type,
                                                          entry.criteria)
            except FhirError as error:
                raise in_entry(entry, error) from None
            if len(matches) == 1:  # several: the DELETE itself is refused (412)
                target = f"{entry.resource_type}/{matches[0].id}"
        if target in deleted:
            # "If any resource identities (including resolved identities from conditional
            # update/delete) overlap in steps 1-3, then the transaction SHALL fail."
            raise refusal(BadRequest, "entry.deleted-twice", entry.location,
                          where=entry.location, target=target, other=deleted[target].location)
        if target is not None:
            deleted[target] = entry
    await _patched_once(store, entries, deleted)
    return frozenset(deleted)


async def _patched_once(store: ResourceStore, entries: list[Entry],
                        deleted: dict[str, Entry]) -> None:
    """400 for a PATCH of what a DELETE removes, of what an update by id writes, or of what
    another PATCH patches: one resource twice. Run after the other, the PATCH failed instead
    as of nothing there (404 "No Patient matches": the update had changed what its criteria
    match, or 410), or for what the other had changed (422). Looked up only where two such
    entries may meet: a type deleted, updated by id or patched twice."""
    patches = [entry for entry in entries if entry.method == "PATCH"]
    updated = {f"{entry.resource_type}/{entry.resource_id}": entry for entry in entries
               if entry.method == "PUT" and entry.resource_id}
    kinds = Counter(entry.resource_type for entry in patches)
    kinds.update(target.partition("/")[0] for target in (*deleted, *updated))
    named = {**updated, **deleted}
    for entry in patches:
        if kinds[entry.resource_type] < 2 or (target := await _patched(store, entry)) is None:
            continue
        if target in named:
            raise refusal(BadRequest, "entry.same-resource", entry.location,
                          where=entry.location, target=target, other=named[target].location)
        named[target] = entry


async def _patched(store: ResourceStore, entry: Entry) -> str | None:
    """`Type/id` of what a PATCH entry patches, if one resource (else it fails alone)."""
    if entry.resource_id:
        return f"{entry.resource_type}/{entry.resource_id}"
    try:
        matches = await find_matches(store, entry.resource_type, entry.criteria)
    except FhirError:
        return None
    return f"{entry.resource_type}/{matches[0].id}" if len(matches) == 1 else None


def _assign(assigned: dict[str, str], entry: Entry, target_id: str) -> None:
    if entry.full_url:
        assigned[full_url_key(entry.full_url)] = f"{entry.resource_type}/{target_id}"


async def written_versions(store: ResourceStore, entries: list[Entry],
                           assigned: dict[str, str], base: str) -> dict[str, int]:
    """`Type/id` → the version the transaction leaves of each entry that a version-specific
    reference names (`urn:uuid:.../_history/7`): such references are "re-assigned"
    (http.html#trules), so they name the version written. Read before any entry is written;
    nothing is read when no reference is version-specific."""
    wanted = version_specific_targets(
        [(entry.resource, reference_base(entry.full_url, base)) for entry in entries], assigned)
    versions = {}
    for entry in entries:
        target = assigned.get(full_url_key(entry.full_url or ""))
        if target not in wanted or entry.method not in ("POST", "PUT"):
            continue
        if entry.method == "POST" and not entry.if_none_exist:
            versions[target] = 1  # a new id
            continue
        kind, _, resource_id = target.partition("/")
        current = await store.current(kind, resource_id)
        if entry.method == "POST":  # a conditional create: what it matched, or new
            versions[target] = current.vid if current and not current.deleted else 1
        else:
            versions[target] = current.vid + 1 if current else 1
            entry.new_version = True  # even if it changes nothing
    return versions
