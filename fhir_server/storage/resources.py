"""Current and historical versions of resources (DESIGN.md §2 storage model).

`<Type>` holds one document per resource (its current version, possibly deleted);
`<Type>_history` holds every version, the current one without its resource
(`history_documents`), except for types with one version only (`single_versions`).
Services build the documents; this module only persists and finds them, inside the
caller's transaction when there is one (new documents held until needed,
`pending_inserts`), and reads them back as `CurrentVersion` and `HistoryVersion` records.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout

from fhir_server.errors import Conflict
from fhir_server.storage import pages_in_flight, query_time
from fhir_server.storage.coalesced_finds import (
    Find,
    Page,
    keep_all,
    read_page,
    within_command_limit,
)
from fhir_server.storage.document_limit import within_document_limit
from fhir_server.storage.history_documents import stub, with_resources
from fhir_server.storage.history_spans import (
    HistorySpan,
    across_types,
    history_collection,
    span_stages,
)
from fhir_server.storage.idempotent_inserts import insert_missing
from fhir_server.storage.pending_inserts import PendingInserts
from fhir_server.storage.query_time import QueryClock
from fhir_server.storage.records import CurrentVersion, HistoryVersion
from fhir_server.storage.signature_chains import SignatureChains
from fhir_server.storage.single_versions import (
    READ_AS_HISTORY,
    SINGLE_VERSION_TYPES,
    after_position,
    as_history,
    position_key,
)


class UnpreparedType(Exception):
    """A write inside a transaction reached a type whose collections are not made yet."""

    def __init__(self, resource_type: str):
        super().__init__(resource_type)
        self.resource_type = resource_type


_LARGEST_INT = 2**63 - 1
# A read wants the resource, not its search index (derived, often most of the BSON decoded).
WITHOUT_INDEX = {"search": 0, "sort": 0, "compartments": 0, "references": 0, "contained": 0,
                 "indexVersion": 0}


class ResourceStore:
    def __init__(
        self,
        db: AsyncDatabase,
        session: AsyncClientSession | None,
        prepared: set[str],
        chains: SignatureChains,
        prepare: Callable[[str], Awaitable[None]] | None = None,
        read_by_id: Callable[[str, str], Awaitable[dict | None]] | None = None,
        coalesced_find: Callable[[Find], Awaitable[Page]] | None = None,
        query_millis: int | None = None,
    ):
        self.db = db
        self.chains = chains  # stored once, put back into the signatures read
        self.session = session
        self.prepared = prepared  # types whose collections and indexes are made
        self.prepare = prepare  # makes them, outside a transaction
        # Outside a transaction: a current document by id, read together with other
        # requests' reads of that moment (`coalesced_reads`).
        self._read_by_id = read_by_id
        self._coalesced_find = coalesced_find  # and searches (`coalesced_finds`)
        # The time left to the queries of the search this store is made for (`query_time`).
        self.clock = QueryClock(query_millis)
        # (type, version) of every version `write_version` stored in this unit of work, in
        # order: what the services sign before the transaction commits.
        self.written: list[tuple[str, HistoryVersion]] = []
        self._pending = PendingInserts()  # new documents of a transaction, not yet sent
        # Current documents read ahead (`read_ahead`), each answering one `current` call.
        self._read_ahead: dict[tuple[str, str], dict | None] = {}

    async def flush(self) -> None:
        """Store the new documents held back (`pending_inserts`): before any read other than
        by id, and before the transaction commits."""
        for name, documents in self._pending.take().items():
            resource_type = name.removesuffix("_history")
            if name == resource_type:
                documents = [{**document, "resource": await self.chains.shorten(
                    document["resource"])} for document in documents]
            with within_document_limit(resource_type):
                await self.db[name].insert_many(documents, session=self.session)

    async def read_ahead(self, resource_type: str, resource_ids: list[str]) -> None:
        """Read the current documents of several ids in one query, for the next `current`
        of each (the updates of a transaction Bundle)."""
        wanted = [resource_id for resource_id in dict.fromkeys(resource_ids)
                  if self._pending.current(resource_type, resource_id) is None]
        if len(wanted) < 2:
            return
        cursor = self.db[resource_type].find({"_id": {"$in": wanted}}, WITHOUT_INDEX,
                                             session=self.session)
        found = {document["_id"]: document async for document in cursor}
        await self.chains.restore(found.values())
        for resource_id in wanted:
            self._read_ahead[(resource_type, resource_id)] = found.get(resource_id)

    async def current(self, resource_type: str, resource_id: str) -> CurrentVersion | None:
        if (held := self._pending.current(resource_type, resource_id)) is not None:
            return CurrentVersion.from_document(held)
        if (resource_type, resource_id) in self._read_ahead:
            # Used once: a later lookup may follow a write of this resource.
            document = self._read_ahead.pop((resource_type, resource_id))
            return None if document is None else CurrentVersion.from_document(document)
        if self._read_by_id is not None:
            document = await self._read_by_id(resource_type, resource_id)
        else:
            document = await self.db[resource_type].find_one(
                {"_id": resource_id}, WITHOUT_INDEX, session=self.session)
        if document is None:
            return None
        await self.chains.restore((document,))
        return CurrentVersion.from_document(document)

    async def version(
        self, resource_type: str, resource_id: str, vid: int
    ) -> HistoryVersion | None:
        if not 0 < vid <= _LARGEST_INT:  # MongoDB holds no larger integer, so no such version
            return None
        await self.flush()
        if resource_type in SINGLE_VERSION_TYPES:
            if vid != 1:
                return None
            document = await self.db[resource_type].find_one(
                {"_id": resource_id}, READ_AS_HISTORY, session=self.session
            )
            document = None if document is None else as_history(document)
        else:
            document = await self.db[f"{resource_type}_history"].find_one(
                {"id": resource_id, "vid": vid}, session=self.session
            )
            if document is not None:
                await with_resources(self.db, resource_type, [document], self.session)
        if document is None:
            return None
        await self.chains.restore((document,))
        return HistoryVersion.from_document(document)

    async def write_version(self, resource_type: str, current: dict, history: dict) -> None:
        """Store a new version: replace the current document and append to history (a
        stub, see `history_documents`); the replaced resource moves into its history document.

        The current document is matched on the previous `vid`, so a concurrent writer that
        got there first makes this fail instead of being overwritten.
        """
        await self._ready(resource_type)
        single = resource_type in SINGLE_VERSION_TYPES
        if single and history["method"] != "POST":  # its history is its current document
            current = {**current, "method": history["method"]}
        if current["vid"] == 1 and self.session is not None:
            self._pending.add(resource_type, current, None if single else stub(history))
            self.written.append((resource_type, HistoryVersion.from_document(history)))
            return
        await self.flush()
        collection, versions = self.db[resource_type], self.db[f"{resource_type}_history"]
        current = {**current, "resource": await self.chains.shorten(current["resource"])}
        with within_document_limit(resource_type):
            if current["vid"] == 1:
                await collection.insert_one(current, session=self.session)
            else:
                previous = await collection.find_one_and_replace(
                    {"_id": current["_id"], "vid": current["vid"] - 1}, current,
                    {"resource": 1}, session=self.session,
                )
                if previous is None:
                    raise Conflict(
                        f"{resource_type}/{current['_id']} was changed by another request; retry"
                    )
                await versions.update_one(
                    {"id": current["_id"], "vid": current["vid"] - 1,
                     "resource": {"$exists": False}},
                    {"$set": {"resource": previous.get("resource")}}, session=self.session,
                )
            if not single:
                await versions.insert_one(stub(history), session=self.session)
        self.written.append((resource_type, HistoryVersion.from_document(history)))

    async def insert_versions(self, resource_type: str, documents: list[tuple[dict, dict]]):
        """Store new resources in bulk (server-written records: AuditEvents, Provenances).
        Outside a transaction (the audit drainer's AuditEvents), only types with one version,
        and resources an interrupted earlier attempt stored are skipped."""
        await self._ready(resource_type)
        single = resource_type in SINGLE_VERSION_TYPES
        if self.session is not None:
            for current, history in documents:
                self._pending.add(resource_type, current, None if single else stub(history))
            return
        if not single:
            raise ValueError(f"{resource_type} versions are stored in a transaction")
        await insert_missing(self.db[resource_type], [
            {**current, "resource": await self.chains.shorten(current["resource"])}
            for current, _ in documents])

    async def _ready(self, resource_type: str) -> None:
        if resource_type in self.prepared:
            return
        if self.session is not None or self.prepare is None:
            raise UnpreparedType(resource_type)
        await self.prepare(resource_type)

    async def find(
        self,
        resource_type: str,
        query: dict,
        limit: int,
        projection: dict | list | None = None,
        sort: list[tuple[str, int]] | None = None,
    ) -> list[CurrentVersion]:
        """Current, non-deleted versions matching a filter built by `search/`, in `sort`
        order (by id when none is given); fields a `projection` leaves out get defaults."""
        page = await self._page(resource_type, query, limit, projection, sort)
        return await self._versions(await page.decoded(self.db.codec_options))

    async def find_within(
        self,
        resource_type: str,
        query: dict,
        limit: int,
        max_bytes: int,
        projection: dict,
        sort: list[tuple[str, int]] | None = None,
    ) -> tuple[list[CurrentVersion], int, bool]:
        """As `find`, read one by one until the documents' size (BSON, about their JSON's)
        would pass `max_bytes` (the first is read whatever its size): the versions, their
        size, and whether more were left unread for that (or for the pages every request
        holds together, `pages_in_flight`). A page of large resources (inline attachments)
        stays in bounded memory however many it may hold, and is decoded off the event loop
        (a 13 MB document takes it about 0.1 s)."""
        budget = pages_in_flight.PageBudget(max_bytes)
        page = await self._page(resource_type, query, limit, projection, sort, budget.keeps)
        documents = await page.decoded(self.db.codec_options)
        return await self._versions(documents), page.size, page.cut

    async def _page(self, resource_type: str, query: dict, limit: int,
                    projection: dict | list | None, sort: list[tuple[str, int]] | None,
                    keeps: Callable[[int, bool], bool] = keep_all) -> Page:
        await self.flush()
        if isinstance(projection, list):
            projection = dict.fromkeys(projection, 1)
        self.clock.left()  # 400 once the time is spent
        find = Find(resource_type, {**query, "deleted": False}, projection,
                    sort or [("_id", 1)], limit, keeps, self.clock.ends)
        with self.clock.within():
            if self.session is None and self._coalesced_find is not None:
                return await self._coalesced_find(find)
            return await read_page(self.db, find, self.session)

    async def _versions(self, documents: list[dict]) -> list[CurrentVersion]:
        await self.chains.restore(documents)
        return [CurrentVersion.from_document(document) for document in documents]

    async def distinct_entries(
        self, resource_type: str, query: dict, fields: list[str], limit: int
    ) -> list[str]:
        """The distinct string entries of the arrays (or single values) at `fields` (e.g.
        `search.subject`, `resource.content.attachment.url`) over the current, non-deleted
        documents matching a filter."""
        if not fields:
            return []
        await self.flush()
        # A single value as a list of one (a missing one as [null], which no string is).
        merged = {"$concatArrays": [
            {"$cond": [{"$isArray": f"${field}"}, f"${field}", [f"${field}"]]}
            for field in fields]}
        pipeline: list[dict[str, Any]] = [
            {"$match": {**query, "deleted": False}},
            {"$project": {"_id": 0, "entry": merged}},
            {"$unwind": "$entry"},
            {"$group": {"_id": "$entry"}},
            {"$limit": limit},
        ]
        with self.clock.within():  # $everything's: within the time of its page
            cursor = await self.db[resource_type].aggregate(
                pipeline, session=self.session, **query_time.options(self.clock.left()))
            return [row["_id"] async for row in cursor if isinstance(row["_id"], str)]

    async def project(
        self, resource_type: str, query: dict, fields: list[str], limit: int
    ) -> list[CurrentVersion]:
        """Only `fields` of the matching versions: what chains and `_has` need."""
        return await self.find(resource_type, query, limit, projection=fields)

    async def set_fields(self, resource_type: str, resource_id: str, vid: int, fields: dict) -> int:
        """Set derived fields of a current version, unless it changed meanwhile; 1 if set.
        Fields that make the document too large to store are 413, as a write's are."""
        await self.flush()
        with within_document_limit(resource_type):
            result = await self.db[resource_type].update_one(
                {"_id": resource_id, "vid": vid}, {"$set": fields}, session=self.session
            )
        return result.modified_count

    async def set_version_meta(self, resource_type: str, resource_id: str, vid: int,
                               meta: dict) -> None:
        """Replace the meta of a past version, in its history document (413 when that makes
        it too large to store)."""
        with within_document_limit(resource_type):
            await self.db[f"{resource_type}_history"].update_one(
                {"id": resource_id, "vid": vid, "resource": {"$exists": True}},
                {"$set": {"resource.meta": meta}}, session=self.session)

    async def meta_in_use(self, resource_type: str, limit: int, scanned: int) -> dict[str, list]:
        """`meta.profile`, `meta.tag` and `meta.security` values of the current versions, each
        distinct value once (at most `limit` of each, from at most `scanned` resources);
        found through their search indexes."""
        found = {}
        for element, code in (("profile", "_profile"), ("tag", "_tag"), ("security", "_security")):
            field = f"resource.meta.{element}"
            pipeline: list[dict[str, Any]] = [
                {"$match": {"deleted": False, f"search.{code}": {"$exists": True}}},
                {"$limit": scanned},
                {"$unwind": f"${field}"},
                {"$group": {"_id": f"${field}"}},
                {"$limit": limit},
            ]
            cursor = await self.db[resource_type].aggregate(pipeline, session=self.session)
            found[element] = [row["_id"] async for row in cursor]
        return found

    async def count(self, resource_type: str, query: dict, max_time_ms: int | None = None) -> int:
        """How many current, non-deleted documents match; raises TimeoutError past
        `max_time_ms`, and is 400 `too-costly` past the search time limit without it."""
        await self.flush()
        limit = self.clock.left(max_time_ms)
        try:
            with within_command_limit():
                return await self.db[resource_type].count_documents(
                    {**query, "deleted": False}, session=self.session,
                    **query_time.options(limit))
        except ExecutionTimeout:
            raise self.clock.timed_out(limit, max_time_ms, f"counting {resource_type}") from None

    async def explain(self, resource_type: str, query: dict, sort: list[tuple[str, int]]) -> dict:
        """The winning plan MongoDB chooses for a search (for tests and diagnostics)."""
        cursor = self.db[resource_type].find({**query, "deleted": False}).sort(sort).limit(10)
        plan = (await cursor.explain())["queryPlanner"]["winningPlan"]
        # Beside a type registry (storage/decimals.py), pymongo leaves the inner documents of
        # a command's reply raw.
        return bson.decode(plan.raw) if isinstance(plan, RawBSONDocument) else plan

    async def acquire_guard(self, key: str) -> None:
        """Serialise transactions that use the same key (e.g. a conditional-create query).

        Two concurrent transactions writing this document conflict, so one of them is
        retried and then sees what the other committed.
        """
        await self.db["guards"].update_one(
            {"_id": key}, {"$inc": {"uses": 1}}, upsert=True, session=self.session
        )

    async def history(
        self,
        resource_types: list[str],
        resource_id: str | None,
        span: HistorySpan,
        at_or_before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[HistoryVersion]:
        """Versions newest first, across one or more types, in `span`; keyset paging on
        (lastUpdated, _id) so pages neither repeat nor skip while others write."""
        if not resource_types:
            return []
        await self.flush()
        order = {"lastUpdated": DESCENDING, "_id": DESCENDING}

        def branch(resource_type: str) -> list[dict]:
            stages = span_stages(resource_type, resource_id, span)
            if at_or_before is not None:
                last_updated, object_id = at_or_before
                single = resource_type in SINGLE_VERSION_TYPES
                stages.insert(1, {"$match": after_position(last_updated,
                                                           position_key(object_id), single)})
            return [*stages, {"$limit": limit}, {"$addFields": {"resourceType": resource_type}}]

        pipeline = across_types(resource_types, branch)
        if len(resource_types) > 1:
            pipeline += [{"$sort": order}, {"$limit": limit}]
        with self.clock.within():  # a history page is read within the search time limit
            cursor = await self.db[history_collection(resource_types[0])].aggregate(
                pipeline, session=self.session, **query_time.options(self.clock.left()))
            read = await cursor.to_list()
        versions = [as_history(version) if version["resourceType"] in SINGLE_VERSION_TYPES
                    else version for version in read]
        for resource_type in resource_types:
            of_type = [version for version in versions if version["resourceType"] == resource_type]
            await with_resources(self.db, resource_type, of_type, self.session)
        await self.chains.restore(versions)
        return [HistoryVersion.from_document(version) for version in versions]

    async def count_versions(self, resource_types: list[str], resource_id: str | None,
                             span: HistorySpan, max_time_ms: int | None = None) -> int:
        """The versions of the types (of one resource, with `resource_id`) in `span`, as
        `history` lists them; raises TimeoutError past `max_time_ms`, and is 400
        `too-costly` past the search time limit without it."""
        if not resource_types:
            return 0
        await self.flush()
        pipeline = across_types(
            resource_types, lambda resource_type: span_stages(resource_type, resource_id, span))
        limit = self.clock.left(max_time_ms)
        try:
            cursor = await self.db[history_collection(resource_types[0])].aggregate(
                [*pipeline, {"$count": "versions"}], session=self.session,
                **query_time.options(limit))
            counted = await cursor.to_list()
        except ExecutionTimeout:
            raise self.clock.timed_out(limit, max_time_ms, "counting the versions") from None
        return counted[0]["versions"] if counted else 0

