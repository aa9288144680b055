"""Keyset paging for any `_sort` (DESIGN.md §3): results are ordered by the sort keys and
then `_id`, and the next page starts strictly after the last row's key values, so pages
never repeat or skip rows while other clients insert."""

from datetime import datetime
from typing import Protocol

from fhir_server.search.request import SortKey

_SPECIAL_FIELDS = {"_id": "_id", "_lastUpdated": "lastUpdated"}


def sort_fields(keys: list[SortKey]) -> list[tuple[str, int]]:
    """MongoDB sort of a `_sort`: `sort.<code>.a` holds the smallest value of a resource
    (what ascending order uses), `sort.<code>.d` the largest (for descending)."""
    fields = []
    for key in keys:
        field = _SPECIAL_FIELDS.get(key.code) or f"sort.{key.code}.{'d' if key.descending else 'a'}"
        fields.append((field, -1 if key.descending else 1))
    if all(field != "_id" for field, _ in fields):
        fields.append(("_id", 1))
    return fields


def reversed_order(fields: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The sort that reads the rows backwards (MongoDB's nulls included: they come first
    ascending, last descending)."""
    return [(field, -direction) for field, direction in fields]


class Row(Protocol):
    """What paging reads of a current version (storage's `CurrentVersion`): the fields
    `sort_fields` sorts on."""

    @property
    def id(self) -> str: ...

    @property
    def last_updated(self) -> datetime: ...

    @property
    def sort(self) -> dict: ...


def _value(row: Row, field: str) -> object:
    if field == "_id":
        return row.id
    if field == "lastUpdated":
        return row.last_updated
    value: object = row.sort
    for step in field.split(".")[1:]:  # sort.<code>.a or .d
        value = value.get(step) if isinstance(value, dict) else None
    return value


def position(row: Row, fields: list[tuple[str, int]]) -> list:
    """The last row's key values, JSON-ready for a cursor."""
    values = []
    for field, _ in fields:
        value = _value(row, field)
        values.append({"t": value.isoformat()} if isinstance(value, datetime) else value)
    return values


def _decode(value: object) -> object:
    if isinstance(value, dict) and isinstance(value.get("t"), str):
        return datetime.fromisoformat(value["t"])
    return value


def _beyond(field: str, direction: int, value: object) -> dict | None:
    """Rows strictly after `value` on this key; missing values sort first ascending."""
    if direction == 1:
        return {field: {"$ne": None}} if value is None else {field: {"$gt": value}}
    return None if value is None else {"$or": [{field: {"$lt": value}}, {field: None}]}


def at(fields: list[tuple[str, int]], values: list) -> dict:
    """The filter for the rows at the position `values` (a missing value is null)."""
    if len(values) != len(fields):
        raise ValueError("the cursor does not belong to this sort order")
    return {field: _decode(value) for (field, _), value in zip(fields, values, strict=True)}


def after(fields: list[tuple[str, int]], values: list) -> dict:
    """The filter for the rows after the position `values`."""
    if len(values) != len(fields):
        raise ValueError("the cursor does not belong to this sort order")
    (field, direction), value = fields[0], _decode(values[0])
    clauses = []
    if (beyond := _beyond(field, direction, value)) is not None:
        clauses.append(beyond)
    if len(fields) > 1:
        clauses.append({"$and": [{field: value}, after(fields[1:], values[1:])]})
    if not clauses:
        return {"_id": {"$in": []}}
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}
