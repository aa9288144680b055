"""A server process killed in the middle of a transaction leaves it open in MongoDB, what it
wrote locked against every other writer until the transaction's lifetime runs out (60 s by
default, 90 s measured). The process notes its sessions in the data directory, and the
others end those of a process that died."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pymongo
import pytest
from api.helpers import FHIR_HEADERS
from pymongo import AsyncMongoClient

from fhir_server.storage.session_ledger import SESSIONS_DIRECTORY, SessionLedger, release_dead

# Writes `_id` into `locked` in a transaction of the server's Database, and dies there.
_KILLED_IN_A_TRANSACTION = """
import asyncio, os, signal, sys
from pathlib import Path
from fhir_server.search.index import index_plan
from fhir_server.storage.database import Database
from fhir_server.storage.session_ledger import SessionLedger

async def main():
    database = Database(sys.argv[1], sys.argv[2], index_plan)
    database.ledger = SessionLedger(Path(sys.argv[3]))

    async def write_then_die(store):
        await store.db["locked"].insert_one({"_id": sys.argv[4]}, session=store.session)
        os.kill(os.getpid(), signal.SIGKILL)

    await database.in_transaction(write_then_die)

asyncio.run(main())
"""


@pytest.fixture
def database(mongo_uri) -> Iterator[str]:
    name = f"t_session_ledger_{uuid.uuid4().hex[:8]}"
    yield name
    with pymongo.MongoClient(mongo_uri) as client:
        client.drop_database(name)


def test_the_transaction_of_a_process_that_died_no_longer_holds_its_writes(
        mongo_uri, database, tmp_path):
    key = str(uuid.uuid4())
    with pymongo.MongoClient(mongo_uri) as client:  # as a resource type's collection exists
        client[database]["locked"].insert_one({"_id": "another"})
    killed = subprocess.run([sys.executable, "-c", _KILLED_IN_A_TRANSACTION, mongo_uri,
                             database, str(tmp_path), key],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert len(list(tmp_path.iterdir())) == 1, "the session was not noted"

    async def write_it_again() -> None:
        client = AsyncMongoClient(mongo_uri)
        try:
            assert await release_dead(tmp_path, client) == 1
            # Held by the open transaction, this write would wait for a minute or more.
            with pymongo.timeout(20):
                await client[database]["locked"].insert_one({"_id": key})
        finally:
            await client.close()

    asyncio.run(write_it_again())
    assert list(tmp_path.iterdir()) == [], "the ledger of the dead process was kept"


async def _release(mongo_uri: str, directory) -> int:
    client = AsyncMongoClient(mongo_uri)
    try:
        return await release_dead(directory, client)
    finally:
        await client.close()


def test_the_sessions_of_a_running_process_are_left_alone(mongo_uri, tmp_path):
    ledger = SessionLedger(tmp_path)  # this process's own
    ledger.note({"id": uuid.uuid4().bytes})
    ledger.note({"id": uuid.uuid4().bytes})

    assert asyncio.run(_release(mongo_uri, tmp_path)) == 0
    assert len(ledger.path.read_text().split()) == 2


def test_a_server_notes_the_sessions_its_writes_run_in(server, client):
    created = client.post("/Patient", json={"resourceType": "Patient", "gender": "female"},
                          headers=FHIR_HEADERS)
    assert created.status_code == 201, created.text
    ledgers = sorted((server.settings.data_dir / SESSIONS_DIRECTORY).iterdir())
    assert [ledger.name for ledger in ledgers] == [f"{socket.gethostname()}.{os.getpid()}"]
    assert ledgers[0].read_text().split(), "no session noted"


def test_a_ledger_that_cannot_be_written_costs_no_write(tmp_path, caplog):
    """A full or read-only disk: each note returns (the write goes on), and it is logged
    once, not once per session."""
    blocked = tmp_path / "mongo-sessions"
    blocked.write_text("a file where the directory should be")
    ledger = SessionLedger(blocked)
    with caplog.at_level("WARNING", logger="fhir_server.storage.session_ledger"):
        for _ in range(3):
            ledger.note({"id": uuid.uuid4().bytes})
    [logged] = caplog.records
    assert logged.getMessage().startswith(f"cannot note MongoDB sessions in {blocked}")


def test_unreadable_ledgers_of_dead_processes_are_removed_and_the_rest_released(
        mongo_uri, tmp_path):
    host = socket.gethostname()
    dead = [999_999_991, 999_999_992, 999_999_993]  # no such processes
    (tmp_path / f"{host}.{dead[0]}").write_text("not-a-uuid\n")
    (tmp_path / f"{host}.{dead[1]}").write_bytes(b"\xff\xfe")
    (tmp_path / f"{host}.{dead[2]}").write_text(uuid.uuid4().hex + "\n")
    (tmp_path / f"{host}.{dead[0] + 10}").mkdir()
    (tmp_path / f"{host}.{10**30}").write_text("no process has such an id\n")

    assert asyncio.run(_release(mongo_uri, tmp_path)) == 1
    assert list(tmp_path.iterdir()) == []


# Takes the write turn of `Patient/<key>` and dies holding it, with a session noted.
_KILLED_HOLDING_A_TURN = """
import asyncio, os, signal, sys, uuid
from pathlib import Path
from pymongo import AsyncMongoClient
from fhir_server.storage.session_ledger import SessionLedger
from fhir_server.storage.write_turns import WriteTurns

async def main():
    client = AsyncMongoClient(sys.argv[1])
    SessionLedger(Path(sys.argv[3])).note({"id": uuid.uuid4().bytes})
    async with WriteTurns(client[sys.argv[2]]["write_turns"]).turn([sys.argv[4]]):
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def test_the_write_turns_of_a_process_that_died_are_given_up(mongo_uri, database, tmp_path):
    """A turn is a lease of 30 s: held by a dead worker, its resource's writers waited it
    out (26-28 s in probe BO)."""
    from fhir_server.storage.write_turns import WriteTurns

    resource = f"Patient/{uuid.uuid4()}"
    killed = subprocess.run([sys.executable, "-c", _KILLED_HOLDING_A_TURN, mongo_uri,
                             database, str(tmp_path), resource],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    async def release_then_count() -> tuple[int, int]:
        client = AsyncMongoClient(mongo_uri)
        try:
            turns = client[database]["write_turns"]
            held = await turns.count_documents({"_id": resource})
            await release_dead(tmp_path, client, WriteTurns(turns).release_of)
            return held, await turns.count_documents({"_id": resource})
        finally:
            await client.close()

    assert asyncio.run(release_then_count()) == (1, 0)
