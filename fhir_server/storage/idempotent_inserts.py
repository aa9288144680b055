"""Inserts that may be repeated: documents whose `_id` is already stored are skipped."""

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

_DUPLICATE_KEY = 11000


async def insert_missing(collection: AsyncCollection, documents: list[dict]) -> None:
    """Insert each document on its own (no transaction, so a process killed meanwhile leaves
    no write locked behind it), skipping those stored already."""
    if not documents:
        return
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        if any(failure["code"] != _DUPLICATE_KEY for failure in error.details["writeErrors"]):
            raise
