"""Bulk export jobs (DESIGN.md §4) in the `export_jobs` collection, and the ids an export
collects on the way (`export_items`, e.g. the Provenance of exported resources).

Workers claim a job atomically with a lease they renew (heartbeat). Every later change a
worker makes is guarded by its lease and by the job still running, so a worker that lost its
job (cancelled, or taken over after its lease ran out) can no longer change it.
"""

from datetime import datetime, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
)
UNFINISHED = (QUEUED, RUNNING)
_DUPLICATE_KEY = 11000


class LeaseLost(Exception):
    """The job was cancelled or another worker holds it now: stop working on it."""


class ExportJobStore:
    def __init__(self, db: AsyncDatabase):
        self.jobs = db["export_jobs"]
        self.items = db["export_items"]

    async def prepare(self) -> None:
        await self.jobs.create_index([("status", ASCENDING), ("notBefore", ASCENDING)])
        await self.jobs.create_index([("owner", ASCENDING), ("status", ASCENDING)])
        await self.jobs.create_index([("expiresAt", ASCENDING)])

    async def insert(self, job: dict) -> None:
        await self.jobs.insert_one(job)

    async def find(self, job_id: str) -> dict | None:
        return await self.jobs.find_one({"_id": job_id})

    async def count_unfinished(self, owner: str) -> int:
        return await self.jobs.count_documents({"owner": owner, "status": {"$in": UNFINISHED}})

    async def claim(self, worker: str, now: datetime, lease: timedelta) -> dict | None:
        """The oldest claimable job, now leased to `worker`: queued, or running under a lease
        that ran out (its worker died), and past its `notBefore`."""
        return await self.jobs.find_one_and_update(
            {
                "status": {"$in": UNFINISHED},
                "notBefore": {"$lte": now},
                "$or": [{"lease": None}, {"lease.until": {"$lt": now}}],
            },
            {
                "$set": {"status": RUNNING, "lease": {"owner": worker, "until": now + lease}},
                "$inc": {"attempts": 1},
            },
            sort=[("notBefore", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

    def _held(self, job_id: str, worker: str) -> dict:
        return {"_id": job_id, "status": RUNNING, "lease.owner": worker}

    async def renew(self, job_id: str, worker: str, until: datetime) -> bool:
        """The heartbeat: extend the lease; False when the worker no longer holds the job."""
        result = await self.jobs.update_one(
            self._held(job_id, worker), {"$set": {"lease.until": until}}
        )
        return result.matched_count == 1

    async def update(self, job_id: str, worker: str, fields: dict) -> None:
        """Set fields of a job the worker holds (its progress); raises LeaseLost otherwise."""
        result = await self.jobs.update_one(self._held(job_id, worker), {"$set": fields})
        if result.matched_count != 1:
            raise LeaseLost(job_id)

    async def finish(self, job_id: str, worker: str, status: str, fields: dict) -> None:
        """End a job the worker holds as completed or failed; raises LeaseLost otherwise."""
        result = await self.jobs.update_one(
            self._held(job_id, worker),
            {"$set": {"status": status, **fields}, "$unset": {"lease": ""}},
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
        if not ids:
            return
        try:
            await self.items.insert_many(
                [{"_id": f"{job_id}/{kind}/{item}"} for item in ids], ordered=False
            )
        except BulkWriteError as error:
            if any(e["code"] != _DUPLICATE_KEY for e in error.details["writeErrors"]):
                raise

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
