"""Quantity search parameters (http://hl7.org/fhir/R4/search.html#quantity):
`[prefix]number|system|code`, where the code also matches the human unit when no system is
given. Entries are `{"v", "s", "c"}`, one per code and one per differing unit; a UCUM
quantity also has one in base units (`conformance.units`), marked `base`, which a search in UCUM
units is compared with."""

from fhir_server.conformance.units import UCUM, base_form, searched_base_form
from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion, number
from fhir_server.search.types.date import split_prefix
from fhir_server.search.types.number import compile_number, numeric, parse_number
from fhir_server.search.values import split_escaped

MODIFIERS = ("missing",)
__all__ = ["MODIFIERS", "index", "sort_range", "compile_value"]


def _entries(quantity: object) -> list[dict]:
    if not isinstance(quantity, dict) or (value := numeric(quantity.get("value"))) is None:
        return []
    system = quantity.get("system") if isinstance(quantity.get("system"), str) else None
    code = quantity.get("code")
    entries = [{"v": value, "s": system, "c": code}]
    unit = quantity.get("unit")
    if isinstance(unit, str) and unit != code:
        entries.append({"v": value, "s": None, "c": unit})
    if system == UCUM and isinstance(code, str) and (base := base_form(code)):
        entries.append({"v": base.to_base(value), "s": UCUM, "c": base.key, "base": True})
    return entries


def index(nodes: list[Node]) -> list[dict]:
    return [entry for node in nodes for entry in _entries(node.value)]


def sort_range(entries: list[dict]) -> tuple[float, float] | None:
    """Sorted by the values as written, in whatever units."""
    return number.sort_range([entry for entry in entries if "base" not in entry])


def compile_value(criterion: Criterion, value: str) -> dict:
    parts = split_escaped(value, "|")
    if len(parts) not in (1, 3):
        raise ValueError("a quantity is [prefix]number, or [prefix]number|system|code")
    prefix, text = split_prefix(parts[0])
    system, code = parts[1:] if len(parts) == 3 else ("", "")
    if system == UCUM and code and (base := searched_base_form(code)):
        condition = compile_number(prefix, parse_number(text), base.to_base)
        return {criterion.field: {"$elemMatch": {"$and": [condition, {"c": base.key,
                                                                      "base": True}]}}}
    # Values as written: any entry but those in base units.
    condition = {"$and": [compile_number(prefix, parse_number(text)),
                          {"base": {"$exists": False}}]}
    if code:
        condition = {"$and": [condition, {"c": code}]}
    if system:
        condition = {"$and": [condition, {"s": system}]}
    return {criterion.field: {"$elemMatch": condition}}
