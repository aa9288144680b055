"""Indexes for the collections of DESIGN.md §2; created at start-up, idempotently."""

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

# Search-index fields served by an index now; the search issue extends this list.
INDEXED_SEARCH_FIELDS = (
    [("search.identifier.c", ASCENDING), ("search.identifier.s", ASCENDING)],
    [("search.identifier.s", ASCENDING)],
)


async def ensure_indexes(db: AsyncDatabase, resource_types: list[str]) -> None:
    for resource_type in resource_types:
        await db[resource_type].create_indexes(
            [IndexModel([("lastUpdated", DESCENDING), ("_id", DESCENDING)])]
            + [IndexModel(keys) for keys in INDEXED_SEARCH_FIELDS]
        )
        await db[f"{resource_type}_history"].create_indexes(
            [
                IndexModel([("id", ASCENDING), ("vid", DESCENDING)], unique=True),
                IndexModel([("lastUpdated", DESCENDING), ("_id", DESCENDING)]),
            ]
        )
