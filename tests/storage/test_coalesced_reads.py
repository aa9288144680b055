"""Reads by id outside transactions share one MongoDB query when they wait at the same
time, against a real mongod: each still gets exactly its own document, as its own
`find_one` would, and a read never gets a version older than what was written before it."""

import asyncio
import uuid
from collections import Counter

import pytest
from pymongo import monitoring

from fhir_server.storage.coalesced_reads import CoalescedReads
from fhir_server.storage.database import Database, DatabaseUnreachable
from fhir_server.storage.resources import WITHOUT_INDEX


class FindCounter(monitoring.CommandListener):
    def __init__(self):
        self.sent: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(scope="module")
def commands() -> FindCounter:
    counter = FindCounter()
    monitoring.register(counter)  # clients made from now on report to it
    return counter


@pytest.fixture(scope="module")
def database(mongo_uri, loop, commands):
    db = Database(mongo_uri, f"coalesced_{uuid.uuid4().hex[:8]}", lambda kind: [])
    loop.run_until_complete(db.db["Patient"].insert_many(
        [_document(f"p{n}", 1) for n in range(100)]))
    yield db
    loop.run_until_complete(db.client.drop_database(db.db.name))
    loop.run_until_complete(db.close())


def _document(resource_id: str, vid: int) -> dict:
    return {"_id": resource_id, "vid": vid, "deleted": False, "search": {"name": ["x"]},
            "resource": {"resourceType": "Patient", "id": resource_id,
                         "meta": {"versionId": str(vid)}, "name": [{"family": "Lê"}]}}


def _read_all(loop, database: Database, ids: list[str]) -> list:
    async def read() -> list:
        store = database.store()
        return await asyncio.gather(*(store.current("Patient", i) for i in ids))

    return loop.run_until_complete(read())


def test_reads_waiting_together_are_one_query_each_getting_its_own_document(
        loop, database, commands):
    ids = [f"p{n}" for n in range(40)] + ["p3", "p3", "missing"]
    before = commands.sent.copy()
    found = _read_all(loop, database, ids)
    assert commands.sent - before == Counter({"find": 1})  # one round trip, no getMore
    assert [version and version.id for version in found] == ids[:-1] + [None]
    assert all(version.resource["id"] == version.id for version in found[:-1])
    assert "search" not in found[0].resource and found[0].search == {}  # without its index
    # Two reads of one resource get documents of their own: changing one leaves the other.
    first, second = found[-3], found[-2]
    first.resource["name"][0]["family"] = "changed"
    assert second.resource["name"][0]["family"] == "Lê"


def test_the_copies_for_other_readers_of_one_resource_are_made_off_the_loop(
        loop, database, monkeypatch):
    """Copying a 10 MB resource for each of 8 readers held the event loop for seconds."""
    from fhir_server.storage import coalesced_reads

    on_loop: list[bool] = []
    real = coalesced_reads._copies

    def recorded(document: dict, count: int) -> list[dict]:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(document, count)

    monkeypatch.setattr(coalesced_reads, "_copies", recorded)
    found = _read_all(loop, database, ["p5"] * 4)
    assert [version.id for version in found] == ["p5"] * 4
    assert on_loop == [False]


def test_more_reads_than_one_query_takes_go_in_several(loop, database, commands):
    ids = [f"p{n}" for n in range(100)]
    before = commands.sent.copy()
    found = _read_all(loop, database, ids)
    sent = commands.sent - before
    assert 1 < sent["find"] <= 3 and sent.keys() == {"find"}  # each query one round trip
    assert [version.id for version in found] == ids


def test_a_read_after_a_write_sees_it_though_a_query_is_in_flight(loop, database):
    async def scenario() -> tuple:
        store = database.store()
        early = asyncio.ensure_future(store.current("Patient", "p7"))
        await asyncio.sleep(0)  # the early read's query is on its way
        await asyncio.sleep(0)
        await database.db["Patient"].replace_one({"_id": "p7"}, _document("p7", 2))
        late = await store.current("Patient", "p7")
        return await early, late

    early, late = loop.run_until_complete(scenario())
    assert early.vid in (1, 2)
    assert late.vid == 2 and late.resource["meta"]["versionId"] == "2"


def test_a_cancelled_read_leaves_the_others_their_documents(loop, database):
    async def scenario() -> list:
        store = database.store()
        reads = [asyncio.ensure_future(store.current("Patient", f"p{n}")) for n in range(5)]
        reads[2].cancel()
        return await asyncio.gather(*reads, return_exceptions=True)

    results = loop.run_until_complete(scenario())
    assert isinstance(results[2], asyncio.CancelledError)
    assert [results[n].id for n in (0, 1, 3, 4)] == ["p0", "p1", "p3", "p4"]


def test_a_failed_query_fails_every_read_that_waited_on_it(loop):
    unreachable = Database("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200",
                           "nowhere", lambda kind: [], server_selection_timeout=0.2)
    failing = CoalescedReads(unreachable.db, "Patient", WITHOUT_INDEX)

    async def scenario() -> list:
        return await asyncio.gather(*(failing.find(f"p{n}") for n in range(3)),
                                    return_exceptions=True)

    failed = loop.run_until_complete(scenario())
    loop.run_until_complete(unreachable.close())
    assert len(failed) == 3
    assert all(isinstance(error, DatabaseUnreachable) for error in failed)
