"""Turns to write a resource, shared by every server process on the database (README
"Storage layout": `write_turns`).

A write signed by a person runs twice around a request to the signing service
(`services.signing_rounds`); a writer of the same resource committing in between makes its
signatures stale. Writers of one resource therefore take turns from the signing on: a turn
is a lease document per `Type/id`. Correctness never depends on it (the transaction does
that); a lease only makes concurrent writers wait instead of failing. So a lease expires
(its holder may have died), and a writer that waited too long goes on without one.
"""

import asyncio
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from fhir_server.storage.session_ledger import this_process

# Longer than a signing request normally takes; after it another writer may take the turn.
LEASE = timedelta(seconds=30)
# How long a writer waits for its turn before going on without it.
WAIT_SECONDS = 30.0
_POLL_SECONDS = (0.005, 0.025)


class WriteTurns:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    @asynccontextmanager
    async def turn(self, resources: Iterable[str]) -> AsyncIterator[None]:
        """Hold the turn to write these resources (`Type/id`); taken in one order, so two
        writers of overlapping sets cannot wait for each other forever."""
        holder = f"{this_process()}.{uuid.uuid4().hex}"
        keys = sorted(set(resources))
        taken: list[str] = []
        try:
            if await self._take_all(keys, holder):
                taken = keys
            else:  # contended: one by one, in order, waiting for each
                for key in keys:
                    if not await self._take(key, holder):
                        break
                    taken.append(key)
            yield
        finally:
            if taken:
                await self.collection.delete_many({"_id": {"$in": taken}, "holder": holder})

    async def release_of(self, process: str) -> None:
        """Give up the turns a process that died held (`this_process` of it): they would
        hold its resources' writers until their lease ran out (30 s)."""
        await self.collection.delete_many({"holder": {"$regex": f"^{re.escape(process)}\\."}})

    async def _take_all(self, keys: list[str], holder: str) -> bool:
        """Take every lease in one round trip (the usual case: nobody else writes them);
        if any is held (or expired but not yet taken over), take none."""
        until = datetime.now(UTC) + LEASE
        try:
            await self.collection.insert_many(
                [{"_id": key, "holder": holder, "until": until} for key in keys], ordered=False)
            return True
        except BulkWriteError:
            await self.collection.delete_many({"_id": {"$in": keys}, "holder": holder})
            return False

    async def _take(self, key: str, holder: str) -> bool:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            now = datetime.now(UTC)
            try:
                # Matches an expired lease, or none (then inserts): a live lease is a
                # duplicate _id.
                await self.collection.update_one(
                    {"_id": key, "until": {"$lt": now}},
                    {"$set": {"holder": holder, "until": now + LEASE}},
                    upsert=True,
                )
                return True
            except DuplicateKeyError:
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(random.uniform(*_POLL_SECONDS))
