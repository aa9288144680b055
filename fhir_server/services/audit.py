"""The audit trail: one AuditEvent per request (IHE Basic Audit Log Patterns shape,
https://profiles.ihe.net/ITI/BALP/), never lost once the response is sent.

A write's AuditEvent is stored in the write's own MongoDB transaction (`audit_write`), so
an acknowledged write always has its record. Every other request's AuditEvent is appended
to the local spool (storage/audit_spool.py) before the response leaves, fsync'd within
SYNC_SECONDS, and drained to MongoDB in the background with retries for as long as MongoDB
is unreachable, also by the next process after a crash. Events get their ids when they
are made, so storing one twice is recognised and skipped.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from fhir_server.services.audit_events import Access, audit_event, patients_of
from fhir_server.services.background import cancel_all
from fhir_server.services.conditional_criteria import criteria_base
from fhir_server.services.health import CheckResult
from fhir_server.services.versions import (
    Version,
    stamp,
    storage_documents,
    utc_now,
    write_time,
)
from fhir_server.storage.audit_spool import AuditSpool, SpoolBatch
from fhir_server.storage.database import Database
from fhir_server.storage.resources import ResourceStore

log = logging.getLogger(__name__)
T = TypeVar("T")

SYNC_SECONDS = 0.1  # the longest an appended event waits for its fsync
GATHER_SECONDS = 0.25  # after storing a partial batch, the drainer waits for more events
READY_LAG_SECONDS = 60  # an older undrained event makes the spool check fail
_BATCH = 500
_RETRY_SECONDS = (0.5, 30)  # first and longest wait before storing again after a failure
_STOP_SECONDS = 5
_STANDBY_SECONDS = 2  # between a standby process's looks at whether anybody drains
_CLOSING_POLL_SECONDS = 0.1  # the drainer's, at shutdown, at whether a segment is still open
_LARGE_SPOOL_BYTES = 1024**3  # undrained bytes beyond which the drainer warns (every 10 min)
# the interaction of a batch entry, from the method of the version it wrote
_WRITES = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass
class RequestAudit:
    """The request being served, as the api layer describes it to the audit trail."""

    describe: Callable[[], Access]  # who, what and from where, as far as known by now
    event_id: str  # of the request's AuditEvent; also its X-Request-Id
    in_transaction: bool = False  # that event was stored in a write's transaction
    record: Callable[[Access], None] | None = None  # spools another event of the request
    request_id: str = ""  # its X-Request-Id, which every event of the request names


current_request: ContextVar[RequestAudit | None] = ContextVar("audit_request", default=None)


def audit_read_entry(interaction: str, entities: tuple[str, ...], query: str | None,
                     status: int, patients: tuple[str, ...] = ()) -> None:
    """Spool the AuditEvent of a read or search a batch or transaction entry made, as its
    own request would have left one (the request's event names the Bundle's request only)."""
    request = current_request.get()
    if request is None or request.record is None:
        return
    request.record(replace(request.describe(), interaction=interaction, entities=entities,
                           query=query, status=status, patients=patients))


async def audit_write(store: ResourceStore) -> None:
    """The AuditEvent of what `store`'s unit of work wrote, stored in the same transaction
    (call it last in the transaction's callback). It is the request's AuditEvent, so no
    other is spooled for a successful request; except in a batch, whose entries are
    interactions of their own, each in its own transaction
    (http://hl7.org/fhir/R4/http.html#brules), and which keeps its own event besides.
    Writes outside requests (demo data, `fhir-server load`) are not audited."""
    request = current_request.get()
    if request is None or not store.written:
        return
    access = request.describe()
    if access.interaction == "batch":
        access = replace(access, interaction=_WRITES.get(store.written[0][1].method, "batch"))
        event_id = str(uuid.uuid4())
    else:
        # A second committed write unit of one request gets an event of its own.
        if request.in_transaction and await store.current("AuditEvent", request.event_id):
            request.event_id = str(uuid.uuid4())
        request.in_transaction = True
        event_id = request.event_id
    written = tuple(dict.fromkeys(f"{kind}/{version.id}" for kind, version in store.written))
    patients = await _patients_written(store)
    now = write_time()  # committed with the versions, it carries their time
    event = audit_event(replace(access, status=None, entities=written, patients=patients), now,
                        event_id)
    await store.insert_versions("AuditEvent", [_documents(event, now)])


async def _patients_written(store: ResourceStore) -> tuple[str, ...]:
    """The patients whose data `store` wrote (BALP names them), also by this server's URL
    of the request (`criteria_base`); a deletion's, by the version it deleted."""
    found: dict[str, None] = {}
    for kind, version in store.written:
        resource = version.resource
        if version.deleted and version.vid > 1:
            previous = await store.version(kind, version.id, version.vid - 1)
            resource = previous.resource if previous is not None else None
        found.update(dict.fromkeys(patients_of(kind, resource, criteria_base.get() or "")))
    return tuple(found)


def _documents(event: dict, now: datetime) -> tuple[dict, dict]:
    resource_id = event["id"]
    return storage_documents(
        Version("AuditEvent", resource_id, 1, now, stamp(event, resource_id, 1, now), "POST")
    )


class AuditTrail:
    """The spool of this server's AuditEvents, and the task that drains it to MongoDB."""

    def __init__(self, database: Database, data_dir: Path, standby: bool = False):
        """`standby`: the audit drainer process drains the spool (`fhir_server.audit_drainer`);
        this process only while none does, and lets go of the spool after each drain."""
        self.database = database
        self.standby = standby
        self.spool = AuditSpool(data_dir / "audit-spool")
        self._appended = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._spool_work: set[asyncio.Future] = set()  # spool calls running in threads
        self._oldest: datetime | None = None  # recorded time of the oldest undrained event
        self._stored_at = 0.0  # monotonic time of the last successful drain
        self._warned_at = -600.0
        self._draining = False  # this process holds the spool's drainer lock
        self._appending = True  # False: the audit drainer process, which only drains

    def start(self, append: bool = True) -> None:
        """Open a new spool segment; fsync and drain in the background (also what earlier
        processes left behind). `append=False`: drain only (the audit drainer process)."""
        self._appending = append
        if append:
            self.spool.open()
            self._tasks.append(asyncio.create_task(self._sync_forever()))
        self._tasks.append(asyncio.create_task(self._drain_forever()))

    async def stop(self) -> None:
        """fsync the spool and drain what MongoDB takes within a few seconds; the rest is
        drained at the next start."""
        await cancel_all(self._tasks)
        # A cancelled task's thread runs on: the final drain must not race its commit.
        await asyncio.gather(*self._spool_work, return_exceptions=True)
        last_drain = self._drain_all() if self._appending else self._drain_until_closed()
        try:
            await asyncio.wait_for(last_drain, _STOP_SECONDS)
        except Exception:
            log.warning("audit spool not fully drained at shutdown; the next start drains it")
        await asyncio.to_thread(self.spool.close)

    def record(self, access: Access, event_id: str | None = None) -> None:
        """Spool the AuditEvent of a request: in the OS page cache when this returns."""
        event = audit_event(access, datetime.now(UTC), event_id or str(uuid.uuid4()))
        try:
            self.spool.append(event)
        except (OSError, RuntimeError) as error:
            # A full or failing disk: the log is the only place left for the record.
            log.error("audit spool write failed (%s); AuditEvent: %s", error, event)
            return
        self._appended.set()

    async def spool_check(self) -> CheckResult:
        """Readiness: the spool drains (no event waits longer than READY_LAG_SECONDS, or
        the last batch was stored just now)."""
        if not self._tasks:
            return CheckResult(False, "the audit trail has not started")
        if self.standby and not self._draining:
            # What the drainer process does, as the spool shows it.
            oldest = _recorded(await self._in_thread(self.spool.oldest_pending))
            stored_at = await self._in_thread(self.spool.last_commit)
            return _lag_check(oldest, stored_at is not None and time.time() - stored_at < 5)
        if not self._draining:
            return CheckResult(True, "drained by another server process on this data directory")
        return _lag_check(self._oldest, time.monotonic() - self._stored_at < 5)

    async def _sync_forever(self) -> None:
        delay = SYNC_SECONDS
        while True:
            await asyncio.sleep(delay)
            if not self.spool.dirty:
                continue
            try:
                await self._in_thread(self.spool.sync)
            except OSError as error:  # a failing disk: keep trying, less often
                log.error("audit spool fsync failed (%s); retrying", error)
                delay = min(delay * 2, _RETRY_SECONDS[1])
            else:
                delay = SYNC_SECONDS

    async def _drain_forever(self) -> None:
        delay = _RETRY_SECONDS[0]
        while True:
            try:
                await self._drain_once()
            except Exception as error:  # MongoDB unreachable (or the disk failing): retry
                log.warning("draining the audit spool failed (%s); retrying in %.1f s",
                            error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_SECONDS[1])
            else:
                delay = _RETRY_SECONDS[0]

    async def _drain_once(self) -> None:
        """Store one batch, or wait for events to be appended."""
        if self.standby:
            await self._drain_if_unattended()
            return
        self._draining = self.spool.become_drainer()
        if not self._draining:  # another process drains; take over if it stops
            await asyncio.sleep(2)
            return
        self._appended.clear()  # before reading: an append from now on wakes the wait below
        batch = await self._in_thread(self.spool.pending, _BATCH)
        self._oldest = _recorded(batch.records[0] if batch.records else None)
        self._warn_if_large(batch)
        if batch.offsets:
            await self._store(batch)
            if len(batch.records) < _BATCH:
                # Under load, one transaction per GATHER_SECONDS stores every event spooled
                # meanwhile, instead of one per request.
                await asyncio.sleep(GATHER_SECONDS)
            return
        # Also wakes up now and then for segments other processes append to.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._appended.wait(), 1)

    async def _drain_all(self) -> None:
        if not self.spool.become_drainer():
            return
        while (batch := await self._in_thread(self.spool.pending, _BATCH)).offsets:
            await self._store(batch)

    async def _drain_until_closed(self) -> None:
        """The audit drainer's last drain. Stopped together with the server processes (a
        service manager's SIGTERM to their process group), it also takes what they spool
        until they close their segments, then deletes those."""
        if not self.spool.become_drainer():
            return
        await self._drain_all()
        while await self._in_thread(self.spool.being_written):
            await asyncio.sleep(_CLOSING_POLL_SECONDS)
            await self._drain_all()
        await self._in_thread(self.spool.commit, SpoolBatch())

    async def _drain_if_unattended(self) -> None:
        """Standby: now and then, drain what is pending if no other process drains, then
        let go of the spool, for the drainer process to take it back once it runs again."""
        await asyncio.sleep(_STANDBY_SECONDS)
        try:
            self._draining = self.spool.become_drainer()
            if self._draining:
                await self._drain_all()
        finally:
            self.spool.resign()
            self._draining = False

    async def _in_thread(self, function: Callable[..., T], *args: object) -> T:
        """Run blocking spool work in a thread that `stop` waits for, even after the task
        that started it was cancelled."""
        work = asyncio.ensure_future(asyncio.to_thread(function, *args))
        self._spool_work.add(work)
        work.add_done_callback(self._spool_work.discard)
        return await asyncio.shield(work)

    async def _store(self, batch: SpoolBatch) -> None:
        """Store the batch's events, skipping those already stored (by an earlier drain that
        stopped before its commit, or by the transaction of the write they record). Not in a
        transaction: one left open by a killed drainer would hold its events' ids locked
        against the next drainer for MongoDB's transaction lifetime (60 s and more)."""
        if batch.records:
            now = utc_now()
            await self.database.store().insert_versions(
                "AuditEvent", [_documents(event, now) for event in batch.records])
        await self._in_thread(self.spool.commit, batch)
        self._stored_at = time.monotonic()

    def _warn_if_large(self, batch: SpoolBatch) -> None:
        """The spool has no size limit (no event is ever dropped); a large one is logged."""
        if batch.undrained_bytes > _LARGE_SPOOL_BYTES and time.monotonic() - self._warned_at > 600:
            self._warned_at = time.monotonic()
            log.error("the audit spool holds %d MiB not yet stored in MongoDB",
                      batch.undrained_bytes // 2**20)


def _recorded(record: dict | None) -> datetime | None:
    if record is None:
        return None
    try:
        return datetime.fromisoformat(record["recorded"])
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def _lag_check(oldest: datetime | None, stored_recently: bool) -> CheckResult:
    """Ready unless the oldest waiting event (recorded at `oldest`) waited longer than
    READY_LAG_SECONDS and no batch was stored just now."""
    if oldest is None:
        return CheckResult(True, "drained")
    lag = (datetime.now(UTC) - oldest).total_seconds()
    if lag <= READY_LAG_SECONDS or stored_recently:
        return CheckResult(True, f"draining, oldest waiting event {lag:.0f} s old")
    return CheckResult(False, f"AuditEvents wait {lag:.0f} s for MongoDB (spooled, not lost)")
