"""Quantity search parameters (http://hl7.org/fhir/R4/search.html#quantity):
`[prefix]number|system|code`, where the code also matches the human unit when no system is
given. Entries are `{"v", "s", "c"}`, one per code and one per differing unit."""

from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion
from fhir_server.search.types.date import split_prefix
from fhir_server.search.types.number import compile_number, numeric, parse_number, sort_range
from fhir_server.search.values import split_escaped

MODIFIERS = ("missing",)
__all__ = ["MODIFIERS", "index", "sort_range", "compile_value"]


def _entries(quantity: object) -> list[dict]:
    if not isinstance(quantity, dict) or (value := numeric(quantity.get("value"))) is None:
        return []
    system = quantity.get("system") if isinstance(quantity.get("system"), str) else None
    entries = [{"v": value, "s": system, "c": quantity.get("code")}]
    unit = quantity.get("unit")
    if isinstance(unit, str) and unit != quantity.get("code"):
        entries.append({"v": value, "s": None, "c": unit})
    return entries


def index(nodes: list[Node]) -> list[dict]:
    return [entry for node in nodes for entry in _entries(node.value)]


def compile_value(criterion: Criterion, value: str) -> dict:
    parts = split_escaped(value, "|")
    if len(parts) not in (1, 3):
        raise ValueError("a quantity is [prefix]number, or [prefix]number|system|code")
    prefix, number = split_prefix(parts[0])
    condition = compile_number(prefix, parse_number(number))
    if len(parts) == 3:
        system, code = parts[1], parts[2]
        if code:
            condition = {"$and": [condition, {"c": code}]}
        if system:
            condition = {"$and": [condition, {"s": system}]}
    return {criterion.field: {"$elemMatch": condition}}
