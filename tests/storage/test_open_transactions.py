"""A version is stamped in the transaction attempt that commits it, and that attempt is listed
as an open transaction (`$currentOp`) from before it stamps anything: a bulk export waits for
the transactions begun before its transactionTime (storage/open_transactions.py)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pymongo
import pytest
from pymongo.errors import OperationFailure

from fhir_server.search.index import index_plan
from fhir_server.services.versions import next_timestamp, repeatable_unit
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


def test_an_attempt_run_again_stamps_its_versions_again(loop, database):
    """A unit's clock stays at its start (signing needs it), but a version written by the
    attempt that commits carries that attempt's time: one retried after a conflict (or a
    wait for signatures) became visible long after the time it carried."""
    stamps: list[datetime] = []

    async def work(store) -> None:
        stamps.append(next_timestamp(None))
        if len(stamps) == 1:
            await asyncio.sleep(PAUSE)
            raise _write_conflict()

    with repeatable_unit():
        loop.run_until_complete(database.in_transaction(work))
    assert len(stamps) == 2
    assert stamps[1] - stamps[0] >= timedelta(seconds=PAUSE)


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
