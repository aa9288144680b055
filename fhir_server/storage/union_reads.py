"""One page of the matches of several types in one order: a search of several types sorted
by `_sort` (search-system, `Patient/123/*`), which orders all its matches as one list, as a
server storing every type in one table would (HAPI, Firely). One `aggregate` of a
`$unionWith` per type: each branch reads at most a page of its type in that order (by its
indexes), tagged with its type, and MongoDB sorts the branches' rows together, by the sort
keys, then `_id`, then the type, as keyset paging needs a total order. In a transaction,
where MongoDB runs no `$unionWith`, each type's page is read by a `find` of its own and the
pages are merged here in MongoDB's order (`_bson_order`)."""

import heapq
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cmp_to_key, partial

from bson.raw_bson import RawBSONDocument

from fhir_server.storage import pages_in_flight, query_time
from fhir_server.storage.coalesced_finds import (
    Find,
    Page,
    find_stages,
    raw_collection,
    read_page,
    within_command_limit,
)
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import ResourceStore

TYPE_FIELD = "_type"  # each row's type, added by its branch


@dataclass
class UnionPage:
    rows: list[tuple[str, CurrentVersion]]  # (type, version), in the page's order
    size: int  # bytes of BSON
    cut: bool  # ended by the byte budget, with rows left unread


async def find_across(store: ResourceStore, branches: list[tuple[str, dict]], limit: int,
                      max_bytes: int, projection: dict, sort: list[tuple[str, int]]
                      ) -> UnionPage:
    """The current, non-deleted versions matching each type's filter (`branches`: type,
    filter), at most `limit` in all and `max_bytes` together (the first whatever its size),
    in `sort` order across the types."""
    await store.flush()
    budget = pages_in_flight.PageBudget(max_bytes)
    store.clock.left()  # 400 once the time is spent
    finds = [Find(kind, {**query, "deleted": False}, projection, sort, limit,
                  ends=store.clock.ends) for kind, query in branches]
    page, kinds = Page(), []
    read = _union(store, finds) if store.session is None else _merged(store, finds)
    with within_command_limit(), store.clock.within():
        async for kind, document in read:
            if not budget.keeps(len(document.raw), not page.documents):
                page.cut = True
                break
            page.add(document)
            kinds.append(kind)
    documents = await page.decoded(store.db.codec_options)
    await store.chains.restore(documents)
    rows = [(kind, CurrentVersion.from_document(document))
            for kind, document in zip(kinds, documents, strict=True)]
    return UnionPage(rows, page.size, page.cut)


async def _union(store: ResourceStore, finds: list[Find]
                 ) -> AsyncIterator[tuple[str, RawBSONDocument]]:
    stages = [[*find_stages(find), {"$addFields": {TYPE_FIELD: find.collection}}]
              for find in finds]
    pipeline = [*stages[0]]
    for find, branch in zip(finds[1:], stages[1:], strict=True):
        pipeline.append({"$unionWith": {"coll": find.collection, "pipeline": branch}})
    pipeline += [{"$sort": {**dict(finds[0].sort), TYPE_FIELD: 1}},
                 {"$limit": finds[0].limit}]
    cursor = await raw_collection(store.db, finds[0].collection).aggregate(
        pipeline, **query_time.options(query_time.left_of(finds[0].ends)))
    try:
        async for document in cursor:
            yield document[TYPE_FIELD], document
    finally:
        await cursor.close()


async def _merged(store: ResourceStore, finds: list[Find]
                  ) -> AsyncIterator[tuple[str, RawBSONDocument]]:
    pages = [[(find.collection, document) for document in
              (await read_page(store.db, find, store.session)).documents] for find in finds]
    order = cmp_to_key(partial(_compare, finds[0].sort))
    merged = heapq.merge(*pages, key=order)
    for row in list(merged)[:finds[0].limit]:
        yield row


def _compare(sort: Sequence[tuple[str, int]], first: tuple[str, Mapping],
             second: tuple[str, Mapping]) -> int:
    """The order of two rows (type, document) by `sort`, then type, as MongoDB sorts them."""
    for field, direction in [*sort, (TYPE_FIELD, 1)]:
        left, right = (_field(row, field) for row in (first, second))
        if (left_key := _bson_order(left)) != (right_key := _bson_order(right)):
            return direction * (-1 if left_key < right_key else 1)
    return 0


def _field(row: tuple[str, Mapping], path: str) -> object:
    if path == TYPE_FIELD:
        return row[0]
    value: object = row[1]
    for step in path.split("."):
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def _bson_order(value: object) -> tuple[int, object]:
    """MongoDB's order of the values a sort key holds: null (or missing), then numbers,
    strings (by code point, as UTF-8 bytes compare), booleans and dates
    (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/)."""
    if value is None:
        return 0, 0
    if isinstance(value, bool):
        return 4, value
    if isinstance(value, int | float):
        return 1, value
    if isinstance(value, str):
        return 2, value
    if isinstance(value, datetime):
        return 5, value
    return 3, str(value)
