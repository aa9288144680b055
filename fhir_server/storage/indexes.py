"""Indexes for the collections of DESIGN.md §2; reconciled at start-up: missing ones are
built, ones no longer in the plan (e.g. after a SearchParameter change) are dropped."""

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

IndexPlan = dict[str, list[list[tuple[str, int]]]]  # resource type → search index keys
# Searches only ever see current, live versions, so search indexes leave deleted ones out:
# smaller, and a count can be answered from the index alone.
_LIVE = {"deleted": False}


def _name(keys: list[tuple[str, int]]) -> str:
    return "live_" + "_".join(f"{field}_{direction}" for field, direction in keys)


async def _reconcile(collection: AsyncCollection, models: list[IndexModel]) -> None:
    wanted = {model.document["name"] for model in models}
    async for index in await collection.list_indexes():
        if index["name"] != "_id_" and index["name"] not in wanted:
            await collection.drop_index(index["name"])
    await collection.create_indexes(models)


async def ensure_indexes(db: AsyncDatabase, plan: IndexPlan) -> None:
    for resource_type, search_keys in plan.items():
        keys = [[("lastUpdated", DESCENDING), ("_id", DESCENDING)], *search_keys]
        await _reconcile(
            db[resource_type],
            [IndexModel(k, name=_name(k), partialFilterExpression=_LIVE) for k in keys],
        )
        history = [
            [("id", ASCENDING), ("vid", DESCENDING)],
            [("lastUpdated", DESCENDING), ("_id", DESCENDING)],
        ]
        await _reconcile(
            db[f"{resource_type}_history"],
            [
                IndexModel(k, name=_name(k).removeprefix("live_"), unique=k == history[0])
                for k in history
            ],
        )
