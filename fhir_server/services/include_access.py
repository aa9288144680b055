"""What a token may read of the resources a search page includes
(http://hl7.org/fhir/R4/search.html#include): never more than a read or vread of each would
show (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters).
A version-specific reference (`Patient/1/_history/2`) names an older version: a vread of it
needs the resource's current version (or its last, once deleted) to match the token's
granular scopes, then that version as it was; so does its include, or a reference would hand
over, in full, a record since moved out of the scopes' reach (a category corrected, a
patient's name changed), which a vread refuses."""

from fhir_server.auth.scopes import Permissions
from fhir_server.errors import Forbidden
from fhir_server.services.access import Reach
from fhir_server.services.scope_searches import matching_versions, scope_filter
from fhir_server.services.versions import Version
from fhir_server.services.within_reach import ids_within_reach
from fhir_server.storage.named_versions import StoredVersion
from fhir_server.storage.records import CurrentVersion, HistoryVersion
from fhir_server.storage.resources import ResourceStore


async def readable(store: ResourceStore, base: str, permissions: Permissions,
                   found: list[tuple[str, StoredVersion]], withheld: list[str]
                   ) -> list[tuple[str, StoredVersion]]:
    """What a token may read of resources `found` for a search page (never leak what it may
    not): those of a type its scopes allow whole, or that a search of its granular scopes
    matches, as a read or vread would judge them (`patient/` scopes grant no includes, nor
    the granular scopes they keep to the patient's compartment); the types of the rest go
    in `withheld`."""
    allowed: dict[str, set[tuple[str, int]]] = {}  # type allowed in part → (id, vid) allowed
    for kind in {kind for kind, _ in found if not permissions.allows(kind, "r")}:
        allowed[kind] = set()
        if queries := permissions.queries_anywhere(kind, "r"):
            try:
                scope_query = await scope_filter(store, base, kind, queries)
            except Forbidden:  # no search of theirs can run on the type
                continue
            of_kind = [record for k, record in found if k == kind]
            allowed[kind] = await _matched(store, base, kind, of_kind, scope_query)
    kept = []
    for kind, record in found:
        if kind in allowed and (record.id, record.vid) not in allowed[kind]:
            withheld.append(kind)
        else:
            kept.append((kind, record))
    return kept


async def _matched(store: ResourceStore, base: str, kind: str, records: list[StoredVersion],
                   scope_query: dict) -> set[tuple[str, int]]:
    """(id, vid) of the versions a scope's search matches: current ones by their stored
    index; older ones as they were, of resources whose current version (or last, once
    deleted) it matches as well, as a vread judges them."""
    ids = sorted({record.id for record in records if isinstance(record, CurrentVersion)})
    matched = set()
    if ids:
        query = {"$and": [{"_id": {"$in": ids}}, scope_query]}
        matched = {(d.id, d.vid) for d in await store.find(kind, query, len(ids),
                                                           projection=["_id", "vid"])}
    older = [record for record in records if isinstance(record, HistoryVersion)]
    if older:
        within = await ids_within_reach(store, base, Reach(), scope_query, kind,
                                        sorted({record.id for record in older}))
        older = [record for record in older if record.id in within]
    passed = await matching_versions(
        store, [Version.from_history(kind, record) for record in older], scope_query)
    return matched | {(record.id, record.vid)
                      for record, match in zip(older, passed, strict=True) if match}
