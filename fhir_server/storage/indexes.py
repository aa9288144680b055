"""Indexes for the collections of DESIGN.md §2; reconciled when a type is first written and
at start-up for the types already stored: missing ones are built, ones no longer in the plan
(e.g. after a SearchParameter change) are dropped."""

from collections.abc import Callable

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

IndexKeys = list[tuple[str, int | str]]
# A search index: its keys, or its keys and the filter of the documents it holds where
# that is narrower than the live ones (an index of what few documents have).
SearchIndex = IndexKeys | tuple[IndexKeys, dict]
# resource type → its search indexes; None for a name that is no resource type.
IndexPlan = Callable[[str], list[SearchIndex] | None]
# Searches only ever see current, live versions, so search indexes leave deleted ones out:
# smaller, and a count can be answered from the index alone.
_LIVE = {"deleted": False}


def _name(keys: IndexKeys) -> str:
    return "live_" + "_".join(f"{field}_{direction}" for field, direction in keys)


async def _reconcile(collection: AsyncCollection, models: list[IndexModel]) -> None:
    wanted = {model.document["name"] for model in models}
    async for index in await collection.list_indexes():
        if index["name"] != "_id_" and index["name"] not in wanted:
            await collection.drop_index(index["name"])
    await collection.create_indexes(models)


def _search_model(index: SearchIndex) -> IndexModel:
    keys, held = index if isinstance(index, tuple) else (index, _LIVE)
    return IndexModel(keys, name=_name(keys), partialFilterExpression=held)


async def ensure_indexes(
    db: AsyncDatabase, resource_type: str, search_indexes: list[SearchIndex],
    history: bool = True
) -> None:
    """The collections of one resource type (made if missing) with exactly their indexes; the
    history collection only for a type that keeps history."""
    by_time: IndexKeys = [("lastUpdated", DESCENDING), ("_id", DESCENDING)]
    await _reconcile(db[resource_type],
                     [_search_model(index) for index in (by_time, *search_indexes)])
    if not history:
        return
    versions: list[IndexKeys] = [
        [("id", ASCENDING), ("vid", DESCENDING)],
        [("lastUpdated", DESCENDING), ("_id", DESCENDING)],
    ]
    await _reconcile(
        db[f"{resource_type}_history"],
        [
            IndexModel(k, name=_name(k).removeprefix("live_"), unique=k == versions[0])
            for k in versions
        ],
    )
