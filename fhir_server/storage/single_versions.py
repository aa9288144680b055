"""Types whose resources have exactly one version (README "Storage layout"): the server's
own records (AuditEvent) and signed records (Provenance), created and never changed nor
deleted. They have no history documents; their history is their current documents, read
here in the shape of history documents.

In history listings, which are ordered by (lastUpdated, _id) newest first across types, such
a row's `_id` is its resource id (a string) where history rows have ObjectIds; MongoDB orders
every string before every ObjectId, and a paging position names which kind it is
(`position_key`).
"""

from typing import Any

from bson import ObjectId

from fhir_server.conformance.registry import APPEND_ONLY_TYPES, READ_ONLY_TYPES

SINGLE_VERSION_TYPES = frozenset(READ_ONLY_TYPES + APPEND_ONLY_TYPES)
# What history needs of such a type's current document (`as_history`).
READ_AS_HISTORY = {"lastUpdated": 1, "resource": 1, "method": 1}

# A paging position on a resource id rather than on a history document's ObjectId.
_RESOURCE_ID = "="


def as_history(document: dict) -> dict:
    """A current document (at least `_id`, `lastUpdated`, `resource`) as the history
    document of its one version; its `_id` stays the resource id. It holds a `method` only
    when that was not POST (a Provenance PUT with the id its client chose)."""
    return {**document, "id": document["_id"], "vid": 1, "deleted": False,
            "method": document.get("method", "POST")}


def object_id_text(key: object) -> str:
    """A history row's `_id` as paging keeps it (see `position_key`)."""
    return _RESOURCE_ID + key if isinstance(key, str) else str(key)


def position_key(text: str) -> ObjectId | str:
    return text.removeprefix(_RESOURCE_ID) if text.startswith(_RESOURCE_ID) else ObjectId(text)


def after_position(last_updated: Any, key: ObjectId | str, keys_are_ids: bool) -> dict:
    """Rows after (last_updated, key) newest first, in a collection whose `_id`s are
    resource ids (`keys_are_ids`) or ObjectIds."""
    earlier = {"lastUpdated": {"$lt": last_updated}}
    if isinstance(key, str) == keys_are_ids:
        return {"$or": [earlier, {"lastUpdated": last_updated, "_id": {"$lt": key}}]}
    if keys_are_ids:  # after an ObjectId at that time come all its resource ids
        return {"lastUpdated": {"$lte": last_updated}}
    return earlier  # no ObjectId comes after a resource id
