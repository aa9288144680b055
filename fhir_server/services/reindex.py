"""`$reindex`: recompute the stored search index of resources whose entries came from other
definitions or extraction code (see `index_version`). Resumable: it only ever picks up
resources still stale, walking ids in order, so an interrupted run just runs again."""

from fhir_server.conformance.registry import RESOURCE_TYPES
from fhir_server.search.index import build_search_index, index_version
from fhir_server.storage.database import Database

BATCH = 500


async def reindex(database: Database, resource_types: list[str] | None = None) -> dict[str, int]:
    """Resources re-indexed per type."""
    store = database.store()
    version = index_version()
    counts = {}
    for kind in resource_types or RESOURCE_TYPES:
        counts[kind] = 0
        after = ""
        while True:
            stale = {"indexVersion": {"$ne": version}, "_id": {"$gt": after}}
            documents = await store.find(kind, stale, BATCH, projection=["vid", "resource"])
            if not documents:
                break
            for document in documents:
                fields = build_search_index(kind, document["resource"])
                # Matched on vid: a version written meanwhile carries a fresh index already.
                counts[kind] += await store.set_fields(
                    kind, document["_id"], document["vid"], fields
                )
            after = documents[-1]["_id"]
    return counts
