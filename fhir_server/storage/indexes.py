"""Indexes for the collections of DESIGN.md §2; created at start-up, idempotently."""

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

IndexPlan = dict[str, list[list[tuple[str, int]]]]  # resource type → search index keys


async def ensure_indexes(db: AsyncDatabase, plan: IndexPlan) -> None:
    for resource_type, search_keys in plan.items():
        await db[resource_type].create_indexes(
            [IndexModel([("lastUpdated", DESCENDING), ("_id", DESCENDING)])]
            + [IndexModel(keys) for keys in search_keys]
        )
        await db[f"{resource_type}_history"].create_indexes(
            [
                IndexModel([("id", ASCENDING), ("vid", DESCENDING)], unique=True),
                IndexModel([("lastUpdated", DESCENDING), ("_id", DESCENDING)]),
            ]
        )
