"""Transaction attempts: what one writes is stamped with the time it began (one time for all
of it), it is listed as an open transaction (`$currentOp`) from before it stamps anything (a
bulk export waits for the transactions begun before its transactionTime:
storage/open_transactions.py), and write conflicts are retried for a bounded time."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pymongo
import pytest
from pymongo.errors import OperationFailure

from fhir_server.errors import Conflict
from fhir_server.search.index import index_plan
from fhir_server.services.versions import next_timestamp, repeatable_unit, restart_unit
from fhir_server.storage import database as database_module
from fhir_server.storage.database import Database
from fhir_server.storage.open_transactions import open_since

PAUSE = 0.3  # seconds


@pytest.fixture
def database(mongo_uri, loop):
    name = f"t_open_transactions_{uuid.uuid4().hex[:8]}"
    database = Database(mongo_uri, name, index_plan)
    loop.run_until_complete(database.prepare())
    yield database
    loop.run_until_complete(database.close())
    with pymongo.MongoClient(mongo_uri) as client:
        client.drop_database(name)


def _write_conflict() -> OperationFailure:
    """What MongoDB answers a transaction that lost a race for a document: retried."""
    return OperationFailure("WriteConflict", 112, {"errorLabels": ["TransientTransactionError"]})


def test_an_attempt_stamps_all_it_writes_with_the_time_it_began_and_a_rerun_again(
        loop, database):
    """A unit's clock stays at its start (signing needs it), but what the attempt that
    commits writes carries that attempt's time: one retried after a conflict (or a wait for
    signatures) became visible long after the time it carried. And one time for the whole
    attempt: a Bundle's entries stamped as they were processed were cut in two by an
    export's transactionTime."""
    stamps: list[tuple[datetime, datetime]] = []

    async def work(store) -> None:
        restart_unit()  # as ResourceService.transaction's work does first
        first = next_timestamp(None)
        await asyncio.sleep(PAUSE)
        stamps.append((first, next_timestamp(None)))
        if len(stamps) == 1:
            raise _write_conflict()

    with repeatable_unit():
        loop.run_until_complete(database.in_transaction(work))
    assert [first == last for first, last in stamps] == [True, True]
    assert stamps[1][0] - stamps[0][0] >= timedelta(seconds=PAUSE)


def test_write_conflicts_are_tried_again_for_a_bounded_time_then_409(loop, database,
                                                                       monkeypatch):
    """pymongo retries a conflicting transaction for 120 s, then raised the last conflict as
    a NetworkTimeout, answered 503 "no MongoDB primary is reachable"."""
    monkeypatch.setattr(database_module, "CONFLICTS_FOR_SECONDS", 2 * PAUSE)
    attempts = []

    async def work(store) -> None:
        attempts.append(datetime.now(UTC))
        await asyncio.sleep(PAUSE)
        raise _write_conflict()

    with pytest.raises(Conflict, match="kept changing"):
        loop.run_until_complete(database.in_transaction(work))
    assert 2 <= len(attempts) <= 4


def test_a_transaction_is_listed_as_open_before_its_work_sends_anything(loop, database):
    """MongoDB begins a transaction at its first command: without one sent first, work that
    stamps versions and inserts them later (a large Bundle's buffered inserts) was invisible
    while it ran."""
    seen: list[int | None] = []

    async def work(store) -> None:
        seen.append(await open_since(database.db, datetime.now(UTC)))

    loop.run_until_complete(database.in_transaction(work))
    assert seen == [1]
    assert loop.run_until_complete(open_since(database.db, datetime.now(UTC))) == 0


def test_only_transactions_begun_by_the_moment_count(loop, database):
    async def scenario() -> tuple[int | None, int | None]:
        before = datetime.now(UTC) - timedelta(seconds=5)
        listed = asyncio.get_running_loop().create_future()
        release = asyncio.Event()

        async def work(store) -> None:
            if not listed.done():
                listed.set_result(None)
            await release.wait()

        running = asyncio.create_task(database.in_transaction(work))
        await listed
        counts = (await open_since(database.db, before),
                  await open_since(database.db, datetime.now(UTC)))
        release.set()
        await running
        return counts

    assert loop.run_until_complete(scenario()) == (0, 1)
