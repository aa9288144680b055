"""Quantity search parameters (http://hl7.org/fhir/R4/search.html#quantity):
`[prefix]number|system|code`, where the code also matches the human unit when no system is
given. Entries are `{"v", "s", "c"}`, one per code and one per differing unit; a UCUM
quantity also has one in base units (`conformance.units`), marked `base`, which a search in UCUM
units is compared with. The entries of a parameter whose values may be Ranges
(`Condition.onset.as(Range)`) have `{"lo", "hi"}` (a point: both its value) for `v`."""

import math
import sys
from collections.abc import Callable
from decimal import Decimal

from fhir_server.conformance.units import UCUM, base_form, searched_base_form
from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion, number
from fhir_server.search.types.date import split_prefix
from fhir_server.search.types.number import compile_number, compile_range, numeric, parse_number
from fhir_server.search.values import split_escaped

MODIFIERS = ("missing",)
CURRENCIES = "urn:iso:std:iso:4217"  # Money's system: ISO 4217, the currency its code
__all__ = ["MODIFIERS", "index", "sort_range", "compile_value", "takes_ranges", "searched_units"]


def _entries(quantity: object, ranges: bool) -> list[dict]:
    if not isinstance(quantity, dict) or (value := numeric(quantity.get("value"))) is None:
        return []
    if ranges:  # a point, as the range it is
        return _in_units(quantity, {"lo": value, "hi": value},
                         lambda convert: {"lo": convert(value), "hi": convert(value)})
    return _in_units(quantity, {"v": value}, lambda convert: {"v": convert(value)})


def _range_entries(bounds: object) -> list[dict]:
    """A Range's entries `{lo, hi}`, an open end infinite, in the units of its bounds."""
    ends = number.range_ends(bounds)
    if ends is None:
        return []
    assert isinstance(bounds, dict)  # range_ends found ends in it
    lo, hi = ends
    unit_holder = bounds["low"] if math.isfinite(lo) else bounds["high"]
    return _in_units(unit_holder, {"lo": lo, "hi": hi},
                     lambda convert: {"lo": convert(lo), "hi": convert(hi)})


def _in_units(quantity: dict, values: dict, in_base: Callable[[Callable], dict]) -> list[dict]:
    """`values` by the quantity's system and code, by its unit when that differs, and in
    base units (`in_base`, given the conversion) for a UCUM code."""
    system = quantity.get("system") if isinstance(quantity.get("system"), str) else None
    code = quantity.get("code")
    if isinstance(quantity.get("currency"), str):  # Money: ISO 4217's code (MoneyQuantity)
        system, code = CURRENCIES, quantity["currency"]
    entries = [{**values, "s": system, "c": code}]
    unit = quantity.get("unit")
    if isinstance(unit, str) and unit != code:
        entries.append({**values, "s": None, "c": unit})
    if system == UCUM and isinstance(code, str) and (base := base_form(code)):
        converted = in_base(lambda value: _within_doubles(base.to_base(value), value))
        entries.append({**converted, "s": UCUM, "c": base.key, "base": True})
    return entries


def _within_doubles(converted: float, value: float) -> float:
    """A finite value beyond a double once in base units (1e300 Ym is 1e324 m) as the
    largest double of its sign: it had no entry in base units, which searches in UCUM
    units then missed (`gt0|UCUM|Ym`); an open end of a Range stays infinite."""
    if math.isfinite(converted) or not math.isfinite(value):
        return converted
    return math.copysign(sys.float_info.max, converted)


def index(nodes: list[Node], ranges: bool = False) -> list[dict]:
    """The entries of the values; with `ranges` (a parameter that `takes_ranges`), each a
    range `{lo, hi}`."""
    return [entry for node in nodes
            for entry in (_range_entries(node.value) if node.type == "Range"
                          else _entries(node.value, ranges))]


def sort_range(entries: list[dict]) -> tuple[float, float] | None:
    """Sorted in UCUM base units, as searches compare (search.html#quantity: "SHOULD compare
    in canonical units"; 5 mg before 1 g), like HAPI ("sorting by not-normalized value is
    meaningless in case units are not all the same"); a resource with no value in UCUM by
    its values as written, so quantities of one other unit still sort among themselves, and
    one with both by its UCUM ones. A range by its finite ends."""
    in_base = [entry for entry in entries if entry.get("base")]
    return number.span(value for entry in in_base or entries
                       for value in (entry.get("v"), entry.get("lo"), entry.get("hi"))
                       if value is not None)


def searched_units(value: str) -> list[str]:
    """The UCUM codes a search value names (`5.4|http://unitsofmeasure.org|mg`, in a comma
    list, or a composite's `$` part), to be read before the search is compiled."""
    codes = []
    for item in split_escaped(value, ",", keep_escapes=True):
        for part in split_escaped(item, "$", keep_escapes=True):
            pieces = split_escaped(part, "|")
            if len(pieces) == 3 and pieces[1] == UCUM and pieces[2]:
                codes.append(pieces[2])
    return codes


def takes_ranges(expression: str) -> bool:
    """Whether a parameter's (or component's) values may be Ranges
    (`Condition.onset.as(Age) | Condition.onset.as(Range)`): its entries are all ranges,
    compared as such (a point is the range of one value)."""
    return "Range" in expression


def compile_value(criterion: Criterion, value: str) -> dict:
    parts = split_escaped(value, "|")
    if len(parts) not in (1, 3):
        raise ValueError("a quantity is [prefix]number, or [prefix]number|system|code")
    prefix, text = split_prefix(parts[0])
    system, code = parts[1:] if len(parts) == 3 else ("", "")
    ranges = takes_ranges(criterion.parameter.expression)
    number = parse_number(text)
    base = searched_base_form(code) if system == UCUM and code else None
    # A value beyond a double in base units is compared as written: in base units it would
    # be the largest double, as every value beyond it is indexed (`_within_doubles`).
    if base is not None and math.isfinite(base.to_base(float(number))):
        condition = _compiled(prefix, number, ranges, base.to_base)
        return {criterion.field: {"$elemMatch": {"$and": [condition, {"c": base.key,
                                                                      "base": True}]}}}
    # Values as written: any entry but those in base units.
    condition = {"$and": [_compiled(prefix, number, ranges),
                          {"base": {"$exists": False}}]}
    if code:
        condition = {"$and": [condition, {"c": code}]}
    if system:
        condition = {"$and": [condition, {"s": system}]}
    return {criterion.field: {"$elemMatch": condition}}


def _compiled(prefix: str, value: Decimal, ranges: bool, *scale: Callable[[float], float]
              ) -> dict:
    return (compile_range if ranges else compile_number)(prefix, value, *scale)
