"""Searches outside transactions, sent to MongoDB together when several wait at once.

A search's `find` costs the driver about as much CPU as everything else the server does for
a small search (building the command and its cursor, two tasks per reply), and mongod some
more. While a `find` is in flight, the searches that arrive meanwhile wait, and go as one
`aggregate`: each search one `$unionWith` of its own `$match`, `$sort`, `$limit` and
`$project`. A search that arrives alone goes at once
as its own `find`; one that waits, waits at most `_WAIT_AT_MOST` (a slow search in flight
does not hold the others back longer). Only searches narrowed by an equality wait
(`narrowed`): the others, which may be slow, go alone at once. A search joins only a query
not yet sent, so it sees every write acknowledged before it started, as its own `find`
would.

The union answers its branches in order, each in its sort order and followed by a small
document of its own that ends it (tagging each document instead cost mongod a rewrite of
it, and this process a decoding). A page ends early when its documents reach its byte
budget (`Find.keeps`); the union is then closed, as a `find` would be, and the branches
after it are sent again without it, so no page's rest is read.
A union that fails (a command error, or a command over MongoDB's 16 MiB that searches of
large filters add up to) is sent again branch by branch: each search gets its own answer or
error.
"""

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DocumentTooLarge, OperationFailure

from fhir_server.conformance.costly_work import in_costly_thread
from fhir_server.errors import TooCostly
from fhir_server.storage import query_time

log = logging.getLogger(__name__)

# The values of an `$in` that still narrows a search to an index lookup each.
_SHORT_IN = 64
# Searches per union: the rest go in the next one.
_BATCH = 16
# MongoDB's "Unrecognized pipeline stage name".
_UNKNOWN_STAGE = 40324
# Documents of a page decoded on the event loop, up to this size together.
_DECODED_ON_THE_LOOP = 1024 * 1024
# A cursor's first reply without a limit (MongoDB's default).
_FIRST_BATCH = 101
# The longest a search waits for the query in flight before it is sent anyway (seconds).
_WAIT_AT_MOST = 0.002


def narrowed(query: dict) -> bool:
    """Whether a filter narrows its search by an equality (or a short `$in`) on a field, as
    an identifier, a reference, a token or an id does, or by an `$or` of such: index
    lookups. Only such searches wait for a union, which answers when its slowest branch is
    done: one scanning a range or the collection (an unanchored `:contains`, a date range
    alone, a chain matching thousands) goes alone at once, and holds no faster search
    back."""
    for name, condition in query.items():
        if name == "$and" and isinstance(condition, list):
            if any(isinstance(part, dict) and narrowed(part) for part in condition):
                return True
        elif name == "$or" and isinstance(condition, list) and condition:
            # Lookups each (a chain's: of stored targets, or of contained ones).
            if all(isinstance(part, dict) and narrowed(part) for part in condition):
                return True
        elif name.startswith("$") or name == "deleted" or condition is None:
            continue
        elif not isinstance(condition, dict) or (
                set(condition) == {"$in"} and isinstance(condition["$in"], list)
                and len(condition["$in"]) <= _SHORT_IN
                and all(isinstance(value, str | int) for value in condition["$in"])):
            return True
    return False


def keep_all(size: int, first: bool) -> bool:
    return True


def raw_documents(db: AsyncDatabase) -> AsyncDatabase:
    """`db` whose reads give each document as its BSON (`RawBSONDocument`), for a `Page`:
    the driver decodes a reply's documents at once, on the event loop."""
    return db.with_options(
        codec_options=db.codec_options.with_options(document_class=RawBSONDocument))


# The raw collections made, by database and name, each with its database (held, so that its
# id names no other while the entry lives): making one per search cost the driver about 2% of
# a small search's CPU. Databases live as long as their server.
_raw_collections: dict[tuple[int, str], tuple[AsyncDatabase, AsyncCollection]] = {}


def raw_collection(db: AsyncDatabase, name: str) -> AsyncCollection:
    """The collection `name` of `raw_documents(db)`."""
    known = _raw_collections.get((id(db), name))
    if known is None:
        known = _raw_collections[id(db), name] = (db, raw_documents(db)[name])
    return known[1]


@dataclass
class Find:
    """One search's query: the current, non-deleted documents it reads, at most `limit`."""
    collection: str
    filter: dict
    projection: Mapping[str, int] | None
    sort: Sequence[tuple[str, int]]
    limit: int
    # Whether the page keeps a document of this many bytes (True: its first): False ends it.
    keeps: Callable[[int, bool], bool] = keep_all
    # When its query must be done (`time.monotonic()`, `query_time`); None: no limit. What
    # is left then is its `maxTimeMS`, also when it is sent again alone after a union.
    ends: float | None = None


@dataclass
class Page:
    documents: list[RawBSONDocument] = field(default_factory=list)
    size: int = 0  # bytes of BSON
    cut: bool = False  # ended by `Find.keeps`, with documents left unread

    async def decoded(self, options: CodecOptions) -> list[dict]:
        """The documents decoded: off the event loop when large (13 MB took it 0.1 s), in a
        thread for costly work."""
        if self.size < _DECODED_ON_THE_LOOP:
            return _decode(self.documents, options)
        return await in_costly_thread(_decode, self.documents, options)

    def take(self, find: Find, document: RawBSONDocument) -> bool:
        """Add the document unless the page's budget ends it (then it is cut)."""
        if not find.keeps(len(document.raw), not self.documents):
            self.cut = True
            return False
        self.add(document)
        return True

    def add(self, document: RawBSONDocument) -> None:
        self.documents.append(document)
        self.size += len(document.raw)


class _OutOfOrder(Exception):
    """The union answered a branch after a later one (not seen in MongoDB 6 to 8)."""


Waiting = tuple[Find, asyncio.Future[Page]]


class CoalescedFinds:
    """The finds of one database, for one event loop."""

    def __init__(self, db: AsyncDatabase):
        self._db = raw_documents(db)
        self._queue: list[Waiting] = []
        self._in_flight = 0
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._unions = True  # False once MongoDB refused one (a version without them)

    async def find(self, find: Find) -> Page:
        if not narrowed(find.filter):
            return await read_page(self._db, find)
        future: asyncio.Future[Page] = asyncio.get_running_loop().create_future()
        self._queue.append((find, future))
        if self._in_flight == 0:
            self._send_queued()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(_WAIT_AT_MOST, self._send_queued)
        return await future

    def _send_queued(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._queue:
            return
        batch, self._queue = self._queue[:_BATCH], self._queue[_BATCH:]
        self._in_flight += 1
        task = asyncio.create_task(self._send(batch))
        self._sending.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Waiting]) -> None:
        try:
            await self._answer(batch)
        finally:
            self._in_flight -= 1
            self._send_queued()
            for _, future in batch:
                if not future.done():
                    future.cancel()

    async def _answer(self, batch: list[Waiting]) -> None:
        while batch := [(find, future) for find, future in batch if not future.done()]:
            if len(batch) == 1 or not self._unions:
                await self._each_alone(batch)
                return
            try:
                pages = await self._read_union([find for find, _ in batch])
            except (OperationFailure, DocumentTooLarge, _OutOfOrder) as failure:
                if isinstance(failure, OperationFailure) and failure.code == _UNKNOWN_STAGE:
                    self._unions = False  # MongoDB before 5.1: no `$documents`
                    log.warning("MongoDB has no $documents stage (5.1): searches waiting at "
                                "the same time are sent one by one")
                await self._each_alone(batch)
                return
            except Exception as error:  # the database unreachable: every search's error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                return
            for (_, future), page in zip(batch, pages, strict=False):
                if not future.done():
                    future.set_result(page)
            batch = batch[len(pages):]

    async def _each_alone(self, batch: list[Waiting]) -> None:
        """Each search by a find of its own, at the same time: its own page or error."""
        await asyncio.gather(*(_settle(future, read_page(self._db, find))
                               for find, future in batch))

    async def _read_union(self, finds: list[Find]) -> list[Page]:
        """The pages of the branches up to the first one cut (or all)."""
        pipeline: list[dict] = [{"$documents": []}]
        for branch, find in enumerate(finds):
            pipeline += [{"$unionWith": {"coll": find.collection, "pipeline": find_stages(find)}},
                         {"$unionWith": {"pipeline": [{"$documents": [_end(branch)]}]}}]
        pages = [Page()]
        # All in the first reply if they fit in its 16 MiB, as a find of one page is; one
        # more than they can be, or mongod keeps the cursor of a full reply open for a getMore.
        replies = sum(find.limit or _FIRST_BATCH for find in finds) + len(finds) + 1
        # Each branch has the time of its own find: the union, that of the slowest (a union
        # stopped is sent again branch by branch, each with what is left of its time).
        ends = [find.ends for find in finds]
        cursor = await self._db.aggregate(pipeline, batchSize=replies, **query_time.options(
            None if None in ends else query_time.left_of(max(end or 0 for end in ends))))
        try:
            async for document in cursor:
                if len(document.raw) == _END_SIZE and document.raw in _ENDS:
                    if _ENDS[document.raw] != len(pages) - 1:
                        raise _OutOfOrder
                    pages.append(Page())
                elif not pages[-1].take(finds[len(pages) - 1], document):
                    return pages
        finally:
            await cursor.close()
        if len(pages) != len(finds) + 1:
            raise _OutOfOrder
        return pages[:-1]


async def read_page(db: AsyncDatabase, find: Find,
                    session: AsyncClientSession | None = None) -> Page:
    """One search's page by a `find` of its own (in the session's transaction, if any)."""
    page = Page()
    cursor = raw_collection(db, find.collection).find(
        find.filter, find.projection, session=session).max_time_ms(
            query_time.left_of(find.ends))
    try:
        with within_command_limit():
            async for document in cursor.sort(list(find.sort)).limit(find.limit):
                if not page.take(find, document):
                    break
    finally:
        await cursor.close()
    return page


@contextmanager
def within_command_limit() -> Iterator[None]:
    """A query over MongoDB's 16 MiB command limit, which the driver refuses before sending
    it (chains or `_has` matching thousands of resources each, many of them), is 400
    too-costly: the client can narrow it down."""
    try:
        yield
    except DocumentTooLarge:
        raise TooCostly("The search's MongoDB query is over its 16 MiB limit: its chained or "
                        "_has parameters match too many resources together (or its values "
                        "are too long); narrow it down") from None


def find_stages(find: Find) -> list[dict]:
    stages: list[dict[str, Any]] = [{"$match": find.filter}, {"$sort": dict(find.sort)}]
    if find.limit:  # as a find's, 0 is no limit
        stages.append({"$limit": find.limit})
    if find.projection:
        stages.append({"$project": dict(find.projection)})
    return stages


def _end(branch: int) -> dict:
    return {"_end": branch}


# The document after each branch's: a stored document has an `_id`, these alone do not.
_ENDS = {bson.encode(_end(branch)): branch for branch in range(_BATCH)}
_END_SIZE = len(next(iter(_ENDS)))


async def _settle(future: asyncio.Future[Page], reading) -> None:
    try:
        page = await reading
    except Exception as error:  # the search's own error, as its own find would raise it
        if not future.done():
            future.set_exception(error)
        return
    if not future.done():
        future.set_result(page)


def _decode(documents: list[RawBSONDocument], options: CodecOptions) -> list[dict]:
    return [bson.decode(document.raw, options) for document in documents]
