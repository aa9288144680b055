"""The MongoDB sessions a server process runs transactions in, noted in the data directory,
so that once the process has died another one ends them (`release_dead`). MongoDB keeps a
dead client's transaction open until its lifetime runs out (transactionLifetimeLimitSeconds,
60 s by default; a write after one waited 90 s here), holding what it wrote locked: a
worker killed in the middle of a write held every write of the same resources as long."""

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from bson import Binary
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

SESSIONS_DIRECTORY = "mongo-sessions"  # in the data directory
RELEASE_SECONDS = 10  # between looks for the sessions of processes that died
_HOST = socket.gethostname()


class SessionLedger:
    """This process's file of session ids (one per line, as hex): pymongo reuses a few
    server sessions, so a process notes only a handful."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.path = directory / this_process()
        self._noted: set[bytes] = set()
        self._failed = False  # a note could not be written (logged once)

    def note(self, session_id: Mapping) -> None:
        """Note the session (`ClientSession.session_id`) before its transaction writes. A
        ledger that cannot be written (a full or read-only disk) costs only its recovery,
        never the write: logged once."""
        lsid = bytes(session_id["id"])
        if lsid in self._noted:
            return
        self._noted.add(lsid)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="ascii") as ledger:
                ledger.write(uuid.UUID(bytes=lsid).hex + "\n")
        except OSError as error:
            if not self._failed:
                log.warning("cannot note MongoDB sessions in %s (%s): if this process dies "
                            "in a transaction, its writes stay locked for MongoDB's "
                            "transaction lifetime", self.directory, error)
            self._failed = True


def this_process() -> str:
    """`<host>.<pid>`: what a ledger, and a lease a process holds, are named by."""
    return f"{_HOST}.{os.getpid()}"


async def release_dead(directory: Path, client: AsyncMongoClient,
                       also: Callable[[str], Awaitable[object]] | None = None) -> int:
    """End the sessions (and abort the transactions) of the processes of the data directory
    that are no longer running, then `also(process)` (`this_process` of each: what else it
    held); how many sessions were ended. A ledger that cannot be read (cut short by a
    crash, not a file) is logged and removed."""
    ended = 0
    for ledger in await asyncio.to_thread(_ledgers_of_the_dead, directory):
        try:
            lsids = [{"id": Binary.from_uuid(uuid.UUID(line))}
                     for line in ledger.read_text(encoding="ascii").split()]
        except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
            log.warning("the MongoDB session ledger %s cannot be read (%s): removed", ledger,
                        error)
            _remove(ledger)
            continue
        try:
            if lsids:
                await client.admin.command("killSessions", lsids)
            if also is not None:
                await also(ledger.name)
        except PyMongoError as error:  # unreachable: the next look tries again
            log.warning("could not end the MongoDB sessions of process %s: %s", ledger.name,
                        error)
            continue
        _remove(ledger)
        ended += len(lsids)
    return ended


async def release_forever(directory: Path, client: AsyncMongoClient,
                          also: Callable[[str], Awaitable[object]] | None = None) -> None:
    """`release_dead` now, then every RELEASE_SECONDS (a worker of `serve --workers` may die
    while the others run)."""
    while True:
        try:
            if ended := await release_dead(directory, client, also):
                log.warning("ended %d MongoDB sessions of server processes that died", ended)
        except Exception:  # whatever it is, the next look tries again
            log.exception("looking for the MongoDB sessions of dead server processes failed")
        await asyncio.sleep(RELEASE_SECONDS)


def _remove(ledger: Path) -> None:
    with contextlib.suppress(OSError):
        if ledger.is_dir():
            shutil.rmtree(ledger)
        else:
            ledger.unlink(missing_ok=True)


def _ledgers_of_the_dead(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    # Of this host only: a process id means nothing on another that shares the directory.
    return [ledger for ledger in directory.iterdir()
            if (pid := ledger.name.removeprefix(f"{_HOST}.")).isdigit()
            and pid != ledger.name and not _running(int(pid))]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # none, or no process id at all
        return False
    except PermissionError:  # another user's: running
        return True
    return True
