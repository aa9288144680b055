"""Patient `age` of the extensions pack (a number parameter over `Patient.birthDate`): "age
as calculated based on current date and date of birth. Deceased patients are excluded".
An age is whole years on the server's local date; the value searched is read as number
search reads it (search.html#number: `35` is [34.5, 35.5)), and a birth date of a year spans
two ages, compared as a number range is.

Data set: patients born today, 35 years ago today, 35 years ago tomorrow (so 34), 36 years
ago tomorrow (35 for one more day), 35 years and 100 days ago (`deceasedBoolean` false), in
the year 50 years ago (49 or 50), 35 years ago today but deceased (by boolean and by date),
and one without a birth date.
"""

import uuid
from datetime import date, timedelta

import pytest
from search.helpers import assert_bad_parameter, expected, found, load, ordered_ids

from fhir_server.search.types import date as dates

TAG = f"urn:test|{uuid.uuid4().hex}"
_META = {"tag": [{"system": "urn:test", "code": TAG.partition("|")[2]}]}
TODAY = dates.local_today()


def _birth(years: int, days_later: int = 0) -> str:
    """The date `years` before the day `days_later` days from today (a 29 February as the
    28th in a common year)."""
    day = TODAY + timedelta(days=days_later)
    try:
        return day.replace(year=day.year - years).isoformat()
    except ValueError:
        return date(day.year - years, 2, 28).isoformat()


def _patient(birth: str | None, **deceased: object) -> dict:
    return {"resourceType": "Patient", "meta": _META, **deceased} | (
        {"birthDate": birth} if birth else {})


PATIENTS = {
    "newborn": _patient(_birth(0)),
    "turns35": _patient(_birth(35)),
    "is34": _patient(_birth(35, 1)),
    "last35": _patient(_birth(36, 1)),
    "alive35": _patient(_birth(35, -100), deceasedBoolean=False),
    "year": _patient(str(TODAY.year - 50)),
    "dead": _patient(_birth(35), deceasedBoolean=True),
    "died": _patient(_birth(35), deceasedDateTime="2024-05-01"),
    "unknown": _patient(None),
}
AGED_35 = {"turns35", "last35", "alive35"}


@pytest.fixture(scope="module", autouse=True)
def same_day_throughout():
    """The server (in this process) keeps the day the data set was built for: a run that
    crosses local midnight would otherwise age every patient a day between load and search."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dates, "local_today", lambda: TODAY)
        yield


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, PATIENTS)


@pytest.mark.parametrize(("value", "keys"), [
    ("35", AGED_35),
    ("35.0", AGED_35),
    ("3.5e1", AGED_35),
    ("35.5", set()),  # [35.45, 35.55) holds no whole number of years
    ("34", {"is34"}),
    ("0", {"newborn"}),
    ("0,34", {"newborn", "is34"}),
    ("gt34", AGED_35 | {"year"}),
    ("gt34.5", AGED_35 | {"year"}),
    ("ge35", AGED_35 | {"year"}),
    ("lt35", {"newborn", "is34"}),
    ("le35", AGED_35 | {"newborn", "is34"}),
    ("ne35", {"newborn", "is34", "year"}),
    ("sa35", {"year"}),
    ("eb35", {"newborn", "is34"}),
    ("ap35", AGED_35 | {"is34"}),  # 35 ± 3.5
    # A birth year is 49 or 50 years ago: ge50 may hold, gt50 cannot, eq needs both ages.
    ("ge50", {"year"}),
    ("gt50", set()),
])
def test_age_in_whole_years_on_the_local_date_alive_only(client, ids, value, keys):
    for headers in ({}, {"Prefer": "handling=strict"}):
        assert found(client, "/Patient", {"age": value, "_tag": TAG}, headers) == (
            expected(ids, keys)), headers


def test_the_deceased_and_the_undated_have_no_age(client, ids):
    living = set(PATIENTS) - {"dead", "died", "unknown"}
    assert found(client, "/Patient", {"age:missing": "true", "_tag": TAG}) == (
        expected(ids, {"dead", "died", "unknown"}))
    assert found(client, "/Patient", {"age:missing": "false", "_tag": TAG}) == (
        expected(ids, living))


def test_sorted_by_age_the_youngest_first(client, ids):
    youngest_first = ["newborn", "is34", "turns35", "alive35", "last35", "year"]
    params = {"age:missing": "false", "_tag": TAG}
    assert ordered_ids(client, "/Patient", params | {"_sort": "age"}) == [
        ids[key] for key in youngest_first]
    assert ordered_ids(client, "/Patient", params | {"_sort": "-age"}) == [
        ids[key] for key in reversed(youngest_first)]


@pytest.mark.parametrize("value", ["abc", "gt", "35y", "1e400"])
def test_a_malformed_age_is_a_400_naming_it(client, ids, value):
    assert_bad_parameter(client.get("/Patient", params={"age": value}), "age")
