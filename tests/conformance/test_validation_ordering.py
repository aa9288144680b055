"""per-1, mdd-1, Task's inv-1 and rng-2 compare times and quantities, not text (fhirpathpy
compared the text of dateTimes and could not compare Quantities): a Period written in two
timezones is in order when its instants are, and a Range whose low is above its high is
refused."""

from datetime import UTC, datetime, timedelta

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.conformance import ordering
from fhir_server.conformance.ordering import range_out_of_order

period_out_of_order = ordering.out_of_order("start", "end")

AMBULATORY = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
moments = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 1, 1),
                       timezones=st.just(UTC)).map(lambda m: m.replace(microsecond=0))
offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(lambda q: timedelta(minutes=15 * q))


def _written(moment: datetime, offset: timedelta) -> str:
    """The instant as a FHIR dateTime at a UTC offset (`Z` for none)."""
    local = (moment + offset).strftime("%Y-%m-%dT%H:%M:%S")
    if not offset:
        return local + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes > 0 else "-"
    return f"{local}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@given(start=moments, end=moments, start_offset=offsets, end_offset=offsets)
def test_a_period_is_in_order_by_its_instants_whatever_their_timezones(
        start, end, start_offset, end_offset):
    period = {"start": _written(start, start_offset), "end": _written(end, end_offset)}
    assert period_out_of_order(period) is (start > end), period


@pytest.mark.parametrize(("start", "end", "out_of_order"), [
    ("2024-01-02", "2024-01-01", True),
    ("2024-01", "2024-01-15", False),  # different precisions, equal as far as both go
    ("2024-02", "2024-01-15", True),
    ("2024-01-01", "2024-01-01T10:00:00+07:00", False),
    ("2024", None, False),
])
def test_a_period_of_dates_compares_at_the_precision_both_have(start, end, out_of_order):
    assert period_out_of_order({"start": start, "end": end}) is out_of_order


@pytest.mark.parametrize(("low", "high", "out_of_order"), [
    ({"value": 5, "unit": "mg"}, {"value": 1, "unit": "mg"}, True),
    ({"value": 1, "unit": "mg"}, {"value": 5, "unit": "mg"}, False),
    ({"value": "2.50", "code": "mg", "system": "http://unitsofmeasure.org"},
     {"value": "2.5", "code": "mg", "system": "http://unitsofmeasure.org"}, False),
    ({"value": 5, "code": "g", "system": "http://unitsofmeasure.org"},
     {"value": 1, "code": "kg", "system": "http://unitsofmeasure.org"}, False),  # unknown
    ({"unit": "mg"}, {"value": 1, "unit": "mg"}, False),
])
def test_a_range_compares_its_bounds_in_the_same_unit(low, high, out_of_order):
    assert range_out_of_order({"low": low, "high": high}) is out_of_order


def _encounter(start: str, end: str) -> dict:
    return {"resourceType": "Encounter", "status": "finished", "class": AMBULATORY,
            "period": {"start": start, "end": end}}


def test_writes_are_judged_by_instants_and_quantities(client):
    """08:00 at +07:00 is 01:00Z, before 01:30Z; 03:30Z is after 10:00 at +07:00 (03:00Z)."""
    in_order = _encounter("2025-07-02T08:00:00+07:00", "2025-07-02T01:30:00Z")
    response = client.post("/Encounter", json=in_order, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    reversed_period = _encounter("2024-01-01T03:30:00Z", "2024-01-01T10:00:00+07:00")
    outcome = assert_outcome(client.post("/Encounter", json=reversed_period,
                                         headers=FHIR_HEADERS), 400)
    assert "per-1" in outcome["issue"][0]["diagnostics"]
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "liều"},
                   "valueRange": {"low": {"value": 5, "unit": "mg"},
                                  "high": {"value": 1, "unit": "mg"}}}
    outcome = assert_outcome(client.post("/Observation", json=observation,
                                         headers=FHIR_HEADERS), 400)
    assert "rng-2" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("resource", "key", "earlier", "later"), [
    ({"resourceType": "MedicationDispense", "status": "completed",
      "medicationCodeableConcept": {"text": "Paracetamol 500 mg"}},
     "mdd-1", "whenPrepared", "whenHandedOver"),
    ({"resourceType": "Task", "status": "completed", "intent": "order"},
     "inv-1", "authoredOn", "lastModified"),
])
def test_dispenses_and_tasks_are_judged_by_instants(client, resource, key, earlier, later):
    """mdd-1 and inv-1 compared the text: handed over at 05:00Z after being prepared at
    10:00+07:00 (03:00Z) was refused, handed over at 09:00+07:00 (02:00Z) after 03:00Z
    stored, and `.5Z` was before `Z`. Task's inv-1 is not Parameters' inv-1."""
    kind = resource["resourceType"]
    for first, second in [("2024-01-01T10:00:00+07:00", "2024-01-01T05:00:00Z"),
                          ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00.5Z")]:
        response = client.post(f"/{kind}", json={**resource, earlier: first, later: second},
                               headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text
    reversed_times = {**resource, earlier: "2024-01-01T03:00:00Z",
                      later: "2024-01-01T09:00:00+07:00"}
    outcome = assert_outcome(client.post(f"/{kind}", json=reversed_times,
                                         headers=FHIR_HEADERS), 400)
    assert key in outcome["issue"][0]["diagnostics"]
