"""Versions of resources named by version-specific references (`Patient/1/_history/2`),
read together with the current versions of others of the same type: `_include` provides
the version a reference names (http://hl7.org/fhir/R4/search.html#versions).

One aggregate per type, as one `find` reads current versions: the current documents of
the ids, and of the named versions that are current, then (`$unionWith`) the history
documents of the named versions that are not. A named version that is current is a stub
in history (its resource is in the current document, README "Storage layout"), so each
version comes from one branch only. Deletions, and versions that never were, are not read.
"""

from fhir_server.storage import pages_in_flight
from fhir_server.storage.coalesced_finds import (
    Find,
    Page,
    keep_all,
    raw_collection,
    within_command_limit,
)
from fhir_server.storage.records import CurrentVersion, HistoryVersion
from fhir_server.storage.resources import ResourceStore
from fhir_server.storage.single_versions import SINGLE_VERSION_TYPES

# MongoDB holds no larger integer: no version has a greater number.
_LARGEST_VID = 2**63 - 1

StoredVersion = CurrentVersion | HistoryVersion


async def find_named_within(
    store: ResourceStore,
    resource_type: str,
    ids: list[str],
    versions: list[tuple[str, int]],
    limit: int,
    projection: dict,
    max_bytes: int | None = None,
    within: dict | None = None,
) -> tuple[list[StoredVersion], int, bool]:
    """As `ResourceStore.find_within` (without `max_bytes`, as `find`), the current
    versions of `ids` and the (id, vid) `versions`: each a `CurrentVersion` (read with
    `projection`) if it is the current one, else a `HistoryVersion`; their size, and
    whether some were left unread for it. A current version must match the filter
    `within`; older ones, whose index is not stored, are the caller's to judge."""
    versions = [(resource_id, vid) for resource_id, vid in versions if 0 < vid <= _LARGEST_VID]
    current: list[dict] = [{"_id": {"$in": ids}}] if ids else []
    current += [{"_id": resource_id, "vid": vid} for resource_id, vid in versions]
    if not current:
        return [], 0, False
    await store.flush()
    keeps = keep_all if max_bytes is None else pages_in_flight.PageBudget(max_bytes).keeps
    match = {"$or": current, "deleted": False}
    find = Find(resource_type, {"$and": [match, within]} if within else match, projection,
                [("_id", 1)], limit, keeps)
    pipeline: list[dict] = [{"$match": find.filter}, {"$sort": dict(find.sort)},
                            {"$project": projection}]
    if versions and resource_type not in SINGLE_VERSION_TYPES:  # those have no history
        past = [{"id": resource_id, "vid": vid} for resource_id, vid in versions]
        pipeline.append({"$unionWith": {"coll": f"{resource_type}_history", "pipeline": [
            {"$match": {"$or": past, "deleted": False, "resource": {"$exists": True}}},
            {"$sort": {"id": 1, "vid": 1}}]}})
    page = await _read(store, find, [*pipeline, {"$limit": limit}])
    documents = await page.decoded(store.db.codec_options)
    await store.chains.restore(documents)
    # A history document names its resource by `id`; a current one by `_id` only.
    return ([HistoryVersion.from_document(d) if "id" in d else CurrentVersion.from_document(d)
             for d in documents], page.size, page.cut)


async def _read(store: ResourceStore, find: Find, pipeline: list[dict]) -> Page:
    collection = raw_collection(store.db, find.collection)
    page = Page()
    with within_command_limit():
        cursor = await collection.aggregate(pipeline, session=store.session)
        try:
            async for document in cursor:
                if not page.take(find, document):
                    break
        finally:
            await cursor.close()
    return page

