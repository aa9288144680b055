"""History documents without a second copy of the current version (README "Storage
layout"): the history document of a resource's current version holds no `resource`; the
current document has it. When a newer version replaces it, the same transaction moves the
replaced resource into its history document (`ResourceStore.write_version`). Append-only
types (Provenance, AuditEvent) are never replaced, so their resources are stored once.

Reads of history documents fill such stubs in from the current documents here.
"""

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase


def stub(history: dict) -> dict:
    """What is stored of a new version's history document (given an `_id` here, so that the
    caller's record of it carries the same one)."""
    history.setdefault("_id", ObjectId())
    if history.get("resource") is None:  # a deletion: nothing to share with the current one
        return history
    return {key: value for key, value in history.items() if key != "resource"}


async def with_resources(
    db: AsyncDatabase, resource_type: str, documents: list[dict],
    session: AsyncClientSession | None = None,
) -> list[dict]:
    """`documents` (of `<resource_type>_history`), each with its `resource`: a stub's from
    the current document, or, if that version was replaced since the stub was read, from the
    history document the replacing transaction filled."""
    stubs = [document for document in documents if "resource" not in document]
    if not stubs:
        return documents
    cursor = db[resource_type].find(
        {"_id": {"$in": list({document["id"] for document in stubs})}},
        {"vid": 1, "resource": 1}, session=session,
    )
    current = {document["_id"]: document async for document in cursor}
    replaced = []
    for document in stubs:
        found = current.get(document["id"])
        if found is not None and found.get("vid") == document["vid"]:
            document["resource"] = found.get("resource")
        else:
            replaced.append(document)
    if replaced:
        cursor = db[f"{resource_type}_history"].find(
            {"_id": {"$in": [document["_id"] for document in replaced]}}, {"resource": 1},
            session=session,
        )
        filled = {document["_id"]: document.get("resource") async for document in cursor}
        for document in replaced:
            document["resource"] = filled.get(document["_id"])
    return documents
