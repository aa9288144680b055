"""An error about a conditional reference (`Patient?identifier=s|v`) names the reference that
failed (http://hl7.org/fhir/R4/http.html#trules): its FHIRPath in `expression`, and the
reference in the diagnostics, in a single write, a batch entry and a transaction alike."""

import pytest
from helpers import CCCD, FHIR_HEADERS, assert_outcome, created, new_patient, unique_cccd


def _observation(reference: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "cân nặng"},
            "subject": {"reference": "Patient/khac"},
            "performer": [{"display": "Điều dưỡng"}, {"reference": reference}]}


def _bundle(kind: str, resource: dict) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": [
        {"resource": resource, "request": {"method": "POST", "url": "Observation"}}]}


@pytest.fixture(scope="module")
def criteria(client) -> dict[str, tuple[str, int, str]]:
    """Criteria matching several Patients, none, and naming no search parameter."""
    value = unique_cccd()
    created(client, new_patient(value))
    created(client, new_patient(value))
    return {"several": (f"Patient?identifier={CCCD}|{value}", 412, "multiple-matches"),
            "none": (f"Patient?identifier={CCCD}|{unique_cccd()}", 404, "not-found"),
            "unknown parameter": ("Patient?khong-co=1", 400, "invalid")}


@pytest.mark.parametrize("case", ["several", "none", "unknown parameter"])
def test_a_failed_conditional_reference_is_named_by_its_path(client, criteria, case):
    reference, status, code = criteria[case]
    # A single write: no expression at all (or the criteria's parameter, `khong-co`).
    outcome = assert_outcome(client.post("/Observation", json=_observation(reference),
                                         headers=FHIR_HEADERS), status, code)
    [issue] = outcome["issue"]
    assert issue["expression"] == ["Observation.performer[1].reference"], outcome
    assert reference in issue["diagnostics"], outcome
    # A batch entry's outcome says as much as the write's.
    response = client.post("", json=_bundle("batch", _observation(reference)),
                           headers=FHIR_HEADERS)
    [entry] = response.json()["entry"]
    assert entry["response"]["status"].startswith(str(status)), entry
    assert entry["response"]["outcome"]["issue"] == [issue], entry
    # A transaction placed it at `Bundle.entry[0]`, not at the reference in it.
    outcome = assert_outcome(client.post("", json=_bundle("transaction", _observation(reference)),
                                         headers=FHIR_HEADERS), status, code)
    assert outcome["issue"][0]["expression"] == [
        "Bundle.entry[0].resource.performer[1].reference"], outcome
