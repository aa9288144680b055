"""Bulk export jobs (DESIGN.md §4) in the `export_jobs` collection, and the ids an export
collects on the way (`export_items`, e.g. the Provenance of exported resources).

Workers claim a job atomically with a lease they renew (heartbeat), the owners (clients)
taking turns. Every later change a worker makes is guarded by its lease and by the job still
running, so a worker that lost its job (cancelled, or taken over after its lease ran out) can
no longer change it.

A job leaves this module as an `ExportJob`, never as the document it is stored as (the
README's "Storage layout" table).
"""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.storage.idempotent_inserts import insert_missing

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
)
UNFINISHED = (QUEUED, RUNNING)


class LeaseLost(Exception):
    """The job was cancelled or another worker holds it now: stop working on it."""


@dataclass(frozen=True)
class Lease:
    """Which worker runs a job, until when (unless it renews the lease)."""

    owner: str
    until: datetime


@dataclass(frozen=True)
class ExportJob:
    """One bulk export job as stored. `parameters` (the checked kick-off) and `progress`
    (what is safely written) are documents of the export service, kept here as they are."""

    id: str
    owner: str  # issuer|subject of the token that started it
    who: str
    scopes: str
    status: str
    request: str  # the kick-off URL
    base: str
    parameters: dict
    transaction_time: datetime
    not_before: datetime
    created_at: datetime
    lease: Lease | None = None
    attempts: int = 0
    progress: dict | None = None
    failures: int = 0  # attempts that failed unexpectedly since the last progress saved
    stalled: int = 0  # claims since the last progress saved (their workers died, or failed)
    last_error: str | None = None
    error: str | None = None  # why it failed
    completed_at: datetime | None = None
    expires_at: datetime | None = None

    @classmethod
    def from_document(cls, document: dict) -> "ExportJob":
        lease = document.get("lease")
        return cls(
            id=document["_id"],
            owner=document["owner"],
            who=document["who"],
            scopes=document.get("scopes", ""),
            status=document["status"],
            request=document["request"],
            base=document["base"],
            parameters=document["parameters"],
            transaction_time=document["transactionTime"],
            not_before=document["notBefore"],
            created_at=document["createdAt"],
            lease=Lease(lease["owner"], lease["until"]) if lease else None,
            attempts=document.get("attempts", 0),
            progress=document.get("progress"),
            failures=document.get("failures", 0),
            stalled=document.get("stalled", 0),
            last_error=document.get("lastError"),
            error=document.get("error"),
            completed_at=document.get("completedAt"),
            expires_at=document.get("expiresAt"),
        )

    def document(self) -> dict:
        """The stored form: every field of a new job, and those set later once set."""
        document = {
            "_id": self.id,
            "owner": self.owner,
            "who": self.who,
            "scopes": self.scopes,
            "status": self.status,
            "request": self.request,
            "base": self.base,
            "parameters": self.parameters,
            "transactionTime": self.transaction_time,
            "notBefore": self.not_before,
            "createdAt": self.created_at,
            "attempts": self.attempts,
            "lease": (
                {"owner": self.lease.owner, "until": self.lease.until} if self.lease else None
            ),
            "progress": self.progress,
        }
        later = {
            "failures": self.failures or None,
            "stalled": self.stalled or None,
            "lastError": self.last_error,
            "error": self.error,
            "completedAt": self.completed_at,
            "expiresAt": self.expires_at,
        }
        return document | {key: value for key, value in later.items() if value is not None}

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _claimable(now: datetime) -> dict:
    """Jobs a worker may claim: queued, or running under a lease that ran out (its worker
    died, or gave it back), and past their `notBefore`."""
    return {
        "status": {"$in": UNFINISHED},
        "notBefore": {"$lte": now},
        "$or": [{"lease": None}, {"lease.until": {"$lt": now}}],
    }


class ExportJobStore:
    def __init__(self, db: AsyncDatabase,
                 transaction_session: Callable[[], AbstractAsyncContextManager[
                     AsyncClientSession]]):
        self.transaction_session = transaction_session  # Database.transaction_session
        self.jobs = db["export_jobs"]
        self.items = db["export_items"]
        # One document per owner that every kick-off of that owner writes (`insert_within`),
        # and that says when a job of the owner was last claimed (`claim`).
        self.owners = db["export_owners"]

    async def prepare(self) -> None:
        await self.jobs.create_index([("status", ASCENDING), ("notBefore", ASCENDING)])
        await self.jobs.create_index([("owner", ASCENDING), ("status", ASCENDING)])
        await self.jobs.create_index([("expiresAt", ASCENDING)])

    async def insert_within(self, job: ExportJob, limit: int) -> bool:
        """Insert a job unless its owner has `limit` unfinished ones; False then. Counting and
        inserting run in one transaction that first writes the owner's `export_owners`
        document, so concurrent kick-offs of one owner conflict there and MongoDB runs them
        one after the other (with_transaction retries the loser): the count cannot race."""
        await self.owners.update_one(
            {"_id": job.owner}, {"$setOnInsert": {"kickOffs": 0}}, upsert=True
        )
        unfinished = {"owner": job.owner, "status": {"$in": UNFINISHED}}

        async def unit(session: AsyncClientSession) -> bool:
            await self.owners.update_one(
                {"_id": job.owner}, {"$inc": {"kickOffs": 1}}, session=session
            )
            if await self.jobs.count_documents(unfinished, session=session) >= limit:
                return False
            await self.jobs.insert_one(job.document(), session=session)
            return True

        async with self.transaction_session() as session:
            return await session.with_transaction(unit)

    async def find(self, job_id: str) -> ExportJob | None:
        document = await self.jobs.find_one({"_id": job_id})
        return ExportJob.from_document(document) if document is not None else None

    async def count_unfinished(self, owner: str) -> int:
        return await self.jobs.count_documents({"owner": owner, "status": {"$in": UNFINISHED}})

    async def claim(self, worker: str, now: datetime, lease: timedelta) -> ExportJob | None:
        """The claimable job whose owner's turn it is (`_next_in_turn`), now leased to
        `worker`. The update claims it only while it is still claimable, so of two workers
        (of any processes) that chose the same job one gets it and the other chooses again."""
        while (job_id := await self._next_in_turn(now)) is not None:
            document = await self.jobs.find_one_and_update(
                {"_id": job_id, **_claimable(now)},
                {
                    "$set": {"status": RUNNING, "lease": {"owner": worker, "until": now + lease}},
                    "$inc": {"attempts": 1, "stalled": 1},
                },
                return_document=ReturnDocument.AFTER,
            )
            if document is not None:
                await self.owners.update_one(
                    {"_id": document["owner"]}, {"$set": {"servedAt": now}}, upsert=True
                )
                return ExportJob.from_document(document)
        return None

    async def _next_in_turn(self, now: datetime) -> str | None:
        """Of the claimable jobs, one of the owner with the fewest jobs running now (under a
        live lease), then the one served least recently (`servedAt`, set when a job of its
        is claimed; never served comes first), then the oldest (`notBefore`): one client's
        queued exports take turns with the others', whatever it queued first."""
        running = {"status": RUNNING, "lease.until": {"$gte": now}}
        pipeline: list[dict] = [
            {"$match": _claimable(now)},
            {"$sort": {"notBefore": ASCENDING, "_id": ASCENDING}},
            {"$group": {"_id": "$owner", "job": {"$first": "$_id"},
                        "notBefore": {"$first": "$notBefore"}}},
            {"$lookup": {"from": self.jobs.name, "let": {"owner": "$_id"}, "as": "running",
                         "pipeline": [{"$match": {**running,
                                                  "$expr": {"$eq": ["$owner", "$$owner"]}}},
                                      {"$count": "jobs"}]}},
            {"$lookup": {"from": self.owners.name, "localField": "_id",
                         "foreignField": "_id", "as": "owner"}},
            {"$project": {"job": 1, "notBefore": 1,
                          "running": {"$ifNull": [{"$arrayElemAt": ["$running.jobs", 0]}, 0]},
                          "servedAt": {"$arrayElemAt": ["$owner.servedAt", 0]}}},
            {"$sort": {"running": ASCENDING, "servedAt": ASCENDING, "notBefore": ASCENDING,
                       "job": ASCENDING}},
            {"$limit": 1},
        ]
        turns = await (await self.jobs.aggregate(pipeline)).to_list(1)
        return turns[0]["job"] if turns else None

    def _held(self, job_id: str, worker: str) -> dict:
        return {"_id": job_id, "status": RUNNING, "lease.owner": worker}

    async def renew(self, job_id: str, worker: str, until: datetime) -> bool:
        """The heartbeat: extend the lease; False when the worker no longer holds the job."""
        result = await self.jobs.update_one(
            self._held(job_id, worker), {"$set": {"lease.until": until}}
        )
        return result.matched_count == 1

    async def save_progress(
        self, job_id: str, worker: str, progress: dict, until: datetime
    ) -> None:
        """Store the progress of a job the worker holds and extend its lease to `until`;
        raises LeaseLost if it no longer holds the job. The attempts before count no more:
        `failures` and `stalled` are those since the job last made progress."""
        result = await self.jobs.update_one(
            self._held(job_id, worker),
            {"$set": {"progress": progress, "lease.until": until},
             "$unset": {"failures": "", "stalled": ""}},
        )
        if result.matched_count != 1:
            raise LeaseLost(job_id)

    async def finish(
        self,
        job_id: str,
        worker: str,
        status: str,
        completed_at: datetime,
        expires_at: datetime,
        *,
        progress: dict | None = None,
        error: str | None = None,
    ) -> None:
        """End a job the worker holds as completed (with its final `progress`) or failed
        (with its `error`); raises LeaseLost if it no longer holds the job."""
        fields: dict = {"status": status}
        if progress is not None:
            fields["progress"] = progress
        if error is not None:
            fields["error"] = error
        fields |= {"completedAt": completed_at, "expiresAt": expires_at}
        result = await self.jobs.update_one(
            self._held(job_id, worker), {"$set": fields, "$unset": {"lease": ""}}
        )
        if result.matched_count != 1:
            raise LeaseLost(job_id)

    async def release(
        self, job_id: str, worker: str, until: datetime, error: str | None = None
    ) -> None:
        """Give a job back (the server stops, or the attempt failed with `error`): any
        worker may claim it again from `until` on."""
        change: dict = {"$set": {"lease.until": until}}
        if error is not None:
            change = {"$set": {"lease.until": until, "lastError": error}, "$inc": {"failures": 1}}
        await self.jobs.update_one(self._held(job_id, worker), change)

    async def cancel(self, job_id: str, owner: str, expires: datetime) -> bool:
        """Mark a job of `owner` cancelled (its files are to be deleted); False if there is
        no such job, or it was cancelled before."""
        result = await self.jobs.update_one(
            {"_id": job_id, "owner": owner, "status": {"$ne": CANCELLED}},
            {"$set": {"status": CANCELLED, "expiresAt": expires}, "$unset": {"lease": ""}},
        )
        return result.matched_count == 1

    async def expired(self, now: datetime, limit: int = 100) -> list[str]:
        cursor = self.jobs.find({"expiresAt": {"$lte": now}}, {"_id": 1}).limit(limit)
        return [job["_id"] async for job in cursor]

    async def exists(self, job_ids: list[str]) -> set[str]:
        cursor = self.jobs.find({"_id": {"$in": job_ids}}, {"_id": 1})
        return {job["_id"] async for job in cursor}

    async def delete(self, job_id: str) -> None:
        await self.jobs.delete_one({"_id": job_id})
        await self.drop_items(job_id)

    # The items of a job: string ids `<job>/<kind>/<id>`, so one job's items of one kind are
    # a range of the `_id` index, in id order, and adding one twice adds nothing.

    async def add_items(self, job_id: str, kind: str, ids: list[str]) -> None:
        await insert_missing(self.items, [{"_id": f"{job_id}/{kind}/{item}"} for item in ids])

    async def items_after(
        self, job_id: str, kind: str, after: str | None, limit: int
    ) -> list[str]:
        """The next `limit` item ids of a kind after `after`, in order."""
        prefix = f"{job_id}/{kind}/"
        low = {"$gt": prefix + after} if after is not None else {"$gte": prefix}
        cursor = (
            self.items.find({"_id": {**low, "$lt": f"{job_id}/{kind}0"}})
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [item["_id"][len(prefix) :] async for item in cursor]

    async def drop_items(self, job_id: str) -> None:
        await self.items.delete_many({"_id": {"$gte": f"{job_id}/", "$lt": f"{job_id}0"}})
