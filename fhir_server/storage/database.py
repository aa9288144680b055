"""Connecting to MongoDB and running units of work in transactions."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.storage.indexes import IndexPlan, ensure_indexes
from fhir_server.storage.resources import ResourceStore

T = TypeVar("T")


class Database:
    """One MongoDB database of this server; owns the client for the app's lifetime."""

    def __init__(self, uri: str, name: str, index_plan: IndexPlan):
        self.client: AsyncMongoClient = AsyncMongoClient(
            uri, tz_aware=True, uuidRepresentation="standard"
        )
        self.db: AsyncDatabase = self.client[name]
        self.index_plan = index_plan

    async def prepare(self) -> None:
        await ensure_indexes(self.db, self.index_plan)

    async def close(self) -> None:
        await self.client.close()

    def store(self) -> ResourceStore:
        """A store outside any transaction (reads)."""
        return ResourceStore(self.db, session=None)

    async def in_transaction(self, work: Callable[[ResourceStore], Awaitable[T]]) -> T:
        """Run `work` in one multi-document transaction, retried on transient conflicts.

        `work` may run more than once, so it must not have side effects outside the store.
        """
        async with self.client.start_session() as session:

            async def callback(session_) -> T:
                return await work(ResourceStore(self.db, session=session_))

            return await session.with_transaction(callback)

    async def flag(self, name: str) -> bool:
        return await self.db["server_settings"].find_one({"_id": name}) is not None

    async def set_flag(self, name: str) -> None:
        await self.db["server_settings"].update_one(
            {"_id": name}, {"$set": {"value": True}}, upsert=True
        )

    async def server_setting(self, key: str, default_factory: Callable[[], object]) -> object:
        """A value shared by every server process (e.g. the cursor signing key)."""
        settings = self.db["server_settings"]
        await settings.update_one(
            {"_id": key}, {"$setOnInsert": {"value": default_factory()}}, upsert=True
        )
        return (await settings.find_one({"_id": key}))["value"]
