"""History paging across a type with history documents (ObjectId keys) and a type whose one
version is its current document (a Provenance: resource-id keys), at equal times too:
walking the pages returns exactly the rows of one full listing, newest first."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.search.index import index_plan
from fhir_server.storage.database import Database
from fhir_server.storage.history_spans import HistorySpan

MOMENTS = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=n) for n in range(3)]
rows = st.lists(st.sampled_from(range(len(MOMENTS))), max_size=8)


@pytest.fixture(scope="module")
def database(mongo_uri, loop):
    db = Database(mongo_uri, f"history_keyset_{uuid.uuid4().hex[:8]}", index_plan)
    yield db
    loop.run_until_complete(db.client.drop_database(db.db.name))
    loop.run_until_complete(db.close())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patients=rows, provenances=rows, page_size=st.integers(1, 3))
def test_pages_return_every_version_once_newest_first(loop, database, patients, provenances,
                                                       page_size):
    async def walk() -> tuple[list, list]:
        db = database.db
        await db["Patient_history"].drop()
        await db["Provenance"].drop()
        for number, moment in enumerate(patients):
            await db["Patient_history"].insert_one(
                {"id": f"p{number}", "vid": 1, "lastUpdated": MOMENTS[moment], "deleted": False,
                 "method": "POST", "resource": {"resourceType": "Patient", "id": f"p{number}"}})
        for number, moment in enumerate(provenances):
            await db["Provenance"].insert_one(
                {"_id": f"v{number}", "vid": 1, "lastUpdated": MOMENTS[moment], "deleted": False,
                 "resource": {"resourceType": "Provenance", "id": f"v{number}"}})
        store, types = database.store(), ["Patient", "Provenance"]
        everything = await store.history(types, None, HistorySpan(), None, 1000)
        paged, after = [], None
        while True:
            found = await store.history(types, None, HistorySpan(), after, page_size + 1)
            paged += found[:page_size]
            if len(found) <= page_size:
                break
            last = found[page_size - 1]
            after = (last.last_updated, last.object_id)
        return everything, paged

    everything, paged = loop.run_until_complete(walk())
    key = [(version.resource_type, version.id) for version in everything]
    assert [(version.resource_type, version.id) for version in paged] == key
    assert sorted(key) == sorted([("Patient", f"p{n}") for n in range(len(patients))]
                                 + [("Provenance", f"v{n}") for n in range(len(provenances))])
    stamps = [version.last_updated for version in everything]
    assert stamps == sorted(stamps, reverse=True)
    assert all(version.resource and version.vid == 1 for version in everything)
