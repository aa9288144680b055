"""Keyset paging over any sort order, against a real mongod: walking the pages returns
exactly the rows of one full sorted query, missing sort values included."""

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.search import paging
from fhir_server.search.request import SortKey
from fhir_server.storage.database import Database

SORT_CODES = ("family", "birthdate")
values = st.one_of(st.none(), st.sampled_from(["an", "binh", "chau", "dung", "en"]))
rows = st.lists(st.tuples(values, values), min_size=0, max_size=25)
sort_orders = st.lists(
    st.tuples(st.sampled_from(SORT_CODES + ("_id",)), st.booleans()),
    min_size=1,
    max_size=3,
    unique_by=lambda key: key[0],
)


@pytest.fixture(scope="module")
def database(mongo_uri, loop):
    db = Database(mongo_uri, f"keyset_{uuid.uuid4().hex[:8]}", lambda kind: [])
    yield db
    loop.run_until_complete(db.client.drop_database(db.db.name))
    loop.run_until_complete(db.close())


def _document(number: int, row: tuple) -> dict:
    sort = {
        code: {"a": value, "d": value}
        for code, value in zip(SORT_CODES, row, strict=True)
        if value is not None
    }
    return {"_id": f"id-{number:03d}", "deleted": False, "sort": sort}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows, order=sort_orders, page_size=st.integers(1, 4))
def test_pages_return_every_row_once_in_sort_order(loop, database, rows, order, page_size):
    fields = paging.sort_fields([SortKey(code, descending) for code, descending in order])
    collection = f"c{uuid.uuid4().hex[:8]}"

    async def walk() -> tuple[list, list]:
        store = database.store()
        if rows:
            await database.db[collection].insert_many(
                [_document(n, row) for n, row in enumerate(rows)]
            )
        everything = await store.find(collection, {}, 1000, sort=fields)
        paged, query = [], {}
        while True:
            page = await store.find(collection, query, page_size, sort=fields)
            paged += page
            if len(page) < page_size:
                break
            query = paging.after(fields, paging.position(page[-1], fields))
        await database.db[collection].drop()
        return [d.id for d in everything], [d.id for d in paged]

    everything, paged = loop.run_until_complete(walk())
    assert paged == everything
    assert sorted(everything) == [f"id-{n:03d}" for n in range(len(rows))]
