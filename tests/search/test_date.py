"""Date parsing and prefix semantics (http://hl7.org/fhir/R4/search.html#date)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from fhir_server.conformance.primitives import primitive_type
from fhir_server.search.index import index_version, use_timezone
from fhir_server.search.types.date import (
    DEFAULT_TIMEZONE,
    compile_date,
    local_timezone,
    parse_date,
    split_prefix,
)
from fhir_server.settings import Settings

instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        # Without a timezone: the server's, Vietnam's by default (UTC+7 since 1975).
        ("2024", "2023-12-31T17:00:00+00:00", "2024-12-31T16:59:59.999000+00:00"),
        ("2024-02", "2024-01-31T17:00:00+00:00", "2024-02-29T16:59:59.999000+00:00"),
        ("2023-12", "2023-11-30T17:00:00+00:00", "2023-12-31T16:59:59.999000+00:00"),
        ("2024-03-15", "2024-03-14T17:00:00+00:00", "2024-03-15T16:59:59.999000+00:00"),
        ("2024-03-15T10:30", "2024-03-15T03:30:00+00:00", "2024-03-15T03:30:59.999000+00:00"),
        ("2024-03-15T10:30:00+07:00", "2024-03-15T03:30:00+00:00",
         "2024-03-15T03:30:00.999000+00:00"),
        ("2024-03-15T10:30:00.250Z", "2024-03-15T10:30:00.250000+00:00",
         "2024-03-15T10:30:00.250000+00:00"),
        # A fraction covers what its digits name: a tenth, a hundredth of a second.
        ("2024-03-15T10:30:00.5Z", "2024-03-15T10:30:00.500000+00:00",
         "2024-03-15T10:30:00.599000+00:00"),
        ("2024-03-15T10:30:00.25Z", "2024-03-15T10:30:00.250000+00:00",
         "2024-03-15T10:30:00.259000+00:00"),
        ("2024-03-15T10:30:00.123456Z", "2024-03-15T10:30:00.123456+00:00",
         "2024-03-15T10:30:00.123456+00:00"),
        # A leap second: the last millisecond of its minute, so still on its day.
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999000+00:00",
         "2016-12-31T23:59:59.999000+00:00"),
        ("2016-12-31T23:59:60.5+07:00", "2016-12-31T16:59:59.999000+00:00",
         "2016-12-31T16:59:59.999000+00:00"),
    ],
)
def test_a_date_covers_the_range_of_its_precision(text, low, high):
    assert local_timezone() == DEFAULT_TIMEZONE == "Asia/Ho_Chi_Minh"
    parsed = parse_date(text)
    assert (parsed.low.isoformat(), parsed.high.isoformat()) == (low, high)


@pytest.fixture
def zone():
    """Switch the server's local time zone; the default is restored after the test."""
    yield use_timezone
    use_timezone(DEFAULT_TIMEZONE)


@pytest.mark.parametrize(
    ("name", "text", "low", "high"),
    [
        ("UTC", "2024-03-15", "2024-03-15T00:00:00+00:00", "2024-03-15T23:59:59.999000+00:00"),
        # The day clocks go forward lasts 23 hours, the day they go back 25.
        ("Europe/Berlin", "2024-03-31", "2024-03-30T23:00:00+00:00",
         "2024-03-31T21:59:59.999000+00:00"),
        ("Europe/Berlin", "2024-10-27", "2024-10-26T22:00:00+00:00",
         "2024-10-27T22:59:59.999000+00:00"),
        ("Europe/Berlin", "2024-10-27T12:00:00Z", "2024-10-27T12:00:00+00:00",
         "2024-10-27T12:00:00.999000+00:00"),
    ],
)
def test_values_without_a_timezone_are_read_in_the_configured_zone(zone, name, text, low, high):
    before = index_version()
    zone(name)
    parsed = parse_date(text)
    assert (parsed.low.isoformat(), parsed.high.isoformat()) == (low, high)
    assert index_version() != before  # entries indexed under the other zone are stale


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "+07:00", "", "../../etc/passwd"])
def test_an_unknown_time_zone_is_refused_by_the_settings(name):
    with pytest.raises(ValidationError, match="time zone"):
        Settings(timezone=name)
    assert Settings(timezone="UTC").timezone == "UTC"


@pytest.mark.parametrize(
    "text", ["2024-13", "2024-02-30", "24-01-01", "2024-01-01T10:00:00", "yesterday", "", "2024-1"]
)
def test_malformed_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_date(text)


@given(sign=st.sampled_from("+-"), hours=st.integers(0, 99), minutes=st.integers(0, 99))
def test_a_timezone_offset_is_searched_as_a_write_takes_it(sign, hours, minutes):
    """R4's dateTime takes offsets up to 13:59 and 14:00: `+14:59`, which every write
    refuses, was searched."""
    text = f"2024-01-01T00:00:00{sign}{hours:02d}:{minutes:02d}"
    if primitive_type("dateTime").problem(text) is None:
        assert parse_date(text).low == parse_date(text).high - timedelta(milliseconds=999)
    else:
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
def test_day_precision_eq_matches_every_instant_of_that_local_day(target):
    local = target.astimezone(ZoneInfo(local_timezone()))
    day = parse_date(local.strftime("%Y-%m-%d"))
    assert _matches(compile_date("lo", "hi", "eq", day), target)
    next_day = parse_date((local + timedelta(days=1)).strftime("%Y-%m-%d"))
    assert not _matches(compile_date("lo", "hi", "eq", next_day), target)
