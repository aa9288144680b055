"""One page of the matches of several types in one order: a search of several types sorted
by `_sort` (search-system, `Patient/123/*`), which orders all its matches as one list, as a
server storing every type in one table would (HAPI, Firely). One `aggregate` of a
`$unionWith` per type: each branch reads at most a page of its type in that order (by its
indexes), tagged with its type, and MongoDB sorts the branches' rows together, by the sort
keys, then `_id`, then the type, as keyset paging needs a total order."""

from dataclasses import dataclass

from fhir_server.storage import pages_in_flight
from fhir_server.storage.coalesced_finds import (
    Find,
    Page,
    find_stages,
    raw_documents,
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
    stages = [[*find_stages(Find(kind, {**query, "deleted": False}, projection, sort, limit)),
               {"$addFields": {TYPE_FIELD: kind}}] for kind, query in branches]
    pipeline = [*stages[0]]
    for (kind, _), branch in zip(branches[1:], stages[1:], strict=True):
        pipeline.append({"$unionWith": {"coll": kind, "pipeline": branch}})
    pipeline += [{"$sort": {**dict(sort), TYPE_FIELD: 1}}, {"$limit": limit}]
    page = Page()
    db = raw_documents(store.db)
    with within_command_limit():
        cursor = await db[branches[0][0]].aggregate(pipeline, session=store.session)
        try:
            async for document in cursor:
                if not budget.keeps(len(document.raw), not page.documents):
                    page.cut = True
                    break
                page.add(document)
        finally:
            await cursor.close()
    documents = await page.decoded(store.db.codec_options)
    await store.chains.restore(documents)
    rows = [(document[TYPE_FIELD], CurrentVersion.from_document(document))
            for document in documents]
    return UnionPage(rows, page.size, page.cut)
