"""Reads by id outside transactions, sent to MongoDB together when several wait at once.

Under load most of a read's cost is the driver's per-command work (building the command,
its cursor, the round trip), not the document. While one `find` is in flight, the reads by
id that arrive meanwhile wait and go as one `find` with `$in` when it returns: one command
for many reads, and no added wait for a read that arrives alone. A read joins only a query
not yet sent, so it sees every write acknowledged before it started, as its own `find_one`
would.
"""

import asyncio
import copy
from collections.abc import Iterable, Mapping

from pymongo.asynchronous.database import AsyncDatabase

# Ids per query: the rest wait for the next one, so one query's reply stays small.
_BATCH = 64


class CoalescedReads:
    """The current documents of one collection by id, for one event loop."""

    def __init__(self, db: AsyncDatabase, collection: str, projection: Mapping[str, int]):
        self._collection = db[collection]
        self._projection = projection
        self._waiting: dict[str, list[asyncio.Future[dict | None]]] = {}
        self._sender: asyncio.Task[None] | None = None

    async def find(self, resource_id: str) -> dict | None:
        """The document of `resource_id`, or None. The caller owns it (each gets a copy)."""
        future: asyncio.Future[dict | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(resource_id, []).append(future)
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_while_waiting())
        return await future

    async def _send_while_waiting(self) -> None:
        try:
            while self._waiting:
                ids = list(self._waiting)[:_BATCH]
                batch = {resource_id: self._waiting.pop(resource_id) for resource_id in ids}
                try:
                    found = {document["_id"]: document async for document in
                             self._collection.find({"_id": {"$in": ids}}, self._projection,
                                                   limit=len(ids))}
                except BaseException as error:  # each read fails as its own find_one would
                    _fail(batch.values(), error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for resource_id, futures in batch.items():
                    document = found.get(resource_id)
                    # Readers may change what they get (signature chains put back): each
                    # other reader of the same one gets a copy, made in a worker thread (8
                    # readers of a 10 MB resource held the event loop for seconds).
                    copies = ([] if document is None or len(futures) == 1 else
                              await asyncio.to_thread(_copies, document, len(futures) - 1))
                    for future, answer in zip(futures, [document, *copies], strict=False):
                        if not future.done():
                            future.set_result(answer)
                    for future in futures[1 + len(copies):]:  # none found: none for each
                        if not future.done():
                            future.set_result(None)
        finally:
            self._sender = None
            if self._waiting:  # stopped (cancelled) with reads still waiting
                _fail(self._waiting.values(), asyncio.CancelledError())
                self._waiting.clear()


def _copies(document: dict, count: int) -> list[dict]:
    return [copy.deepcopy(document) for _ in range(count)]


def _fail(waiting: Iterable[list[asyncio.Future[dict | None]]], error: BaseException) -> None:
    for futures in waiting:
        for future in futures:
            if future.done():
                continue
            if isinstance(error, Exception):
                future.set_exception(error)
            else:
                future.cancel()
