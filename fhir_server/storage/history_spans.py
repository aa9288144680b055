"""Which versions a history listing holds (http://hl7.org/fhir/R4/http.html#history):
those stored in a period (`_since`), and with `_at` also those that were current at its
start, as the first stages of an aggregation on a type's history rows."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pymongo import DESCENDING

from fhir_server.storage.single_versions import READ_AS_HISTORY, SINGLE_VERSION_TYPES


@dataclass(frozen=True)
class HistorySpan:
    """Versions stored from `since` to `until` (inclusive, either open) and, when
    `current_at` is set, stored before it only if still current at that moment."""

    since: datetime | None = None
    until: datetime | None = None
    current_at: datetime | None = None


def history_collection(resource_type: str) -> str:
    """Where a type's history rows are: a single-version type's current documents."""
    return resource_type if resource_type in SINGLE_VERSION_TYPES else f"{resource_type}_history"


def across_types(resource_types: list[str], branch: Callable[[str], list[dict]]) -> list[dict]:
    """One aggregation over the history rows of several types, run on the first type's
    collection: its `branch` stages, then every other type's by `$unionWith`."""
    first, *others = resource_types
    return [*branch(first), *({"$unionWith": {"coll": history_collection(other),
                                              "pipeline": branch(other)}} for other in others)]


def span_stages(resource_type: str, resource_id: str | None, span: HistorySpan) -> list[dict]:
    """The rows of `span` newest first, by (lastUpdated, _id); a stage that pages on that
    order goes at index 1, right after the first `$match`."""
    single = resource_type in SINGLE_VERSION_TYPES
    clauses: list[dict] = [{"deleted": False}] if single else []
    if resource_id is not None:
        clauses.append({"_id" if single else "id": resource_id})
    bounds = {operator: moment for operator, moment in (("$gte", span.since), ("$lte", span.until))
              if moment is not None}
    if bounds:
        clauses.append({"lastUpdated": bounds})
    stages: list[dict] = [
        {"$match": {"$and": clauses} if clauses else {}},
        {"$sort": {"lastUpdated": DESCENDING, "_id": DESCENDING}},
    ]
    if span.current_at is not None and not single:  # one version is never replaced
        stages += _current_at(span.current_at, f"{resource_type}_history")
    if single:
        stages.append({"$project": READ_AS_HISTORY})
    return stages


def _current_at(moment: datetime, collection: str) -> list[dict]:
    """Keep a row stored before `moment` only if it is no deletion and no later version of
    its resource was stored by then (later: a higher `vid`, whatever the clocks said)."""
    replaced = {
        "$lookup": {
            "from": collection,
            "localField": "id",
            "foreignField": "id",
            "let": {"vid": "$vid"},
            "pipeline": [
                {"$match": {"$expr": {"$gt": ["$vid", "$$vid"]}, "lastUpdated": {"$lte": moment}}},
                {"$limit": 1},
                {"$project": {"_id": 1}},
            ],
            "as": "replacedBy",
        }
    }
    kept = {"$or": [{"lastUpdated": {"$gte": moment}}, {"deleted": False, "replacedBy": []}]}
    return [replaced, {"$match": kept}, {"$unset": "replacedBy"}]
