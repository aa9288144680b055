"""The parameters of a history interaction (http://hl7.org/fhir/R4/http.html#history),
checked and read alike for a request and for a batch or transaction entry: `_since`, `_at`
and `_count`, with paging (`_cursor`) and the result format."""

from collections import Counter
from datetime import timedelta

from fhir_server.errors import BadRequest, NotSupported
from fhir_server.search.types.date import (
    EARLIEST,
    LATEST,
    DateRange,
    parse_date_parameter,
    split_prefix,
)
from fhir_server.storage.history_spans import HistorySpan

# What a history takes, with paging and the result format.
_HISTORY_PARAMETERS = frozenset({"_since", "_at", "_count", "_cursor", "_format", "_pretty"})
# The ones that "SHALL NOT appear more than once": which of two to use would be a guess.
_ONCE = ("_since", "_at", "_count")


def check_history_parameters(params: list[tuple[str, str]], strict: bool) -> None:
    """400 for one of _since, _at and _count given twice; with `strict` (`Prefer:
    handling=strict`), 400 for a parameter a history does not take, else it is ignored;
    `_list`, R4's fourth history parameter, 400 not-supported whatever the handling."""
    if any(name == "_list" for name, _ in params):
        # Ignored, the whole history would answer it.
        raise NotSupported("History by _list (the versions a List names) is not "
                           "supported; read the List and its entries' versions instead",
                           expression="_list")
    given = Counter(name for name, _ in params)
    for name in _ONCE:
        if given[name] > 1:
            raise BadRequest(f"History takes {name} once, not {given[name]} times",
                             expression=name)
    if strict:
        for name, _ in params:
            if name not in _HISTORY_PARAMETERS:
                raise BadRequest(f"History takes _since, _at and _count, not '{name}'",
                                 expression=name)


def history_span(params: list[tuple[str, str]]) -> HistorySpan:
    """The versions `_since` and `_at` ask for: with `_at`, those current at some time in
    its period, i.e. stored in it and the ones that were current when it began."""
    since = _date_param(params, "_since")
    period = _date_param(params, "_at")
    return HistorySpan(since.low if since else None, period.high if period else None,
                       period.low if period else None)


def last_value(params: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in params if key == name]
    return values[-1] if values else None


def _date_param(params: list[tuple[str, str]], name: str) -> DateRange | None:
    value = last_value(params, name)
    if value is None:
        return None
    # `_at` is read as search reads dates (http.html#history: "see Search notes about date
    # searches"): without a timezone in the server's, and `ge2026-01-01` is from then on.
    prefix, text = split_prefix(value) if name == "_at" else ("eq", value)
    if prefix not in ("eq", "ge", "gt", "le", "lt"):
        raise BadRequest(f"Invalid {name}: a period takes the prefixes eq, ge, gt, le and lt",
                         expression=name)
    try:
        period = parse_date_parameter(text, require_timezone=name == "_since")
    except ValueError as bad:
        raise BadRequest(f"Invalid {name}: {bad}", expression=name) from None
    instant = timedelta(milliseconds=1)  # of the instants stored; none beyond the calendar
    after = period.high + instant if period.high < LATEST else LATEST
    before = period.low - instant if period.low > EARLIEST else EARLIEST
    return {"eq": period, "ge": DateRange(period.low, LATEST), "gt": DateRange(after, LATEST),
            "le": DateRange(EARLIEST, period.high), "lt": DateRange(EARLIEST, before)}[prefix]
