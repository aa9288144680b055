"""Searches outside transactions share one MongoDB query when they wait at the same time,
against a real mongod: each page is exactly what its own `find` reads (documents, order,
projection, limit, byte budget), and one search's error or slowness is its own."""

import asyncio
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.errors import OperationFailure
from storage.test_coalesced_reads import FindCounter

from fhir_server.errors import TooCostly
from fhir_server.storage.coalesced_finds import CoalescedFinds, Find, Page, narrowed, read_page
from fhir_server.storage.database import Database
from fhir_server.storage.pages_in_flight import PageBudget

KINDS = ("Patient", "Encounter")


@pytest.fixture(scope="module")
def commands() -> FindCounter:
    from pymongo import monitoring

    counter = FindCounter()
    monitoring.register(counter)
    return counter


@pytest.fixture(scope="module")
def database(mongo_uri, loop, commands):
    db = Database(mongo_uri, f"finds_{uuid.uuid4().hex[:8]}", lambda kind: [])
    for kind in KINDS:
        loop.run_until_complete(db.db[kind].insert_many([_document(kind, n) for n in range(60)]))
    yield db
    loop.run_until_complete(db.client.drop_database(db.db.name))
    loop.run_until_complete(db.close())


def _document(kind: str, n: int) -> dict:
    """Sort keys of every kind a search sorts by: arrays, missing values, ties, text."""
    document = {"_id": f"{kind[0]}{n:03}", "deleted": n % 13 == 0, "vid": 1 + n % 3,
                "search": {"code": [f"c{n % 4}", f"c{n % 7}"], "name": [f"n{n % 5}"]},
                "sort": {"date": [f"20{n % 9:02}", f"20{n % 11:02}"][: 1 + n % 2]},
                "resource": {"resourceType": kind, "id": f"{kind[0]}{n:03}", "pad": "x" * n}}
    if n % 6 == 0:
        del document["sort"]
    return document


finds = st.builds(
    Find,
    collection=st.sampled_from(KINDS),
    filter=st.sampled_from([{}, {"search.code": "c1"}, {"search.name": {"$in": ["n0", "n3"]}},
                            {"vid": {"$gte": 2}}, {"search.code": "none"}]).map(
        lambda f: {**f, "deleted": False}),
    projection=st.sampled_from([None, {"resource": 1}, {"resource": 1, "sort.date": 1},
                                {"search": 0}]),
    sort=st.sampled_from([[("_id", 1)], [("_id", -1)], [("sort.date", 1), ("_id", 1)],
                          [("sort.date", -1), ("_id", -1)], [("vid", -1), ("_id", 1)]]),
    limit=st.integers(0, 70),
)


def _ids_of(kind: str) -> dict:
    """A filter narrowed to every document's id: a search that waits for a union."""
    return {"_id": {"$in": [f"{kind}{n:03}" for n in range(60)]}, "deleted": False}


def _ids(page: Page) -> list[str]:
    return [document["_id"] for document in page.documents]


def _each_alone(loop, database: Database, batch: list[Find]) -> list[Page]:
    return [loop.run_until_complete(read_page(database.db, find)) for find in batch]


def _together(loop, coalesced: CoalescedFinds, batch: list[Find]) -> list:
    async def all_at_once() -> list:
        return await asyncio.gather(*(coalesced.find(find) for find in batch),
                                    return_exceptions=True)

    return loop.run_until_complete(all_at_once())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(finds, min_size=2, max_size=20))
def test_searches_sent_together_read_what_each_reads_alone(loop, database, commands, batch):
    coalesced = CoalescedFinds(database.db)
    before = commands.sent.copy()
    together = _together(loop, coalesced, batch)
    sent = commands.sent - before
    # Searches narrowed by an equality: the first goes alone at once, those that waited for
    # it as unions of up to 16. The others each alone at once.
    waiting = sum(narrowed(find.filter) for find in batch)
    assert sent["find"] + sent["aggregate"] <= len(batch) - waiting + 3
    assert sent["aggregate"] >= (waiting >= 3)
    assert sent["getMore"] == 0  # each union's pages in its first reply
    alone = _each_alone(loop, database, batch)
    assert [_ids(page) for page in together] == [_ids(page) for page in alone]
    assert [page.documents for page in together] == [page.documents for page in alone]
    assert not any(page.cut for page in together)


def test_a_page_cut_by_its_budget_ends_there_and_the_others_are_whole(loop, database, commands):
    everything = Find("Encounter", _ids_of("E"), None, [("_id", 1)], 50)

    def small() -> Find:
        return Find("Patient", _ids_of("P"), None, [("_id", 1)], 50, PageBudget(600).keeps)

    batch = [everything, everything, small(), everything, small(), everything]
    before = commands.sent.copy()
    pages = _together(loop, CoalescedFinds(database.db), batch)
    sent = commands.sent - before
    whole = _ids(_each_alone(loop, database, [everything])[0])
    assert len(whole) == 50
    assert [_ids(page) for page in pages] == [whole, whole, ["P001", "P002"], whole,
                                              ["P001", "P002"], whole]
    assert [page.cut for page in pages] == [False, False, True, False, True, False]
    assert pages[2].size == sum(len(document.raw) for document in pages[2].documents)
    # The first alone; the union of the others closed at each cut and the branches after
    # it sent again: [e, small, e, small, e], [e, small, e], then the last alone.
    assert (sent["find"], sent["aggregate"]) == (2, 2)


def test_a_failing_search_fails_alone(loop, database):
    good = Find("Patient", {"search.code": "c1", "deleted": False}, None, [("_id", 1)], 5)
    bad = Find("Patient", {"search.code": {"$notAnOperator": 1}}, None, [("_id", 1)], 5)
    pages = _together(loop, CoalescedFinds(database.db), [good, good, bad, good])
    assert isinstance(pages[2], OperationFailure)
    expected = _ids(_each_alone(loop, database, [good])[0])
    assert len(expected) == 5
    assert [_ids(pages[n]) for n in (0, 1, 3)] == [expected] * 3


def test_a_slow_search_in_flight_holds_the_others_back_briefly(loop, database):
    slow = Find("Patient", {"$where": "sleep(800) || true", "_id": "P001"}, None,
                [("_id", 1)], 1)
    fast = Find("Encounter", {"_id": "E002"}, None, [("_id", 1)], 1)

    async def scenario() -> tuple:
        coalesced = CoalescedFinds(database.db)
        slowly = asyncio.ensure_future(coalesced.find(slow))
        await asyncio.sleep(0.05)  # the slow search is in flight
        started = time.perf_counter()
        page = await coalesced.find(fast)
        return time.perf_counter() - started, page, await slowly

    waited, page, slow_page = loop.run_until_complete(scenario())
    assert _ids(page) == ["E002"] and _ids(slow_page) == ["P001"]
    assert waited < 0.4


def test_a_cancelled_search_leaves_the_others_their_pages(loop, database):
    find = Find("Patient", {"search.name": "n2", "deleted": False}, {"resource": 1},
                [("_id", -1)], 3)

    async def scenario() -> list:
        coalesced = CoalescedFinds(database.db)
        searches = [asyncio.ensure_future(coalesced.find(find)) for _ in range(5)]
        await asyncio.sleep(0)
        searches[3].cancel()
        return await asyncio.gather(*searches, return_exceptions=True)

    results = loop.run_until_complete(scenario())
    assert isinstance(results[3], asyncio.CancelledError)
    expected = _ids(_each_alone(loop, database, [find])[0])
    assert [_ids(results[n]) for n in (0, 1, 2, 4)] == [expected] * 4
    assert len(expected) == 3


def test_an_unreachable_database_fails_every_waiting_search(loop):
    unreachable = Database("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200",
                           "nowhere", lambda kind: [], server_selection_timeout=0.2)
    find = Find("Patient", {"deleted": False}, None, [("_id", 1)], 5)
    results = _together(loop, CoalescedFinds(unreachable.db), [find] * 4)
    assert all(isinstance(result, Exception) and not isinstance(result, OperationFailure)
               for result in results)
    loop.run_until_complete(unreachable.close())


def test_a_union_of_full_pages_is_answered_in_one_reply(loop, database, commands):
    """A reply as long as the union's batch size left its cursor open for a getMore."""
    full = Find("Encounter", _ids_of("E"), {"vid": 1}, [("_id", 1)], 5)
    before = commands.sent.copy()
    pages = _together(loop, CoalescedFinds(database.db), [full] * 4)
    assert [len(page.documents) for page in pages] == [5] * 4
    assert commands.sent - before == {"find": 1, "aggregate": 1}


def test_without_unions_in_the_database_each_search_goes_alone(loop, database, commands,
                                                                 monkeypatch):
    """MongoDB before 5.1 has no `$documents`: after its first refusal, finds only."""
    coalesced = CoalescedFinds(database.db)
    refused = []

    async def refusing(finds: list[Find]) -> list[Page]:
        refused.append(len(finds))
        raise OperationFailure("Unrecognized pipeline stage name: '$documents'", 40324)

    monkeypatch.setattr(coalesced, "_read_union", refusing)
    find = Find("Patient", {"search.name": "n1", "deleted": False}, None, [("_id", 1)], 4)
    expected = _ids(_each_alone(loop, database, [find])[0])
    for _ in range(2):
        before = commands.sent.copy()
        pages = _together(loop, coalesced, [find] * 6)
        assert [_ids(page) for page in pages] == [expected] * 6
        assert commands.sent - before == {"find": 6}
    assert refused == [5]  # tried once


def test_searches_whose_filters_together_pass_16_mib_go_alone(loop, database):
    """Each filter about 6 MB, each search fine alone: their union would be over MongoDB's
    16 MiB, which the driver refuses before sending it."""
    def large(n: int) -> Find:
        ids = [f"P{k:03}" for k in range(n, 60, 7)] + [f"{n}-{k:07}" + "x" * 40
                                                     for k in range(120_000)]
        # `vid` narrows it: it waits for a union, as a chain with an identifier would.
        return Find("Patient", {"vid": 1 + n % 3, "_id": {"$in": ids}, "deleted": False},
                    {"vid": 1}, [("_id", 1)], 50)

    batch = [large(n) for n in range(4)]
    pages = _together(loop, CoalescedFinds(database.db), batch)
    assert [_ids(page) for page in pages] == [_ids(page) for page in
                                              _each_alone(loop, database, batch)]
    assert all(_ids(page) for page in pages)


def test_a_search_over_16_mib_alone_is_too_costly_and_the_others_are_answered(loop, database):
    huge = Find("Patient", {"_id": {"$in": [f"{k:08}" + "x" * 60 for k in range(300_000)]},
                            "deleted": False}, None, [("_id", 1)], 5)
    small = Find("Patient", {"search.name": "n1", "deleted": False}, None, [("_id", 1)], 5)
    results = _together(loop, CoalescedFinds(database.db), [small, huge, small, small])
    assert isinstance(results[1], TooCostly) and results[1].status == 400
    assert "16 MiB" in results[1].diagnostics and results[1].code == "too-costly"
    expected = _ids(_each_alone(loop, database, [small])[0])
    assert [_ids(results[n]) for n in (0, 2, 3)] == [expected] * 3


@pytest.mark.parametrize(("query", "expected"), [
    ({"search.identifier": "sc:urn:s|1", "deleted": False}, True),
    ({"$and": [{"search.patient": "Patient/1"}, {"search.date.lo": {"$gte": "2020"}}]}, True),
    ({"_id": {"$in": ["a", "b"]}}, True),
    ({"$and": [{"$and": [{"compartments": "Patient/1"}]}, {"$or": [{"_id": {"$gt": "a"}}]}]},
     True),
    ({"deleted": False}, False),
    ({"search.name": {"$regex": "^f:.*lan"}}, False),
    ({"search.date.lo": {"$gte": "2020"}, "deleted": False}, False),
    ({"search.subject": {"$in": [f"Patient/{n}" for n in range(65)]}}, False),
    ({"search.gender": None}, False),
    # A chain: its stored targets, or its contained ones.
    ({"$or": [{"search.subject": {"$in": ["Patient/1"]}},
              {"contained.via": "subject", "contained": {"$elemMatch": {"type": "Patient"}}}]},
     True),
    ({"$or": [{"search.a": "x"}, {"search.b": {"$regex": "^f:y"}}]}, False),
])
def test_only_searches_narrowed_by_an_equality_wait_for_a_union(query, expected):
    assert narrowed(query) is expected


def test_a_slow_search_waiting_for_a_union_would_hold_it_goes_alone(loop, database):
    """A union answers when its slowest branch is done: a search no equality narrows (this
    one reads every document, and matches none) does not join one."""
    five_ms = {"$function": {"body": "function() { sleep(5); return false; }", "args": [],
                             "lang": "js"}}
    slow = Find("Patient", {"$expr": five_ms, "deleted": False}, None, [("_id", 1)], 2)
    fast = Find("Encounter", {"_id": "E002"}, None, [("_id", 1)], 1)

    async def scenario() -> tuple:
        coalesced = CoalescedFinds(database.db)
        first = asyncio.ensure_future(coalesced.find(fast))  # in flight: the others wait
        await asyncio.sleep(0)
        slowly = asyncio.ensure_future(coalesced.find(slow))
        started = time.perf_counter()
        pages = await asyncio.gather(*(coalesced.find(fast) for _ in range(4)))
        waited = time.perf_counter() - started
        return waited, pages, await slowly, await first

    waited, pages, slow_page, _ = loop.run_until_complete(scenario())
    assert [_ids(page) for page in pages] == [["E002"]] * 4 and slow_page.documents == []
    assert waited < 0.15  # the slow search takes about 0.3 s (5 ms for each of 60 documents)
