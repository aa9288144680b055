"""Date search (http://hl7.org/fhir/R4/search.html#date): every value is a range given by its
precision ("the date 2013-01-10 specifies all the time from 00:00 on 10-Jan 2013 to
immediately before 00:00 on 11-Jan 2013"), an instant is a point, a Period is explicit and
"a missing upper boundary is 'greater than' any actual date"; the prefixes compare ranges.

Data set:
- Patients born 1985-03-12, 1985-03, 1985, 1990-01-01, 2000-02-29, and one without birthDate;
  a last Patient created after the others for `_lastUpdated`.
- Provenances `when` (occurredDateTime) at the same instant written in +07:00 and as Z, at
  other offsets, at day precision, and one with an occurredPeriod (not a `when` value).
- DocumentReferences `date` (instant) with milliseconds and across the new year in +07:00.
- Encounters `date` (period): closed, open-ended (ongoing), without start, none.
Values without an offset, stored or searched, are read in the server's local time zone
(FHIR_TIMEZONE, Vietnam's by default: +07:00).
"""

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from api.helpers import parse_instant
from hypothesis import given, settings
from hypothesis import strategies as st
from search.helpers import OTHER_DIGITS, assert_bad_parameter, expected, found, load

B = {"b_day": "1985-03-12", "b_month": "1985-03", "b_year": "1985", "b_1990": "1990-01-01",
     "b_2000": "2000-02-29"}
BORN = set(B)
WHEN = {
    "pv_a": "2024-03-01T10:00:00+07:00",  # 03:00:00Z
    "pv_b": "2024-03-01T10:00:00Z",
    "pv_c": "2024-03-01",
    "pv_d": "2024-02-29T23:30:00-05:00",  # 2024-03-01T04:30:00Z
    "pv_e": "2024-03-01T10:00:30Z",
}
DOCS = {"d1": "2024-03-01T08:15:30.250+07:00", "d2": "2024-03-01T01:15:30Z",
        "d3": "2023-12-31T23:59:59Z"}
PERIODS = {
    "en_closed": {"start": "2024-03-01T08:00:00+07:00", "end": "2024-03-05T10:00:00+07:00"},
    "en_open": {"start": "2024-03-10T08:00:00+07:00"},
    "en_old": {"start": "2023-01-10", "end": "2023-01-12"},
    "en_endonly": {"end": "2023-06-01"},
}


def _provenance(occurred: dict) -> dict:
    return {"resourceType": "Provenance", "target": [{"reference": "Patient/p-unknown"}],
            "recorded": "2024-03-01T12:00:00Z", "agent": [{"who": {"display": "HIS"}}],
            **occurred}


def _document(date: str | None) -> dict:
    return {"resourceType": "DocumentReference", "status": "current",
            "content": [{"attachment": {"contentType": "text/plain", "data": "SGVsbG8="}}],
            **({"date": date} if date else {})}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    data = {key: {"resourceType": "Patient", "birthDate": date} for key, date in B.items()}
    data["b_none"] = {"resourceType": "Patient", "gender": "unknown"}
    data |= {key: _provenance({"occurredDateTime": when}) for key, when in WHEN.items()}
    data["pv_period"] = _provenance({"occurredPeriod": {"start": "2024-03-01T10:00:00Z"}})
    data |= {key: _document(date) for key, date in DOCS.items()}
    data["d_none"] = _document(None)
    data |= {key: {"resourceType": "Encounter", "status": "finished",
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                             "code": "AMB"}, "period": period}
             for key, period in PERIODS.items()}
    data["en_none"] = {"resourceType": "Encounter", "status": "planned",
                       "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                 "code": "AMB"}}
    loaded = load(client, data)
    first = max((client.get(f"/Patient/{loaded[key]}").json()["meta"]["lastUpdated"]
                 for key in [*B, "b_none"]), key=parse_instant)
    time.sleep(0.05)
    late = load(client, {"late": {"resourceType": "Patient", "birthDate": "2010-10-10"}})
    last = client.get(f"/Patient/{late['late']}").json()["meta"]["lastUpdated"]
    return loaded | late | {"first_updated": first, "last_updated": last}


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("1985", {"b_day", "b_month", "b_year"}),
        ("eq1985", {"b_day", "b_month", "b_year"}),
        ("1985-03", {"b_day", "b_month"}),
        ("1985-03-12", {"b_day"}),
        ("1985-03-13", set()),
        ("2000-02-29", {"b_2000"}),
        ("ne1985-03", {"b_year", "b_1990", "b_2000", "late"}),
        ("ne1985", {"b_1990", "b_2000", "late"}),
        ("gt1985-03-12", {"b_month", "b_year", "b_1990", "b_2000", "late"}),
        ("gt1985", {"b_1990", "b_2000", "late"}),
        ("lt1985-03-12", {"b_month", "b_year"}),
        ("lt1990-01-01", {"b_day", "b_month", "b_year"}),
        ("lt1985", set()),
        ("ge1985-03-12", {"b_day", "b_month", "b_year", "b_1990", "b_2000", "late"}),
        ("ge1990", {"b_1990", "b_2000", "late"}),
        ("le1985-03-12", {"b_day", "b_month", "b_year"}),
        ("le1990-01-01", {"b_day", "b_month", "b_year", "b_1990"}),
        ("sa1985-03-12", {"b_1990", "b_2000", "late"}),
        ("sa1984", BORN | {"late"}),
        ("eb1990-01-01", {"b_day", "b_month", "b_year"}),
        ("eb1985-03-12", set()),
        ("eb1985-04", {"b_day", "b_month"}),
        ("1985-03-12T10:00+07:00", set()),
        ("ge1985-03-12&le1985-03-12", {"b_day", "b_month", "b_year"}),
        ("1985,2000", {"b_day", "b_month", "b_year", "b_2000"}),
    ],
)
def test_birthdate_prefixes_at_year_month_and_day_precision(client, ids, value, keys):
    params = [("birthdate", part) for part in value.split("&")]
    assert found(client, "/Patient", params) == expected(ids, keys)


def test_ap_birthdate_includes_the_date_and_excludes_far_ones(client, ids):
    result = found(client, "/Patient", {"birthdate": "ap1985-03-12"})
    assert expected(ids, {"b_day"}) <= result
    assert not result & expected(ids, {"b_2000", "b_none", "late"})


def test_missing_birthdate(client, ids):
    assert found(client, "/Patient", {"birthdate:missing": "true"}) == expected(ids, {"b_none"})


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("2024-03-01T10:00:00+07:00", {"pv_a"}),
        ("2024-03-01T03:00:00Z", {"pv_a"}),
        # A dateTime to the second covers that second; a millisecond inside it does not
        # contain it (an instant, like DocumentReference.date, would be a point).
        ("2024-03-01T03:00:00.000Z", set()),
        ("2024-03-01T10:00:00Z", {"pv_b"}),
        ("2024-03-01T17:00:00+07:00", {"pv_b"}),
        ("2024-03-01T04:30:00Z", {"pv_d"}),
        ("2024-02-29T23:30:00-05:00", {"pv_d"}),
        ("2024-03-01T10:00:30Z", {"pv_e"}),
        # A time without a timezone is in the server's time zone, +07:00 (not a 400).
        ("2024-03-01T10:00:00", {"pv_a"}),
        ("2024-03-01T17:00:00", {"pv_b"}),
        ("2024-03-01T03:00:00", set()),
        ("gt2024-03-01T10:00:00", {"pv_b", "pv_c", "pv_d", "pv_e"}),
        # Minute precision covers the whole minute.
        ("2024-03-01T10:00Z", {"pv_b", "pv_e"}),
        ("2024-03-01T17:00+07:00", {"pv_b", "pv_e"}),
        ("2024-03-01", {"pv_a", "pv_b", "pv_c", "pv_d", "pv_e"}),
        ("2024-03", {"pv_a", "pv_b", "pv_c", "pv_d", "pv_e"}),
        ("2024-02-29", set()),
        ("ne2024-03-01T10:00:00Z", {"pv_a", "pv_c", "pv_d", "pv_e"}),
        ("gt2024-03-01T10:00:00Z", {"pv_c", "pv_e"}),
        ("lt2024-03-01T04:00:00Z", {"pv_a", "pv_c"}),
        ("ge2024-03-01T04:30:00Z", {"pv_b", "pv_c", "pv_d", "pv_e"}),
        ("le2024-03-01T04:30:00Z", {"pv_a", "pv_c", "pv_d"}),
        ("sa2024-03-01T04:30:00Z", {"pv_b", "pv_e"}),
        ("eb2024-03-01T04:30:00Z", {"pv_a"}),
        ("sa2024-03-01", set()),
        ("eb2024-03-02", {"pv_a", "pv_b", "pv_c", "pv_d", "pv_e"}),
    ],
)
def test_provenance_when_at_second_and_minute_precision_with_offsets(client, ids, value, keys):
    assert found(client, "/Provenance", {"when": value}) == expected(ids, keys)


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("2024-03-01T01:15:30Z", {"d1", "d2"}),
        ("2024-03-01T08:15:30+07:00", {"d1", "d2"}),
        ("2024-03-01T01:15:30.250Z", {"d1"}),
        ("2024-03-01T01:15:30.251Z", set()),
        # 2023-12-31T23:59:59Z is 06:59:59 on New Year's Day in Vietnam.
        ("2024", {"d1", "d2", "d3"}),
        ("2023", set()),
        ("2024-01-01", {"d3"}),
        ("2024-01-01T06:59:59+07:00", {"d3"}),
        ("lt2024", set()),
        ("lt2024-01-01T00:00:00Z", {"d3"}),
        ("ge2024-01-01T00:00:00Z", {"d1", "d2"}),
        ("gt2024-03-01T01:15:30Z", set()),
        ("gt2024-03-01T01:15:29Z", {"d1", "d2"}),
        # An instant written to the second is the point at its first millisecond, not the
        # whole second: found by that millisecond, and before one later in that second.
        ("2024-03-01T01:15:30.000Z", {"d2"}),
        ("gt2024-03-01T01:15:30.500Z", set()),
        ("eb2024-03-01T01:15:30.500Z", {"d1", "d2", "d3"}),
    ],
)
def test_document_reference_date_is_an_instant(client, ids, value, keys):
    assert found(client, "/DocumentReference", {"date": value}) == expected(ids, keys)


_POINTS = {key: datetime.fromisoformat(date) for key, date in DOCS.items()}
# The search value's precision: its unit, and how it is written.
_PRECISIONS = {"minute": (timedelta(minutes=1), "%Y-%m-%dT%H:%M"),
               "second": (timedelta(seconds=1), "%Y-%m-%dT%H:%M:%S"),
               "millisecond": (timedelta(milliseconds=1), "%Y-%m-%dT%H:%M:%S.%f")}


def _on_points(prefix: str, low: datetime, high: datetime) -> set[str]:
    """The documents whose instant, a point, the prefixed range [low, high] finds."""
    test = {"eq": lambda p: low <= p <= high, "ne": lambda p: not low <= p <= high,
            "gt": lambda p: p > high, "lt": lambda p: p < low, "ge": lambda p: p >= low,
            "le": lambda p: p <= high, "sa": lambda p: p > high, "eb": lambda p: p < low}
    return {key for key, point in _POINTS.items() if test[prefix](point)}


@settings(max_examples=60, deadline=None)
@given(prefix=st.sampled_from(["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"]),
       offset=st.integers(min_value=-1500, max_value=1500),
       precision=st.sampled_from(sorted(_PRECISIONS)),
       zone=st.sampled_from([UTC, timezone(timedelta(hours=7))]))
def test_an_instant_is_a_point_whatever_the_precision_searched(client, ids, prefix, offset,
                                                               precision, zone):
    """search.html#date: "An instant is considered a fixed point in time with an interval
    smaller than the precision of the system, i.e. an interval with an effective width of 0",
    and the search value is the range its precision implies."""
    unit, form = _PRECISIONS[precision]
    moment = (_POINTS["d2"] + timedelta(milliseconds=offset)).astimezone(zone)
    start = datetime.min.replace(tzinfo=zone)
    low = start + (moment - start) // unit * unit  # the moment cut to the precision
    text = low.strftime(form)[: -3 if precision == "millisecond" else None]
    text += "Z" if zone is UTC else "+07:00"
    assert found(client, "/DocumentReference", {"date": prefix + text}) == expected(
        ids, _on_points(prefix, low, low + unit - timedelta(milliseconds=1)))


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("2024-03", {"en_closed"}),
        ("2024", {"en_closed"}),
        ("2023-01", {"en_old"}),
        ("2023", {"en_old"}),
        ("2024-03-03", set()),
        ("ne2024-03", {"en_open", "en_old", "en_endonly"}),
        ("gt2024-03-31", {"en_open"}),
        ("gt2099-12-31", {"en_open"}),
        ("lt2023-01-01", {"en_endonly"}),
        ("lt2023-02", {"en_old", "en_endonly"}),
        ("ge2024-03-06", {"en_open"}),
        ("le2023-01-12", {"en_old", "en_endonly"}),
        # A Period that starts on the day is on or before it, one that ends on it on or
        # after it (the range from the search value's far end overlaps it), as HAPI reads
        # le and ge: a search by the recorded start finds the record.
        ("le2024-03-01", {"en_closed", "en_old", "en_endonly"}),
        ("ge2024-03-05", {"en_closed", "en_open"}),
        ("le2024-03-10T08:00:00+07:00", {"en_closed", "en_open", "en_old", "en_endonly"}),
        ("ge2023-01-12", {"en_closed", "en_open", "en_old", "en_endonly"}),
        ("sa2024-03-05", {"en_open"}),
        ("sa2024-03-01", {"en_open"}),
        ("eb2024-03-01", {"en_old", "en_endonly"}),
        ("eb2024-03-06", {"en_closed", "en_old", "en_endonly"}),
    ],
)
def test_encounter_date_is_its_period_and_open_ends_are_unbounded(client, ids, value, keys):
    assert found(client, "/Encounter", {"date": value}) == expected(ids, keys)


def test_a_timezone_plus_sent_unencoded_is_read_as_the_plus_it_was(client, ids):
    """A `+` in a query string is a space (application/x-www-form-urlencoded): a client that
    forgets to encode the one of `+07:00` still means that offset (HAPI reads it so)."""
    raw = client.get("/Provenance?when=2024-03-01T10:00:00+07:00")
    assert raw.status_code == 200, raw.text
    assert {e["resource"]["id"] for e in raw.json().get("entry", [])} == {ids["pv_a"]}
    history = client.get(f"/Patient/{ids['late']}/_history?_since=2000-01-01T00:00:00+07:00")
    assert history.status_code == 200, history.text


def test_ap_on_a_period_includes_an_overlapping_one(client, ids):
    result = found(client, "/Encounter", {"date": "ap2024-03-03"})
    assert expected(ids, {"en_closed"}) <= result
    assert not result & expected(ids, {"en_none"})


def test_last_updated_gt_and_lt(client, ids):
    everyone = expected(ids, BORN | {"b_none", "late"})
    first, last = ids["first_updated"], ids["last_updated"]
    assert parse_instant(first) < parse_instant(last)
    assert found(client, "/Patient", {"_lastUpdated": f"gt{first}"}) == expected(ids, {"late"})
    assert found(client, "/Patient", {"_lastUpdated": f"lt{last}"}) == everyone - expected(
        ids, {"late"})
    assert found(client, "/Patient", {"_lastUpdated": f"le{last}"}) == everyone
    assert found(client, "/Patient", {"_lastUpdated": f"ge{last}"}) == expected(ids, {"late"})
    assert found(client, "/Patient", {"_lastUpdated": f"gt{last}"}) == set()
    assert found(client, "/Patient", [("_lastUpdated", f"gt{first}"),
                                      ("_lastUpdated", f"lt{last}")]) == set()
    # Without a timezone, as many clients send it: the server's time zone.
    assert found(client, "/Patient", {"_lastUpdated": "lt2999-01-01T00:00:00"}) == everyone
    assert found(client, "/Patient", {"_lastUpdated": "gt2999-01-01T00:00:00"}) == set()


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/Patient", "birthdate", "1985-13"),
        ("/Patient", "birthdate", "1985-02-30"),
        ("/Patient", "birthdate", "85-03-12"),
        ("/Patient", "birthdate", "1985-3-12"),
        ("/Patient", "birthdate", "xx1985"),
        ("/Patient", "birthdate", "gt"),
        ("/Patient", "birthdate", "eq"),
        ("/Patient", "birthdate", "yesterday"),
        ("/Patient", "birthdate", "1985-03-12T25:00Z"),
        ("/Patient", "birthdate", "1985-03-12T10:00+25:00"),
        ("/Patient", "birthdate", "ge1985,lt"),
        ("/Patient", "death-date", "1985/03/12"),
        ("/Patient", "_lastUpdated", "gt2024-13-01"),
        ("/Provenance", "when", "2024-03-01 10:00"),
        ("/Encounter", "date", "GT2024-03-01"),
        ("/DocumentReference", "date", "2024-03-01T10"),
        # FHIR's dates are ASCII digits (datatypes.html); `\\d` took any script's.
        ("/Patient", "birthdate", "\u0661\u0669\u0668\u0665"),  # Arabic-Indic 1985
        ("/Patient", "birthdate", "ge\uff11\uff19\uff18\uff15-03"),  # full-width 1985
        ("/Patient", "_lastUpdated", "gt2024-0\u0663-01"),
        ("/Provenance", "when", "2024-03-01T10:00:0\u0660Z"),
        ("/Patient/_history", "_since", "\u0662\u0660\u0662\u0664-01-01T00:00:00Z"),
    ],
)
def test_a_malformed_date_or_prefix_is_a_400_naming_the_parameter(client, ids, path, name,
                                                                   value):
    assert_bad_parameter(client.get(path, params={name: value}), name)


# A search date at each precision (search.html#date).
PRECISIONS = ["1985", "1985-03", "1985-03-12", "1985-03-12T10:20+07:00",
              "1985-03-12T10:20:30Z", "1985-03-12T10:20:30.456+07:00"]


@settings(max_examples=40, deadline=None)
@given(date=st.sampled_from(PRECISIONS), other=OTHER_DIGITS, spot=st.integers(0, 20),
       name=st.sampled_from(["birthdate", "_lastUpdated"]))
def test_any_date_with_a_digit_of_another_script_is_a_400(client, date, other, spot, name):
    assert client.get("/Patient", params={name: date}).status_code == 200
    digits = [index for index, char in enumerate(date) if char.isdigit()]
    at = digits[spot % len(digits)]
    value = date[:at] + other + date[at + 1:]
    assert_bad_parameter(client.get("/Patient", params={name: value}), name)


def _care_plan(timing: dict) -> dict:
    return {"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"display": "Nguyễn Văn An"},
            "activity": [{"detail": {"status": "scheduled", "scheduledTiming": timing}}]}


# Timings: events; a bounding Period; an open-ended bound; a schedule with neither.
TIMINGS = {
    "t_events": {"event": ["2024-05-02T08:00:00+07:00", "2024-05-09T08:00:00+07:00"]},
    "t_bounds": {"repeat": {"boundsPeriod": {"start": "2024-06-01", "end": "2024-06-14"},
                            "frequency": 1, "period": 1, "periodUnit": "d"}},
    "t_open": {"repeat": {"boundsPeriod": {"start": "2024-07-01"}, "frequency": 2,
                          "period": 1, "periodUnit": "d"}},
    "t_none": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
}


@pytest.fixture(scope="module")
def timing_ids(client) -> dict[str, str]:
    return load(client, {key: _care_plan(timing) for key, timing in TIMINGS.items()})


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("ge2024-05-05", {"t_events", "t_bounds", "t_open"}),
        ("2024-05", {"t_events"}),
        ("eb2024-06-01", {"t_events"}),
        ("ge2024-06-10&le2024-06-10", {"t_bounds"}),
        ("sa2024-06-20", {"t_open"}),
        ("2024-06", {"t_bounds"}),
        ("lt2024-05-01", set()),
    ],
)
def test_a_timing_is_searched_by_its_outer_limits(client, timing_ids, value, keys):
    """"Timing: the specified scheduling details are ignored and only the outer limits
    matter" (http://hl7.org/fhir/R4/search.html#date): the events and the bounding Period."""
    params = [("activity-date", part) for part in value.split("&")]
    assert found(client, "/CarePlan", params) == expected(timing_ids, keys)


def test_a_timing_without_events_or_bounds_has_no_date(client, timing_ids):
    missing = found(client, "/CarePlan", {"activity-date:missing": "true"})
    assert missing == expected(timing_ids, {"t_none"})


def test_a_string_choice_that_reads_as_a_date_is_no_date(client):
    """CarePlan.activity.detail.scheduled[x] is Timing, Period or string: the date
    parameter indexes the first two (search.html#date), not text like CarePlan/f001's
    scheduledString, however much it looks like a date."""
    plan = {"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"display": "Trần Thị Bình"},
            "activity": [{"detail": {"status": "scheduled",
                                     "scheduledString": "2011-06-27T09:30:10+01:00"}}]}
    plan_id = load(client, {"text_plan": plan})["text_plan"]
    assert not found(client, "/CarePlan", {"_id": plan_id, "activity-date": "2011-06-27"})
    assert found(client, "/CarePlan", {"_id": plan_id, "activity-date:missing": "true"}) == {
        plan_id}


@pytest.mark.parametrize("offset", ["+14:59", "-14:01", "+14:30"])
def test_a_timezone_offset_a_write_refuses_is_400_in_a_search_too(client, offset):
    """R4's dateTime ends at ±14:00: a search for `+14:59` was answered (probe CL)."""
    moment = f"2024-01-01T00:00:00{offset}"
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"code": "AMB"}, "period": {"start": moment}}
    assert client.post("/Encounter", json=encounter,
                       headers={"Content-Type": "application/fhir+json"}).status_code == 400
    assert_bad_parameter(client.get("/Encounter", params={"date": moment}), "date")
