"""Number parameters whose expression selects dates: an age, the whole years from the date
to the day of the search in the server's local time zone. The extensions pack's Patient
`age` (`Patient.birthDate`): "Searches for patients based on age as calculated based on
current date and date of birth. Deceased patients are excluded from the search."

A search value is a number as number search reads it (search.html#number): `35` is
[34.5, 35.5), which holds the age 35; `gt34.5`, ages from 35 on; `35.5` holds no age. A birth
date of a year or a month spans the ages its days give (`1990` is two ages), compared as
number search compares ranges: `eq` when each is within the value's range, `gt` when one
is above the value. So each prefix is a condition on the date: born by the last day of the
local date A years before today, for an age of A or more.

Entries are number ranges `{lo, hi}`: the date's instants in milliseconds, negated and
swapped (an age grows as the date it counts from goes back), so number search's `:missing`
and `_sort` (the youngest first) serve them as they serve any number. A resource recording a
death (`deceased[x]` not false) has no age: it has no entries, and no age search finds it.
"""

import math
from collections.abc import Callable
from datetime import date, datetime

from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion
from fhir_server.search.types import date as dates
from fhir_server.search.types.number import bounds, parse_number, sort_range

MODIFIERS = ("missing",)
# The types of the values an age counts from.
DATE_TYPES = frozenset({"date", "dateTime", "instant"})
__all__ = ["MODIFIERS", "compile_value", "counts_from", "index", "sort_range"]


def counts_from(result_types: frozenset[str]) -> bool:
    """Whether a number parameter whose expression selects `result_types` is an age."""
    return bool(result_types) and result_types <= DATE_TYPES


def _milliseconds(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def index(nodes: list[Node], resource: dict) -> list[dict]:
    """The dates as age keys; none for a resource that records a death."""
    if any(key.startswith("deceased") and value is not False
           for key, value in resource.items()):
        return []
    return [{"lo": -_milliseconds(entry["hi"]), "hi": -_milliseconds(entry["lo"])}
            for entry in dates.index(nodes)]


def _years_before(today: date, years: int) -> date | None:
    """The date `years` before today (28 February for a 29th in a common year); None
    before year 1, `date.max` after year 9999."""
    year = today.year - years
    if year < 1:
        return None
    if year > date.max.year:
        return date.max
    try:
        return today.replace(year=year)
    except ValueError:  # 29 February
        return today.replace(year=year, day=28)


def _key(today: date) -> Callable[[int], float]:
    """age → the least entry key of that age or more today: the negated last instant of
    the local day `age` years ago (anyone born by then is that old)."""
    def key(age: int) -> float:
        day = _years_before(today, age)
        if day is None:
            return math.inf  # born before year 1: no one
        return -_milliseconds(dates.parse_date(day.isoformat()).high)
    return key


def compile_value(criterion: Criterion, value: str) -> dict:
    prefix, text = dates.split_prefix(value)
    low, high, near_low, near_high, number = bounds(parse_number(text))
    key = _key(dates.local_today())

    def at_least(end: str, years: float) -> dict:  # the age at `end` ≥ the whole `years`
        return {end: {"$gte": key(math.ceil(years))}}

    def below(end: str, years: float) -> dict:
        return {end: {"$lt": key(math.ceil(years))}}

    # lo: the age at the last instant of the date (the least), hi: at its first.
    conditions = {
        "eq": [at_least("lo", low), below("hi", high)],
        "ne": [{"$or": [below("lo", low), at_least("hi", high)]}],
        "gt": [at_least("hi", math.floor(number) + 1)],
        "ge": [at_least("hi", number)],
        "lt": [below("lo", number)],
        "le": [below("lo", math.floor(number) + 1)],
        "sa": [at_least("lo", high)],
        "eb": [below("hi", low)],
        "ap": [below("lo", math.floor(near_high) + 1), at_least("hi", near_low)],
    }
    return {criterion.field: {"$elemMatch": {"$and": conditions[prefix]}}}
