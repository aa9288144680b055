"""Number search parameters (http://hl7.org/fhir/R4/search.html#number): a search value
stands for the range its precision implies (`100` is [99.5, 100.5)); prefixes compare with
it. Entries are ranges `{"lo", "hi"}`: a value is the range of one number, a Range
(`RiskAssessment.prediction.probability` is a decimal or a Range) its ends, an open end
infinite."""

import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation

from fhir_server.conformance.json_format import decimal128_holds, is_number
from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion
from fhir_server.search.types.date import split_prefix

MODIFIERS = ("missing",)
# A number in ASCII digits, as FHIR's decimal and integer grammars are (datatypes.html), with
# the spellings `+5`, `.5` and `5.` that Decimal reads too. Decimal alone also took `1_0_0`
# and any script's digits (`١٠٠`, `１００`), which a resource may not hold.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(text: str) -> Decimal:
    """A search value's number (numbers, quantities, `near`, composites' parts)."""
    if _NUMBER.fullmatch(text) is None:
        raise ValueError(f"'{text}' is not a number")
    try:
        number = Decimal(text)
    except InvalidOperation:  # an exponent of 30 digits, beyond Decimal's
        raise ValueError(f"'{text}' is not a number") from None
    # What a write refuses (conformance/json_format.py: beyond a double, or not held exactly
    # by a Decimal128, as `1e-7000` and `0e-99999999`) no resource holds: 400 alike (the
    # range arithmetic of `0e-99999999` was a 500). Below a double (`1E-400`) it is held,
    # and compared as it is indexed (`as_double`).
    if math.isinf(float(number)) or not decimal128_holds(number):
        raise ValueError(f"'{text}' is beyond the range of numbers this server stores and "
                         "compares")
    return number


def _unscaled(value: float) -> float:
    return value


def compile_number(prefix: str, number: Decimal,
                   scale: Callable[[float], float] = _unscaled,
                   ends: tuple[str, str] = ("v", "v")) -> dict:
    """A filter for one prefixed number on entries whose value is in `v`, or whose range
    is in `ends` (a Range's `{lo, hi}`, an open end infinite: "the target is explicitly a
    range", search.html#prefix, so `eq` holds when the search value's range contains it,
    `gt` when part of it lies above the value, `sa` when all of it does); `scale` maps the
    number and the bounds of its range to the units of the indexed values (an increasing
    map). A point is the range of one value: both forms are one table."""
    low, high, near_low, near_high, value = bounds(number, scale)
    lo, hi = ends

    def both(at_lo: dict, at_hi: dict) -> dict:
        return {lo: {**at_lo, **at_hi}} if lo == hi else {lo: at_lo, hi: at_hi}

    conditions: dict[str, dict] = {
        "eq": both({"$gte": low}, {"$lt": high}),
        "ne": {"$or": [{lo: {"$lt": low}}, {hi: {"$gte": high}}]},
        "gt": {hi: {"$gt": value}},
        # Beyond the search value's range, which the target's must not overlap (`sa 100`
        # is not met by 100.2: both lie in [99.5, 100.5))
        "sa": {lo: {"$gte": high}},
        "lt": {lo: {"$lt": value}},
        "eb": {hi: {"$lt": low}},
        "ge": {hi: {"$gte": value}},
        "le": {lo: {"$lte": value}},
        "ap": both({"$lte": near_high}, {"$gte": near_low}),
    }
    return conditions[prefix]


def compile_range(prefix: str, number: Decimal,
                  scale: Callable[[float], float] = _unscaled) -> dict:
    """`compile_number` on range entries `{lo, hi}`."""
    return compile_number(prefix, number, scale, ("lo", "hi"))


def bounds(number: Decimal, scale: Callable[[float], float] = _unscaled
           ) -> tuple[float, float, float, float, float]:
    """The range a number's precision implies, the range `ap` takes, and the number: each
    scaled."""
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # parse_number refuses NaN and infinities
    half = Decimal(5).scaleb(exponent - 1)
    value = as_double(number)
    slack = max(abs(value) / 10, float(half))
    low, high, near_low, near_high, value = (
        scale(bound) for bound in
        (as_double(number - half), as_double(number + half), value - slack, value + slack,
         value))
    if high <= value:
        # Digits beyond a double's (66.899999999999991), or beyond the 12 of base units:
        # the bounds round to the value, which the range must still hold (the indexed
        # values are rounded alike).
        high = math.nextafter(value, math.inf)
    return low, high, near_low, near_high, value


def numeric(value: object) -> float | None:
    """The double a JSON number is indexed as (`as_double`)."""
    return as_double(value) if is_number(value) else None


def as_double(number: int | float | Decimal) -> float:
    """The double a number is indexed and searched as; one too small for a double (a
    Decimal128 goes down to 1E-6176) as the smallest of its sign, not 0, which `gt0` would
    miss."""
    double = float(number)
    if double == 0 and number != 0:
        return math.copysign(math.ulp(0.0), double)
    return double


def range_ends(bounds: object) -> tuple[float, float] | None:
    """A Range's ends, an open end infinite; None when it has neither."""
    if not isinstance(bounds, dict):
        return None
    low, high = (numeric(end.get("value")) if isinstance(end := bounds.get(name), dict)
                 else None for name in ("low", "high"))
    if low is None and high is None:
        return None
    return -math.inf if low is None else low, math.inf if high is None else high


def index(nodes: list[Node]) -> list[dict]:
    ranges = set()
    for node in nodes:
        value = numeric(node.value)
        ends = range_ends(node.value) if node.type == "Range" else (
            None if value is None else (value, value))
        if ends is not None:
            ranges.add(ends)
    return [{"lo": lo, "hi": hi} for lo, hi in sorted(ranges)]


def span(values: Iterable[float]) -> tuple[float, float] | None:
    """The least and greatest of the finite `values` (what `_sort` orders by)."""
    finite = [value for value in values if math.isfinite(value)]
    return (min(finite), max(finite)) if finite else None


def sort_range(entries: list[dict]) -> tuple[float, float] | None:
    return span(end for entry in entries for end in (entry["lo"], entry["hi"]))


def compile_value(criterion: Criterion, value: str) -> dict:
    prefix, text = split_prefix(value)
    return {criterion.field: {"$elemMatch": compile_range(prefix, parse_number(text))}}
