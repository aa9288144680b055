"""`$reindex`: recompute the stored search index of resources whose entries came from other
definitions or extraction code (see `index_version`). Resumable: it only ever picks up
resources still stale, walking ids in order, so an interrupted run just runs again."""

import logging

from fhir_server.errors import PayloadTooLarge
from fhir_server.search.index import build_search_index, index_version
from fhir_server.storage.database import Database
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import ResourceStore

BATCH = 500
log = logging.getLogger(__name__)


async def reindex_if_stale(database: Database) -> dict[str, int]:
    """`reindex` of every type, unless a full pass already ran under the current
    definitions: start-up then costs one lookup instead of a scan of every collection."""
    if await database.flag(_complete_flag()):
        return {}
    return await reindex(database)


def _complete_flag() -> str:
    return f"search_index_complete:{index_version()}"


async def reindex(database: Database, resource_types: list[str] | None = None) -> dict[str, int]:
    """Resources re-indexed per type."""
    store = database.store()
    version = index_version()
    counts = {}
    for kind in resource_types or await database.stored_types():
        counts[kind] = 0
        after = ""
        while True:
            stale = {"indexVersion": {"$ne": version}, "_id": {"$gt": after}}
            documents = await store.find(kind, stale, BATCH, projection=["vid", "resource"])
            if not documents:
                break
            for current in documents:
                counts[kind] += await _reindexed(store, kind, current)
            after = documents[-1].id
    if resource_types is None:
        # Every version written from now on is indexed under these definitions.
        await database.set_flag(_complete_flag())
    return counts


async def _reindexed(store: ResourceStore, kind: str, current: CurrentVersion) -> int:
    """1 if the version's entries were rebuilt. One whose new entries make it too large to
    store (over MongoDB's 16 MiB) keeps its old ones: it must not end the pass, which would
    stop at it again at every start."""
    assert current.resource is not None, "find() reads versions not deleted"
    fields = build_search_index(kind, current.resource)
    try:
        # Matched on vid: a version written meanwhile carries a fresh index already.
        return await store.set_fields(kind, current.id, current.vid, fields)
    except PayloadTooLarge:
        log.warning("%s/%s keeps its search entries: its new ones are over MongoDB's 16 MiB "
                    "document limit", kind, current.id)
        return 0
