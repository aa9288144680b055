"""MongoDB transactions still open, by when they began (`$currentOp`), and the cheap first
command that begins one.

A version is stamped (`meta.lastUpdated`) when it is written, in the transaction attempt that
commits it, and becomes visible only at the commit: a transaction of thousands of entries, or
one retried after a write conflict, commits seconds after its first stamp. A bulk export of
the data as of T must not start reading while a transaction that may hold a version stamped
before T is still open, or it misses that version, and so does the next export `_since=T`.
MongoDB begins a transaction at its first command, so each attempt sends one before it
stamps anything (`begin`): from then on `$currentOp` lists it with the time it began.
"""

import logging
from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

log = logging.getLogger(__name__)


async def begin(db: AsyncDatabase, session: AsyncClientSession) -> None:
    """Send the transaction's first command (a lookup of a missing key in a small
    collection), so that MongoDB lists it as open before the attempt stamps a version."""
    await db["server_settings"].find_one({"_id": "transaction-begun"}, session=session)


async def open_since(db: AsyncDatabase, moment: datetime) -> int | None:
    """How many transactions that began at or before `moment` are still open (their
    sessions idle between commands included); None when MongoDB's user may not list them."""
    pipeline: list[dict] = [{"$currentOp": {"allUsers": True, "idleSessions": True}},
                {"$match": {"transaction.startWallClockTime": {"$exists": True}}},
                {"$project": {"_id": 0, "began": "$transaction.startWallClockTime"}}]
    try:
        cursor = await db.client.admin.aggregate(pipeline)
        began = [datetime.fromisoformat(op["began"]) async for op in cursor]
    except OperationFailure as failure:
        # Not allowed to (`inprog` privilege, code 13), or a MongoDB-compatible service
        # without `$currentOp`: exports go on as before this existed.
        log.warning("MongoDB cannot list open transactions (%s): exports rely on "
                    "FHIR_EXPORT_SETTLE_SECONDS alone", failure.code)
        return None
    return sum(1 for moment_begun in began if moment_begun <= moment)
