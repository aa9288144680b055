"""per-1 (a Period's start is not after its end), mdd-1 and inv-1 (a dispense not handed over
before it was prepared, a task not modified before it was authored) and rng-2 (a Range's low
is not above its high), evaluated here: fhirpathpy compares dateTimes as text (`10:00+07:00`
after `03:30Z`) and cannot compare Quantities at all, so it refused valid cross-zone
Periods, passed reversed ones, and never checked a Range.

The comparisons follow FHIRPath (http://hl7.org/fhirpath/#comparison): dateTimes are
compared component by component from the year down, in UTC when both have a time; when
their precisions differ and the common components are equal, the result is unknown, and so
is a comparison of Quantities in different units (no UCUM conversion here): unknown is no
violation.
"""

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

_DATE_TIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def _components(text: object, in_utc: bool) -> tuple[Decimal, ...] | None:
    """Year, month, day, hour, minute, second as far as given; the time moved to UTC when
    `in_utc` and it has a timezone. None: not a date or dateTime."""
    match = _DATE_TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    parts = [part for part in match.groups()[:6] if part is not None]
    zone = match.group(7)
    if in_utc and zone and len(parts) >= 5:
        whole = Decimal(parts[5]) if len(parts) == 6 else Decimal(0)
        try:
            year, month, day, hour, minute = map(int, parts[:5])
            moment = datetime(year, month, day, hour, minute)
            if zone != "Z":
                sign = 1 if zone[0] == "+" else -1
                moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        except (ValueError, OverflowError):
            return None
        shifted = [moment.year, moment.month, moment.day, moment.hour, moment.minute]
        return tuple(Decimal(value) for value in shifted) + ((whole,) if len(parts) == 6 else ())
    return tuple(Decimal(part) for part in parts)


def _compared(first: object, second: object) -> tuple[int, int] | None:
    """The order (-1, 0, 1) of the first component where two dates or dateTimes differ (in
    UTC when both have a time), and of their precisions; None: not both dates."""
    both_timed = all(isinstance(v, str) and "T" in v for v in (first, second))
    one, other = _components(first, both_timed), _components(second, both_timed)
    if one is None or other is None:
        return None
    for left, right in zip(one, other, strict=False):
        if left != right:
            return (1 if left > right else -1), 0
    return 0, (len(one) > len(other)) - (len(one) < len(other))


def _after(start: object, end: object) -> bool:
    """Whether `start` is certainly after `end` (FHIRPath `start <= end` is false): equal as
    far as both go is equal, or unknown at different precisions."""
    compared = _compared(start, end)
    return compared is not None and compared[0] == 1


def out_of_order(earlier: str, later: str) -> Callable[[object], bool]:
    """Whether an object's `earlier` element is after its `later` one: per-1
    (`start <= end`), mdd-1 (`whenHandedOver >= whenPrepared`), inv-1
    (`lastModified >= authoredOn`), each true when either is absent."""
    return lambda value: isinstance(value, dict) and _after(value.get(earlier), value.get(later))


def _amount(quantity: object) -> tuple[Decimal, tuple] | None:
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        return None
    try:
        value = Decimal(str(quantity["value"]))
    except (InvalidOperation, ValueError):
        return None
    unit = (quantity.get("system"), quantity.get("code") or quantity.get("unit"))
    return value, unit


def range_out_of_order(quantity_range: object) -> bool:
    """rng-2: `low.empty() or high.empty() or (low <= high)` is false."""
    if not isinstance(quantity_range, dict):
        return False
    low, high = _amount(quantity_range.get("low")), _amount(quantity_range.get("high"))
    if low is None or high is None:
        return False
    return low[1] == high[1] and low[0] > high[0]


def probability_above_certainty(prediction: object) -> bool:
    """ras-2: `probability is decimal implies (probability as decimal) <= 100` is false
    (fhirpathpy answers it with nothing, neither true nor false)."""
    if not isinstance(prediction, dict):
        return False
    try:
        return Decimal(str(prediction.get("probabilityDecimal"))) > 100
    except (InvalidOperation, ValueError):
        return False


def compare_moments(first: object, second: object) -> int | None:
    """-1, 0 or 1 for two dates or dateTimes, compared as `_after` does; where they agree as
    far as the shorter goes, the longer is the later, as the HL7 validator reads a
    Questionnaire's limits (`2022-06-30` is past a maximum of `2022-06`). None: not both
    dates."""
    compared = _compared(first, second)
    return None if compared is None else compared[0] or compared[1]
