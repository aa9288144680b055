"""Connecting to MongoDB and running units of work in transactions."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError, ServerSelectionTimeoutError

from fhir_server.errors import Conflict, ServiceUnavailable
from fhir_server.storage.coalesced_finds import CoalescedFinds
from fhir_server.storage.coalesced_reads import CoalescedReads
from fhir_server.storage.decimals import DECIMALS
from fhir_server.storage.indexes import IndexPlan, ensure_indexes
from fhir_server.storage.metrics import CommandCounter
from fhir_server.storage.open_transactions import begin
from fhir_server.storage.resources import WITHOUT_INDEX, ResourceStore, UnpreparedType
from fhir_server.storage.session_ledger import SessionLedger
from fhir_server.storage.signature_chains import SignatureChains
from fhir_server.storage.single_versions import SINGLE_VERSION_TYPES
from fhir_server.storage.write_turns import WriteTurns

T = TypeVar("T")

# pymongo's errors for "no MongoDB server to talk to": ServerSelectionTimeoutError, AutoReconnect
# (also NotPrimaryError), NetworkTimeout and WaitQueueTimeoutError are all ConnectionFailures.
# The api layer answers them with `unavailable()`.
DatabaseUnreachable = ConnectionFailure
# What a client is told to wait before trying again while the database is unreachable.
RETRY_AFTER_SECONDS = 5
# How long a transaction is tried again after write conflicts before the request is 409.
CONFLICTS_FOR_SECONDS = 30.0


def unavailable(reason: str = "no MongoDB primary is reachable") -> ServiceUnavailable:
    """The 503 for a request that found no database to work on; `reason` is sent to the
    client, so it names no host (pymongo's messages describe the whole topology)."""
    return ServiceUnavailable(
        f"The database is unavailable ({reason}); try again later",
        retry_after=RETRY_AFTER_SECONDS,
    )


class Database:
    """One MongoDB database of this server; owns the client for the app's lifetime.

    A resource type's collections and indexes are made when it is first written (DESIGN.md
    §7), not for every type at start-up; `prepared` holds the types this process has
    reconciled.
    """

    def __init__(
        self, uri: str, name: str, index_plan: IndexPlan, server_selection_timeout: float = 5.0
    ):
        # Without a primary, an operation fails after the server selection timeout (then
        # 503) instead of pymongo's default 30 s. No socket timeout: an index build at
        # start-up may rightly take minutes on a large collection.
        timeout_ms = int(server_selection_timeout * 1000)
        self.client: AsyncMongoClient = AsyncMongoClient(
            uri,
            tz_aware=True,
            uuidRepresentation="standard",
            type_registry=DECIMALS,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            event_listeners=[CommandCounter()],  # round trips, for /metrics
            # An acknowledged write survives a failover whatever the cluster's default write
            # concern (w:1 on a set with an arbiter); writes are retried once after one.
            w="majority",
            retryWrites=True,
        )
        self.db: AsyncDatabase = self.client[name]
        self.index_plan = index_plan
        self.prepared: set[str] = set()
        self.chains = SignatureChains(self.db)
        self.write_turns = WriteTurns(self.db["write_turns"])
        self._reads: dict[str, CoalescedReads] = {}  # by collection
        self._finds = CoalescedFinds(self.db)
        self._preparing = asyncio.Lock()
        # Why the database is known to be down (the embedded mongod is being restarted),
        # so that requests fail at once rather than after a server selection timeout.
        self.outage: str | None = None
        # Where a server process notes the sessions of its transactions (None: nowhere).
        self.ledger: SessionLedger | None = None
        # The time the queries of a store outside transactions may take together
        # (FHIR_SEARCH_TIME_LIMIT_SECONDS; None: no limit): a store is made for one search
        # (or read). A transaction's reads are bounded by its own lifetime, and a write is
        # not refused half-way for a read.
        self.query_millis: int | None = None

    def report_outage(self, reason: str | None) -> None:
        """Called by whoever watches the database: `reason` while down, None once back."""
        self.outage = reason

    async def ping(self, timeout: float) -> None:
        """Raise ServiceUnavailable unless a primary answers a ping within `timeout` s."""
        if self.outage is not None:
            raise unavailable(self.outage)
        try:
            with pymongo.timeout(timeout):
                # Commands go to the primary: a secondary alone does not answer.
                await self.client.admin.command("ping")
        except PyMongoError:
            raise unavailable(f"no primary answered a ping within {timeout:g} s") from None

    async def prepare(self) -> None:
        """Reconcile the indexes of the resource types already stored."""
        for resource_type in await self.stored_types():
            await self.prepare_type(resource_type)

    async def prepare_type(self, resource_type: str) -> None:
        """Make a type's collections and indexes if this process has not yet."""
        if resource_type in self.prepared:
            return
        keys = self.index_plan(resource_type)
        if keys is None:
            raise ValueError(f"{resource_type} is not a resource type")
        async with self._preparing:
            if resource_type not in self.prepared:
                await ensure_indexes(self.db, resource_type, keys,
                                     history=resource_type not in SINGLE_VERSION_TYPES)
                self.prepared.add(resource_type)

    async def stored_types(self) -> list[str]:
        """The resource types that have collections, in any server process."""
        names = await self.db.list_collection_names()
        return sorted(name for name in names if self.index_plan(name) is not None)

    async def close(self) -> None:
        await self.client.close()

    def store(self, timed: bool = True) -> ResourceStore:
        """A store outside any transaction, for one search or read: its queries together
        within `query_millis` from now, unless not `timed` (background work: re-indexing,
        export jobs)."""
        return ResourceStore(self.db, None, self.prepared, self.chains, self.prepare_type,
                             self._read_by_id, self._finds.find,
                             self.query_millis if timed else None)

    async def _read_by_id(self, resource_type: str, resource_id: str) -> dict | None:
        reads = self._reads.get(resource_type)
        if reads is None:
            reads = self._reads[resource_type] = CoalescedReads(self.db, resource_type,
                                                                WITHOUT_INDEX)
        return await reads.find(resource_id)

    @asynccontextmanager
    async def transaction_session(self) -> AsyncIterator[AsyncClientSession]:
        """A session to run transactions in, noted in the ledger (`session_ledger`)."""
        async with self.client.start_session() as session:
            if self.ledger is not None:
                self.ledger.note(session.session_id)
            yield session

    async def in_transaction(self, work: Callable[[ResourceStore], Awaitable[T]]) -> T:
        """Run `work` in one multi-document transaction, retried on transient conflicts.

        `work` may run more than once, so it must not have side effects outside the store.
        A first write of a type aborts the transaction (indexes cannot be built inside
        one), prepares the type and runs `work` again.
        """
        attempts, began = 0, time.monotonic()
        async with self.transaction_session() as session:

            async def callback(session_) -> T:
                nonlocal attempts
                attempts += 1
                if attempts > 1 and time.monotonic() - began > CONFLICTS_FOR_SECONDS:
                    # pymongo would retry for 120 s, then raise the last conflict as a
                    # NetworkTimeout (a 503 "unreachable"): a Bundle writing a resource that
                    # others keep changing never gets through while they do.
                    raise Conflict(
                        "A resource this request writes kept changing by other writes: its "
                        f"transaction was tried {attempts - 1} times in "
                        f"{time.monotonic() - began:.0f} s; try again")
                try:
                    # Listed as open (`$currentOp`) before `work` stamps a version in it.
                    await begin(self.db, session_)
                    store = ResourceStore(self.db, session_, self.prepared, self.chains)
                    result = await work(store)
                    await store.flush()
                    return result
                except ServerSelectionTimeoutError:
                    # pymongo labels it transient, and `with_transaction` would retry it for
                    # 120 s: no primary for a whole selection timeout is a 503 now. (An
                    # election, AutoReconnect, is still retried.)
                    raise unavailable() from None

            while True:
                try:
                    return await session.with_transaction(callback)
                except UnpreparedType as unprepared:
                    await self.prepare_type(unprepared.resource_type)
                    # No conflict: the bound is on conflicts, not on a Bundle's new types,
                    # each of which runs the work again (a Synthea Bundle of 16 types into a
                    # new database went past it on a busy machine: 409 with no other writer).
                    attempts, began = 0, time.monotonic()

    async def holds_any(self, resource_type: str) -> bool:
        """Whether a resource of the type is stored, current or deleted."""
        return await self.db[resource_type].find_one({}, {"_id": 1}) is not None

    async def holds_stale(self, resource_type: str, index_version: str,
                          since: datetime | None = None) -> bool:
        """Whether a live resource of the type (written `since`, if given: a lookup in the
        `lastUpdated` index) holds search entries of other definitions or extraction code
        than `index_version`'s (stored by another release)."""
        stale: dict = {"indexVersion": {"$ne": index_version}, "deleted": False}
        if since is not None:
            stale["lastUpdated"] = {"$gte": since}
        return await self.db[resource_type].find_one(stale, {"_id": 1}) is not None

    async def flag(self, name: str) -> bool:
        return await self.db["server_settings"].find_one({"_id": name}) is not None

    async def set_flag(self, name: str, at: datetime | None = None) -> None:
        """Set the flag, recording `at` (when what it says held) if given."""
        await self.db["server_settings"].update_one(
            {"_id": name}, {"$set": {"value": True, **({"at": at} if at else {})}}, upsert=True
        )

    async def flag_time(self, name: str) -> datetime | None:
        """The `at` a flag was set with; None if unset or set without one."""
        document = await self.db["server_settings"].find_one({"_id": name})
        return None if document is None else document.get("at")

    async def clear_flag(self, name: str) -> None:
        await self.db["server_settings"].delete_one({"_id": name})

    async def server_setting(self, key: str, default_factory: Callable[[], T]) -> T:
        """A value shared by every server process (e.g. the cursor signing key): the one the
        first process made with `default_factory`."""
        settings = self.db["server_settings"]
        await settings.update_one(
            {"_id": key}, {"$setOnInsert": {"value": default_factory()}}, upsert=True
        )
        document = await settings.find_one({"_id": key})
        assert document is not None, "the upsert above made it"
        return document["value"]
