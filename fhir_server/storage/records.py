"""Resource versions as they leave storage: typed records of the current-version and history
documents (README "Storage layout"), never the documents themselves.

Records are built per document on every search page and export batch, so they are plain
slotted dataclasses over the stored values, neither validated nor copied. A read with a
projection gets the defaults below for the fields it did not fetch.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fhir_server.storage.single_versions import object_id_text

# `lastUpdated` of a current version read without it (every version has one when stored).
NOT_READ = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CurrentVersion:
    """A document of `<Type>`: the current version of a resource, possibly deleted."""

    id: str
    vid: int = 0
    last_updated: datetime = NOT_READ
    deleted: bool = False
    resource: dict | None = None  # the FHIR JSON; None when deleted
    # `search.<code>` entry arrays and `sort.<code>.a/.d` keys, as far as they were read.
    search: dict[str, list] = field(default_factory=dict)
    sort: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: dict) -> "CurrentVersion":
        get = document.get
        return cls(
            document["_id"],
            get("vid", 0),
            get("lastUpdated", NOT_READ),
            get("deleted", False),
            get("resource"),
            get("search") or {},
            get("sort") or {},
        )


@dataclass(frozen=True, slots=True)
class HistoryVersion:
    """A document of `<Type>_history`: one version of a resource, never changed but for its
    meta (`$meta-add`/`$meta-delete` on the version)."""

    id: str
    vid: int
    last_updated: datetime
    deleted: bool
    method: str  # POST, PUT, PATCH or DELETE
    resource: dict | None  # the FHIR JSON; None for a deletion
    object_id: str = ""  # the document's ObjectId, as a string: history's paging key
    resource_type: str = ""  # set by reads across types (`ResourceStore.history`) only
    recreated: bool = False  # made the resource again after its deletion

    @classmethod
    def from_document(cls, document: dict) -> "HistoryVersion":
        object_id = document.get("_id")
        return cls(
            document["id"],
            document["vid"],
            document["lastUpdated"],
            document["deleted"],
            document["method"],
            document["resource"],
            "" if object_id is None else object_id_text(object_id),
            document.get("resourceType", ""),
            document.get("recreated", False),
        )
