"""A page of several types in one sort order (storage/union_reads.py), against a real mongod:
outside a transaction MongoDB sorts the union of the types; inside one, where MongoDB runs no
`$unionWith`, each type's page is merged here in MongoDB's order. Both give the same rows for
sort keys of every kind a search sorts by (missing, integers and floats together, strings of
any script, dates at the calendar's edges), ties broken by id, then type."""

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.storage.database import Database
from fhir_server.storage.union_reads import find_across

KINDS = ("Condition", "Observation", "Patient")
PROJECTION = {"vid": 1, "lastUpdated": 1, "deleted": 1, "resource": 1, "sort.k": 1}


@pytest.fixture(scope="module")
def database(mongo_uri, loop):
    db = Database(mongo_uri, f"union_{uuid.uuid4().hex[:8]}", lambda kind: [])
    for kind in KINDS:  # collections exist before a transaction reads them
        loop.run_until_complete(db.db.create_collection(kind))
    yield db
    loop.run_until_complete(db.client.drop_database(db.db.name))
    loop.run_until_complete(db.close())


sort_values = st.one_of(
    st.none(),
    st.integers(-2**53, 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                 timezones=st.just(UTC)).map(
        lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)),
)
rows = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 6), sort_values),
                max_size=24, unique_by=lambda row: row[:2])


def _document(resource_id: str, value: object) -> dict:
    document = {"_id": resource_id, "vid": 1, "deleted": False,
                "resource": {"id": resource_id}}
    if value is not None or resource_id.endswith(("0", "2")):  # missing, or null
        document["sort"] = {"k": {"a": value}}
    return document


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, direction=st.sampled_from([1, -1]), limit=st.integers(1, 30))
def test_in_a_transaction_the_order_is_mongodbs(loop, database, rows, direction, limit):
    async def store_rows() -> None:
        for kind in KINDS:
            await database.db[kind].delete_many({})
            documents = [_document(f"r{n}", value) for k, n, value in rows if k == kind]
            if documents:
                await database.db[kind].insert_many(documents)

    loop.run_until_complete(store_rows())
    branches = [(kind, {}) for kind in KINDS]
    sort = [("sort.k.a", direction), ("_id", 1)]

    def read(store):
        return find_across(store, branches, limit, 2**20, PROJECTION, sort)

    unioned = loop.run_until_complete(read(database.store()))
    merged = loop.run_until_complete(database.in_transaction(read))
    order = [(kind, version.id) for kind, version in unioned.rows]
    assert [(kind, version.id) for kind, version in merged.rows] == order
    assert len(order) == min(limit, len(rows))
