"""Date search parameters (http://hl7.org/fhir/R4/search.html#date).

A date of any precision is the range of instants it covers; prefixes compare ranges.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

# ASCII digits only, as FHIR's date grammars (datatypes.html): without re.ASCII, `\d` takes
# any script's digits, and `١٩٨٠` was searched as 1980.
_DATE = re.compile(
    r"(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?",
    re.ASCII,
)
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class DateRange:
    """The closed range [low, high] of instants (millisecond precision) a value covers."""

    low: datetime
    high: datetime


EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
# The server's local time zone, in which values without a timezone are read (Vietnam's,
# unless FHIR_TIMEZONE says otherwise: `fhir_server.search.index.use_timezone`).
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


@dataclass
class _LocalTime:
    zone: ZoneInfo


_local = _LocalTime(ZoneInfo(DEFAULT_TIMEZONE))


def set_local_timezone(name: str) -> None:
    """Read values without a timezone in the IANA zone `name` from now on (the settings
    checked that the time zone database holds it)."""
    _local.zone = ZoneInfo(name)


def local_timezone() -> str:
    return _local.zone.key


def local_today() -> date:
    """Today in the server's local time zone."""
    return datetime.now(_local.zone).date()


def local_date(moment: datetime) -> date:
    """The date an instant falls on in the server's local time zone."""
    return moment.astimezone(_local.zone).date()


def _utc(local: datetime, offset: timedelta) -> datetime:
    """A local time (naive) at a UTC offset, in UTC. Python's calendar (and so what the
    index can hold) ends at years 1 and 9999: `0001-01-01T00:00+14:00` is before year 1 in
    UTC, so instants beyond either end are clamped to it."""
    try:
        return (local - offset).replace(tzinfo=UTC)
    except OverflowError:
        return EARLIEST if offset > timedelta(0) else LATEST


def _end(low: datetime, part: dict[str, str | None], fraction: str) -> datetime | None:
    """The local instant just after the value's precision ends (None: after year 9999)."""
    try:
        if part["month"] is None:
            return low.replace(year=low.year + 1)
        if part["day"] is None:
            if low.month == 12:
                return low.replace(year=low.year + 1, month=1)
            return low.replace(month=low.month + 1)
        if part["hour"] is None:
            return low + timedelta(days=1)
        if part["second"] is None:
            return low + timedelta(minutes=1)
        # `.5` is a tenth of a second, `.50` a hundredth; the index holds milliseconds.
        digits = min(len(fraction) - 1, 3) if fraction else 0
        return low + timedelta(milliseconds=10 ** (3 - digits))
    except (OverflowError, ValueError):
        return None


def parse_date_parameter(text: str, require_timezone: bool = True) -> DateRange:
    """`parse_date` of a value from a URL, where a timezone's `+` sent unencoded arrives as
    a space (`T10:00:00 07:00`): taken as the `+` it was, as HAPI takes it."""
    return parse_date(text.strip().replace(" ", "+"), require_timezone)


def parse_date(text: str, require_timezone: bool = True) -> DateRange:
    """Parse a FHIR date, dateTime or instant; raise ValueError when it is not one.

    Values without a timezone are read in the server's local time zone
    (http://hl7.org/fhir/R4/search.html#date: "Where both search parameters and resource
    element date times do not have time zones, the servers local time zone should be
    assumed"), so that `date=2025-07-01` is the day a Vietnamese user means, and a stored
    date (a birthDate) is that day too. A time with seconds needs a timezone unless
    `require_timezone` is false, as for search values, where it is optional.
    """
    return _parsed(text, require_timezone, _local.zone)


# The same dates come again and again (a search's `ge2025-01-01`, a day's records): parsing
# one took 1.4% of an Encounter?patient&date search's CPU.
@lru_cache(maxsize=4096)
def _parsed(text: str, require_timezone: bool, zone: ZoneInfo) -> DateRange:
    """`parse_date` in the local time zone `zone`."""
    match = _DATE.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a FHIR date, dateTime or instant")
    part = match.groupdict()
    if require_timezone and part["tz"] is None and part["second"] is not None:
        raise ValueError(f"'{text}' has a time but no timezone")
    offset: timedelta | None = timedelta(0)
    if part["tz"] is None:
        offset = None  # the local zone's, once the local time is known
    elif part["tz"] != "Z":
        sign = 1 if part["tz"][0] == "+" else -1
        hours, minutes = map(int, part["tz"][1:].split(":"))
        # R4's grammar (datatypes.html#dateTime): up to 13:59, or 14:00; a write of `+14:59`
        # is refused, so a search for it is too.
        if (hours, minutes) > (14, 0) or minutes > 59:
            raise ValueError(f"'{text}' has a timezone offset beyond ±14:00")
        offset = sign * timedelta(hours=hours, minutes=minutes)
    fraction = part["fraction"] or ""
    if part["second"] == "60":
        # A leap second (R4's regex allows 60), which Python's calendar has not: it is the
        # last millisecond of its minute, so the value is indexed and found on its day.
        part["second"], fraction = "59", ".999"
    local = datetime(
        int(part["year"]),
        int(part["month"] or 1),
        int(part["day"] or 1),
        int(part["hour"] or 0),
        int(part["minute"] or 0),
        int(part["second"] or 0),
        int((fraction[1:] + "000000")[:6]) if fraction else 0,
    )
    def in_utc(moment: datetime) -> datetime:
        # The local zone's offset at that local time (the earlier one of a repeated hour).
        local_offset = (zone.utcoffset(moment) or timedelta(0)) if offset is None else offset
        return _utc(moment, local_offset)

    low = in_utc(local)
    end = _end(local, part, fraction)
    high = LATEST if end is None else max(EARLIEST + _ONE_MS, in_utc(end)) - _ONE_MS
    return DateRange(low, max(low, high))


def split_prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES:
        return value[:2], value[2:]
    return "eq", value


def compile_date(low_field: str, high_field: str, prefix: str, search: DateRange) -> dict:
    """A filter for target ranges [low_field, high_field] against a prefixed search range."""
    # $and, not one dict: for point values low_field and high_field are the same field.
    contained = {"$and": [{low_field: {"$gte": search.low}}, {high_field: {"$lte": search.high}}]}
    conditions: dict[str, dict] = {
        "eq": contained,
        "ne": {"$nor": [contained]},
        "gt": {high_field: {"$gt": search.high}},
        "lt": {low_field: {"$lt": search.low}},
        # The range from the search value's far end on overlaps the target: a Period that
        # starts on the day searched is on or before it (HAPI's reading; R4's table, read
        # from the near end, left out a record searched by its own start).
        "ge": {high_field: {"$gte": search.low}},
        "le": {low_field: {"$lte": search.high}},
        "sa": {low_field: {"$gt": search.high}},
        "eb": {high_field: {"$lt": search.low}},
    }
    if prefix == "ap":
        now = datetime.now(UTC)
        # 10% of the distance from now, within the calendar's ends.
        latest = search.high + min(abs(now - search.high) / 10, LATEST - search.high)
        earliest = search.low - min(abs(now - search.low) / 10, search.low - EARLIEST)
        return {
            "$and": [
                {low_field: {"$lte": latest}},
                {high_field: {"$gte": earliest}},
            ]
        }
    return conditions[prefix]


MODIFIERS = ("missing",)


def _period(period: dict) -> DateRange:
    """An open end means "ongoing"; an open start, "since whenever"."""
    low = parse_date(period["start"]).low if "start" in period else EARLIEST
    high = parse_date(period["end"]).high if "end" in period else LATEST
    return DateRange(low, max(low, high))


def _timing(timing: dict) -> DateRange | None:
    """A Timing's outer limits, its events and its bounds: "the specified scheduling details
    are ignored and only the outer limits matter" (http://hl7.org/fhir/R4/search.html#date).
    A schedule without events or a bounding Period has no dates to search."""
    events = timing.get("event")
    ranges = [parse_date(event) for event in events] if isinstance(events, list) else []
    repeat = timing.get("repeat")
    bounds = repeat.get("boundsPeriod") if isinstance(repeat, dict) else None
    if isinstance(bounds, dict):
        ranges.append(_period(bounds))
    if not ranges:
        return None
    return DateRange(min(r.low for r in ranges), max(r.high for r in ranges))


def _range(node: Node) -> DateRange | None:
    value = node.value
    try:
        if isinstance(value, str) and node.type == "instant":
            # "An instant is considered a fixed point in time with an interval smaller than
            # the precision of the system, i.e. an interval with an effective width of 0"
            # (search.html#date): its first millisecond, not the second it is written to.
            point = parse_date(value).low
            return DateRange(point, point)
        if isinstance(value, str) and node.type != "string":
            # A string choice (CarePlan's scheduledString) is text, even one that reads as a
            # date: the date types are date, dateTime, instant, Period and Timing.
            return parse_date(value)
        if isinstance(value, dict) and ("start" in value or "end" in value):
            return _period(value)
        if isinstance(value, dict) and ("event" in value or "repeat" in value):
            return _timing(value)
    except (TypeError, ValueError):
        return None
    return None


def index(nodes: list[Node]) -> list[dict]:
    ranges = {r for r in map(_range, nodes) if r is not None}
    return [{"lo": r.low, "hi": r.high} for r in sorted(ranges, key=lambda r: (r.low, r.high))]


def sort_range(entries: list[dict]) -> tuple[datetime, datetime] | None:
    if not entries:
        return None
    return min(e["lo"] for e in entries), max(e["hi"] for e in entries)


def compile_value(criterion: Criterion, value: str) -> dict:
    prefix, text = split_prefix(value)
    try:
        search = parse_date_parameter(text, require_timezone=False)
    except ValueError as bad:
        raise ValueError(f"{bad}; expected [prefix]date like ge2024-03-01") from None
    return {criterion.field: {"$elemMatch": compile_date("lo", "hi", prefix, search)}}
