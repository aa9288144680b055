"""The size of one search page (issue 14): matches and `_include`/`_revinclude`d resources
together stay within FHIR_MAX_RESPONSE_RESOURCES (2,000 by default), and a page that had to
leave included resources out says so in an OperationOutcome entry (search mode `outcome`)
rather than failing; `_include` and `_revinclude` rules per search are bounded too."""

import uuid

import pytest
from api.helpers import FHIR_HEADERS

from security.helpers import bundle, encounter_resource, fhir_client, own_server, patient_resource

MAX_RESOURCES = 2000  # the default


@pytest.fixture(scope="module")
def unsigned(mongo_uri, request, tmp_path_factory, issuer):
    """Writes unsigned, only to make the data of these tests quickly."""
    with own_server(mongo_uri, request, tmp_path_factory, issuer, sign_writes=False) as running:
        yield running


@pytest.fixture(scope="module")
def http(unsigned, issuer):
    with fhir_client(unsigned.base, issuer.token()) as client:
        yield client


def _create_patient_with_encounters(http, count: int) -> str:
    patient = http.post("/Patient", json=patient_resource(), headers=FHIR_HEADERS)
    assert patient.status_code == 201, patient.text
    patient_id = patient.json()["id"]
    entries = [{"resource": encounter_resource(f"Patient/{patient_id}"),
                "request": {"method": "POST", "url": "Encounter"}} for _ in range(count)]
    for start in range(0, count, 1000):
        created = http.post("", json=bundle("batch", *entries[start:start + 1000]),
                            headers=FHIR_HEADERS, timeout=300)
        assert created.status_code == 200, created.text[:300]
    return patient_id


@pytest.fixture(scope="module")
def crowded(http) -> str:
    """A Patient with more Encounters than a page may hold."""
    return _create_patient_with_encounters(http, MAX_RESOURCES + 100)


def _modes(page: dict) -> dict[str, int]:
    modes: dict[str, int] = {}
    for entry in page.get("entry", []):
        modes[entry["search"]["mode"]] = modes.get(entry["search"]["mode"], 0) + 1
    return modes


@pytest.mark.slow
def test_a_page_holds_at_most_the_limit_and_says_what_it_left_out(http, crowded):
    response = http.get("/Patient", params={"_id": crowded, "_revinclude": "Encounter:subject"})
    assert response.status_code == 200, response.text[:300]
    page = response.json()
    assert _modes(page) == {"match": 1, "include": MAX_RESOURCES - 1, "outcome": 1}, _modes(page)
    (outcome,) = [e["resource"] for e in page["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "warning", outcome
    assert str(MAX_RESOURCES) in outcome["issue"][0]["diagnostics"], outcome


@pytest.mark.slow
def test_a_page_within_the_limit_has_no_warning(http):
    patient_id = _create_patient_with_encounters(http, 30)
    page = http.get("/Patient", params={"_id": patient_id,
                                        "_revinclude": "Encounter:subject"}).json()
    assert _modes(page) == {"match": 1, "include": 30}, _modes(page)


def test_too_many_include_rules_are_400(http):
    rules = ",".join(["Encounter:subject"] * 21)
    response = http.get("/Patient", params={"_id": str(uuid.uuid4()), "_revinclude": rules})
    assert response.status_code == 400, response.text
    assert "_revinclude" in response.json()["issue"][0]["diagnostics"]


def test_includes_already_on_the_page_leave_room_for_those_that_fit(
        mongo_uri, request, tmp_path_factory, issuer):
    """A chain of ten Observations, each a member of the one before: their `has-member`
    references mostly name matches already on the page. Those are not read again, so the
    one that is not (the eleventh) fits a page of twelve, with no warning (before, the
    nine re-reads used up the round's reads and the page was called full)."""
    code = f"urn:test:{uuid.uuid4().hex[:8]}"
    with own_server(mongo_uri, request, tmp_path_factory, issuer, sign_writes=False,
                    max_response_resources=12) as running, \
            fhir_client(running.base, issuer.token()) as http:
        ids = [f"chain-{uuid.uuid4().hex[:8]}-{i}" for i in range(11)]
        for i, resource_id in enumerate(ids):
            observation = {"resourceType": "Observation", "id": resource_id,
                           "status": "final", "code": {"coding": [
                               {"system": code, "code": "matched" if i < 10 else "other"}]}}
            if i + 1 < len(ids):
                observation["hasMember"] = [{"reference": f"Observation/{ids[i + 1]}"}]
            response = http.put(f"/Observation/{resource_id}", json=observation,
                                headers=FHIR_HEADERS)
            assert response.status_code == 201, response.text
        page = http.get("/Observation", params={
            "code": f"{code}|matched", "_count": "10",
            "_include:iterate": "Observation:has-member"}).json()
    modes = {e["resource"]["id"]: e["search"]["mode"] for e in page["entry"]}
    assert modes == {**{i: "match" for i in ids[:10]}, ids[10]: "include"}, modes


@pytest.mark.parametrize(("matches", "encounters", "advice"), [(2, 5, True), (1, 8, False)])
def test_the_warning_asks_for_a_smaller_count_only_where_that_helps(
        mongo_uri, request, tmp_path_factory, issuer, matches, encounters, advice):
    """On a page of eight resources, two Patients of five Encounters each fit one at a time
    (`_count=1`). One Patient of eight does not: no `_count` helps, and the warning names
    the search that pages through its includes instead (it asked for a smaller `_count`)."""
    with own_server(mongo_uri, request, tmp_path_factory, issuer, sign_writes=False,
                    max_response_resources=8) as running, \
            fhir_client(running.base, issuer.token()) as http:
        patients = [_create_patient_with_encounters(http, encounters) for _ in range(matches)]
        page = http.get("/Patient", params={"_id": ",".join(patients),
                                            "_revinclude": "Encounter:subject"}).json()
    (outcome,) = [e["resource"] for e in page["entry"] if e["search"]["mode"] == "outcome"]
    diagnostics = outcome["issue"][0]["diagnostics"]
    assert ("smaller _count" in diagnostics) is advice, diagnostics
    assert "by a search of their type" in diagnostics, diagnostics
