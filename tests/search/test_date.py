"""Date parsing and prefix semantics (http://hl7.org/fhir/R4/search.html#date)."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.search.types.date import compile_date, parse_date, split_prefix

instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2024", "2024-01-01T00:00:00+00:00", "2024-12-31T23:59:59.999000+00:00"),
        ("2024-02", "2024-02-01T00:00:00+00:00", "2024-02-29T23:59:59.999000+00:00"),
        ("2023-12", "2023-12-01T00:00:00+00:00", "2023-12-31T23:59:59.999000+00:00"),
        ("2024-03-15", "2024-03-15T00:00:00+00:00", "2024-03-15T23:59:59.999000+00:00"),
        ("2024-03-15T10:30", "2024-03-15T10:30:00+00:00", "2024-03-15T10:30:59.999000+00:00"),
        ("2024-03-15T10:30:00+07:00", "2024-03-15T03:30:00+00:00",
         "2024-03-15T03:30:00.999000+00:00"),
        ("2024-03-15T10:30:00.250Z", "2024-03-15T10:30:00.250000+00:00",
         "2024-03-15T10:30:00.250000+00:00"),
        # A leap second: the last millisecond of its minute, so still on its day.
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999000+00:00",
         "2016-12-31T23:59:59.999000+00:00"),
        ("2016-12-31T23:59:60.5+07:00", "2016-12-31T16:59:59.999000+00:00",
         "2016-12-31T16:59:59.999000+00:00"),
    ],
)
def test_a_date_covers_the_range_of_its_precision(text, low, high):
    parsed = parse_date(text)
    assert (parsed.low.isoformat(), parsed.high.isoformat()) == (low, high)


@pytest.mark.parametrize(
    "text", ["2024-13", "2024-02-30", "24-01-01", "2024-01-01T10:00:00", "yesterday", "", "2024-1"]
)
def test_malformed_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_date(text)


def test_prefixes_are_split_only_when_known():
    assert split_prefix("ge2024") == ("ge", "2024")
    assert split_prefix("2024") == ("eq", "2024")
    assert split_prefix("xx2024") == ("eq", "xx2024")


def _matches(condition: dict, value: datetime) -> bool:
    """Evaluate the MongoDB filter produced for a point target (low = high = value)."""
    if "$and" in condition:
        return all(_matches(part, value) for part in condition["$and"])
    if "$or" in condition:
        return any(_matches(part, value) for part in condition["$or"])
    if "$nor" in condition:
        return not any(_matches(part, value) for part in condition["$nor"])
    operators = {"$gt": value.__gt__, "$gte": value.__ge__, "$lt": value.__lt__,
                 "$lte": value.__le__}
    return all(operators[op](bound) for spec in condition.values() for op, bound in spec.items())


@given(target=instants, search=instants)
def test_prefixes_on_points_follow_the_spec(target, search):
    text = search.strftime("%Y-%m-%dT%H:%M:%S.") + f"{search.microsecond // 1000:03d}Z"
    search_range = parse_date(text)
    expected = {
        "eq": target == search, "ne": target != search, "gt": target > search,
        "lt": target < search, "ge": target >= search, "le": target <= search,
        "sa": target > search, "eb": target < search,
    }
    for prefix, outcome in expected.items():
        condition = compile_date("at", "at", prefix, search_range)
        assert _matches(condition, target) is outcome, prefix


@given(target=instants)
def test_day_precision_eq_matches_every_instant_of_that_day(target):
    day = parse_date(target.strftime("%Y-%m-%d"))
    assert _matches(compile_date("lo", "hi", "eq", day), target)
    next_day = parse_date((target + timedelta(days=1)).strftime("%Y-%m-%d"))
    assert not _matches(compile_date("lo", "hi", "eq", next_day), target)
