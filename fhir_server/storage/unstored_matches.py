"""Search filters applied to documents that are not stored: the index fields of older
versions, which only current versions keep."""

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.storage.coalesced_finds import within_command_limit


async def matching(db: AsyncDatabase, session: AsyncClientSession | None,
                   documents: list[dict], query: dict) -> list[bool]:
    """Which of the documents pass a filter built by `search/`, as MongoDB judges it
    (`$documents`), in one command."""
    if not documents:
        return []
    numbered = [{**document, "_position": n} for n, document in enumerate(documents)]
    pipeline: list[dict] = [{"$documents": numbered}, {"$match": query},
                            {"$project": {"_id": 0, "_position": 1}}]
    with within_command_limit():
        cursor = await db.aggregate(pipeline, session=session)
        passed = {found["_position"] for found in await cursor.to_list()}
    return [n in passed for n in range(len(documents))]
