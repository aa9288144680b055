"""The reads of a bulk export: current versions streamed in id order from a cursor, and the
history queries that reconstruct the version of a resource at the export's transaction time
(DESIGN.md §4). Filters come from `search/` (or the export service); nothing else reaches
MongoDB. Versions leave as `CurrentVersion` and `HistoryVersion` records."""

from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout

from fhir_server.storage.coalesced_finds import Page, raw_documents
from fhir_server.storage.history_documents import with_resources
from fhir_server.storage.records import CurrentVersion, HistoryVersion
from fhir_server.storage.signature_chains import SignatureChains
from fhir_server.storage.single_versions import SINGLE_VERSION_TYPES, as_history

T = TypeVar("T")

# What an exported current version needs: not its (large) search entries.
_EXPORTED = {"resource": 1, "vid": 1, "lastUpdated": 1}
_CURSOR_BATCH = 1000  # documents per getMore; MongoDB also caps a batch at 16 MiB
# The bytes of documents a stream decodes together: the event loop takes its turn between.
_CHUNK_BYTES = 1024 * 1024


class Stream(Generic[T]):
    """A cursor's documents, each turned into `T` as it is read; `close` ends the cursor.

    The cursor gives raw BSON, decoded a chunk at a time (`_CHUNK_BYTES`, at most a batch),
    off the event loop when large (`Page.decoded`): the driver would decode a whole batch of
    up to 16 MiB at once on the loop, which held every request of the process for seconds
    when its resources had many elements (thousands of names each)."""

    __slots__ = ("_cursor", "_convert", "_options", "_chains", "_read")

    def __init__(self, cursor: AsyncCursor[RawBSONDocument] | AsyncCommandCursor[RawBSONDocument],
                 convert: Callable[[dict], T], options: CodecOptions,
                 chains: SignatureChains | None = None):
        self._cursor = cursor
        self._convert = convert
        self._options = options  # the database's, to decode with
        self._chains = chains  # to put back into the signatures read, if they hold any
        self._read: deque[T] = deque()

    def __aiter__(self) -> "Stream[T]":
        return self

    async def __anext__(self) -> T:
        if not self._read:
            self._read.extend(await self._next_chunk())
        if not self._read:
            raise StopAsyncIteration
        return self._read.popleft()

    async def _next_chunk(self) -> list[T]:
        chunk = Page()
        async for document in self._cursor:
            chunk.add(document)
            if chunk.size >= _CHUNK_BYTES or len(chunk.documents) >= _CURSOR_BATCH:
                break
        documents = await chunk.decoded(self._options)
        if self._chains is not None:
            await self._chains.restore(documents)
        return [self._convert(document) for document in documents]

    async def close(self) -> None:
        await self._cursor.close()


def _deleted_id(group: dict) -> str:
    return group["_id"]


class SnapshotStore:
    def __init__(self, db: AsyncDatabase, chains: SignatureChains):
        self.db = db
        self.chains = chains
        self._raw = raw_documents(db)  # for the streams

    def current(self, kind: str, query: dict, after: str | None) -> Stream[CurrentVersion]:
        """Live current versions matching `query`, in id order, after the id `after`: one
        cursor, so memory holds one batch (as BSON, and a chunk of it decoded) whatever the
        collection's size."""
        if after is not None:
            query = {"$and": [query, {"_id": {"$gt": after}}]}
        cursor = self._raw[kind].find({**query, "deleted": False}, _EXPORTED)
        cursor = cursor.sort("_id", ASCENDING).batch_size(_CURSOR_BATCH)
        return Stream(cursor, CurrentVersion.from_document, self.db.codec_options, self.chains)

    async def count(self, kind: str, query: dict, max_time_ms: int) -> int | None:
        """How many live current versions match; None when counting takes too long."""
        try:
            return await self.db[kind].count_documents(
                {**query, "deleted": False}, maxTimeMS=max_time_ms
            )
        except ExecutionTimeout:
            return None

    async def changed_after(
        self, kind: str, moment: datetime, low: str | None, high: str | None
    ) -> set[str]:
        """Ids in (low, high] with a version written after `moment` (history index on
        lastUpdated: the cost follows the writes since `moment`, not the collection)."""
        ids: dict = {}
        if low is not None:
            ids["$gt"] = low
        if high is not None:
            ids["$lte"] = high
        if kind in SINGLE_VERSION_TYPES:
            query = {"lastUpdated": {"$gt": moment}, **({"_id": ids} if ids else {})}
            return {document["_id"] async for document in self.db[kind].find(query, {"_id": 1})}
        query = {"lastUpdated": {"$gt": moment}, **({"id": ids} if ids else {})}
        cursor = self.db[f"{kind}_history"].find(query, {"id": 1, "_id": 0})
        return {version["id"] async for version in cursor}

    async def versions_at(
        self, kind: str, ids: list[str], moment: datetime
    ) -> list[HistoryVersion]:
        """For each id, its latest version written at or before `moment`, if it had one."""
        if not ids:
            return []
        if kind in SINGLE_VERSION_TYPES:
            return await self._only_versions(kind, {"_id": {"$in": ids},
                                                    "lastUpdated": {"$lte": moment}})
        pipeline: list[dict] = [
            {"$match": {"id": {"$in": ids}, "lastUpdated": {"$lte": moment}}},
            {"$sort": {"id": 1, "vid": -1}},
            {"$group": {"_id": "$id", "version": {"$first": "$$ROOT"}}},
            {"$replaceRoot": {"newRoot": "$version"}},
            {"$sort": {"id": 1}},
        ]
        cursor = await self.db[f"{kind}_history"].aggregate(pipeline)
        found = await with_resources(self.db, kind, await cursor.to_list())
        await self.chains.restore(found)
        return [HistoryVersion.from_document(version) for version in found]

    async def versions(self, kind: str, keys: list[tuple[str, int]]) -> list[HistoryVersion]:
        """The versions of the given (id, vid) pairs."""
        if not keys:
            return []
        if kind in SINGLE_VERSION_TYPES:
            return await self._only_versions(
                kind, {"_id": {"$in": [resource_id for resource_id, vid in keys if vid == 1]}})
        query = {"$or": [{"id": resource_id, "vid": vid} for resource_id, vid in keys]}
        versions = await self.db[f"{kind}_history"].find(query).to_list()
        await with_resources(self.db, kind, versions)
        await self.chains.restore(versions)
        return [HistoryVersion.from_document(version) for version in versions]

    async def _only_versions(self, kind: str, query: dict) -> list[HistoryVersion]:
        """The versions of a type without history: its current documents, in id order."""
        documents = await self.db[kind].find(query, _EXPORTED).sort("_id", ASCENDING).to_list()
        await self.chains.restore(documents)
        return [HistoryVersion.from_document(as_history(document)) for document in documents]

    async def deletions(
        self, kind: str, since: datetime, until: datetime, after: str | None
    ) -> Stream[str]:
        """The ids deleted at some time in (since, until], each once, in order, after
        `after`."""
        match: dict = {"lastUpdated": {"$gt": since, "$lte": until}, "deleted": True}
        if after is not None:
            match["id"] = {"$gt": after}
        pipeline = [{"$match": match}, {"$group": {"_id": "$id"}}, {"$sort": {"_id": 1}}]
        cursor = await self._raw[f"{kind}_history"].aggregate(pipeline, allowDiskUse=True)
        return Stream(cursor, _deleted_id, self.db.codec_options)

    async def matching(self, documents: list[dict], query: dict) -> set[str]:
        """The `_id`s of the given current-version documents (built from old versions, not
        stored) that `query` matches, as MongoDB itself would decide it."""
        if not documents:
            return set()
        pipeline: list[dict] = [
            {"$documents": documents},
            {"$match": query},
            {"$project": {"_id": 1}},
        ]
        cursor = await self.db.aggregate(pipeline)
        return {document["_id"] async for document in cursor}

    async def ids_of(self, kind: str, ids: list[str], deleted_too: bool,
                     query: dict | None = None) -> set[str]:
        """Those of these ids whose current version is live (or deleted, `deleted_too`),
        and matches `query` if given."""
        clauses: list[dict] = [{"_id": {"$in": ids}}, *([query] if query else [])]
        if not deleted_too:
            clauses.append({"deleted": False})
        cursor = self.db[kind].find({"$and": clauses}, {"_id": 1})
        return {document["_id"] async for document in cursor}

    async def current_by_id(self, kind: str, ids: list[str]) -> list[CurrentVersion]:
        """Current versions (live or deleted) of the given ids."""
        if not ids:
            return []
        cursor = self.db[kind].find({"_id": {"$in": ids}}, {**_EXPORTED, "deleted": 1})
        documents = await cursor.to_list()
        await self.chains.restore(documents)
        return [CurrentVersion.from_document(document) for document in documents]

    async def referring(
        self, kind: str, code: str, references: list[str], moment: datetime, fields: list[str]
    ) -> list[CurrentVersion]:
        """Live current versions of `kind` written at or before `moment` whose reference
        parameter `code` points at one of `references` (e.g. the Provenance of resources);
        only `fields` are read."""
        if not references:
            return []
        query = {
            f"search.{code}": {"$in": references},
            "deleted": False,
            "lastUpdated": {"$lte": moment},
        }
        documents = await self.db[kind].find(query, fields).to_list()
        await self.chains.restore(documents)
        return [CurrentVersion.from_document(document) for document in documents]
