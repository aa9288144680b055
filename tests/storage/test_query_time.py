"""The search time limit (storage/query_time.py) over every read a search, history or
`$everything` page makes of a store: once the time of the store's queries is spent, the next
query is the request's 400 `too-costly`, not one more query without a limit. A history page
and its total, and `$everything`'s references of a patient's resources, were read without it
(the README's limit names history and `$everything` pages). A search sent again alone, once
the union it waited in was stopped, has what is left of its time, not all of it again."""

import asyncio
import time
import uuid

import pytest
from pymongo.errors import ExecutionTimeout

from fhir_server.errors import TooCostly
from fhir_server.storage.coalesced_finds import CoalescedFinds
from fhir_server.storage.database import Database
from fhir_server.storage.history_spans import HistorySpan


@pytest.fixture(scope="module")
def database(mongo_uri, loop):
    db = Database(mongo_uri, f"query_time_{uuid.uuid4().hex[:8]}", lambda kind: [])
    loop.run_until_complete(db.db.create_collection("Patient_history"))
    db.query_millis = 5
    yield db
    loop.run_until_complete(db.client.drop_database(db.db.name))
    loop.run_until_complete(db.close())


READS = {
    "history": lambda store: store.history(["Patient"], None, HistorySpan(), None, 10),
    "history total": lambda store: store.count_versions(["Patient"], None, HistorySpan()),
    "references of $everything": lambda store: store.distinct_entries(
        "Patient", {}, ["search.link"], 10),
    "page of matches": lambda store: store.find("Patient", {}, 10),
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_a_read_after_the_time_is_spent_is_too_costly(database, loop, read):
    store = database.store()
    time.sleep(0.02)  # the 5 ms of the store's queries are spent
    with pytest.raises(TooCostly, match="stopped after 0.005 s"):
        loop.run_until_complete(read(store))


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_reads_without_a_limit_are_answered(database, loop, read):
    """Background work (re-indexing, export jobs) reads without the limit."""
    store = database.store(timed=False)
    time.sleep(0.02)
    loop.run_until_complete(read(store))


def test_a_search_sent_again_after_its_union_was_stopped_has_what_is_left(database, loop,
                                                                          monkeypatch):
    """Lookups waiting at the same time go in one union, with the time of the slowest; one
    stopped is sent again branch by branch. Each branch was sent with all of its time again,
    so a search could take its limit twice over (or the others' and its own)."""
    async def stopped(self, finds):
        await asyncio.sleep(0.6)  # the union ran out the searches' 0.5 s
        raise ExecutionTimeout("operation exceeded time limit", 50)

    monkeypatch.setattr(CoalescedFinds, "_read_union", stopped)
    monkeypatch.setattr(database, "query_millis", 500)  # the first has time on a busy machine

    async def three_lookups():
        # The first is sent at once (alone); the two arriving meanwhile wait, in one union.
        return await asyncio.gather(*(database.store().find("Patient", {"_id": f"p{n}"}, 1)
                                      for n in range(3)), return_exceptions=True)

    first, *waited = loop.run_until_complete(three_lookups())
    assert first == [], first
    assert [type(one) for one in waited] == [TooCostly, TooCostly], waited
    assert "stopped after 0.5 s" in str(waited[0])
