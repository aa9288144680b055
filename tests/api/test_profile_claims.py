"""A `meta.profile` the server does not know is kept and reported as a warning, never a
refusal (http://hl7.org/fhir/R4/resource.html#profile; Bundle.entry.response.outcome)."""

from api.helpers import FHIR_HEADERS, new_patient

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
KNOWN = "http://hl7.org/fhir/StructureDefinition/vitalsigns"


def test_an_unknown_profile_is_stored_with_a_warning(client):
    response = client.post("/Patient", json=new_patient(meta={"profile": [US_CORE]}),
                           headers={**FHIR_HEADERS, "Prefer": "return=OperationOutcome"})
    assert response.status_code == 201, response.text
    [_, warning] = response.json()["issue"]
    assert warning["severity"] == "warning" and US_CORE in warning["diagnostics"]
    assert warning["expression"] == ["Patient.meta.profile[0]"]
    assert client.get(response.headers["Location"]).json()["meta"]["profile"] == [US_CORE]


def test_batch_entries_carry_the_warning_in_their_outcome(client):
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": new_patient(meta={"profile": [US_CORE]}),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": new_patient(), "request": {"method": "POST", "url": "Patient"}}]}
    response = client.post("", json=batch, headers=FHIR_HEADERS)
    [claimed, plain] = response.json()["entry"]
    assert claimed["response"]["status"].startswith("201")
    assert claimed["response"]["outcome"]["issue"][0]["severity"] == "warning"
    assert "outcome" not in plain["response"]


def test_a_known_profile_gives_no_warning(client):
    observation = {"resourceType": "Observation", "status": "final", "meta": {"profile": [KNOWN]},
                   "code": {"text": "Nhịp tim"}}
    response = client.post("/Observation", json=observation,
                           headers={**FHIR_HEADERS, "Prefer": "return=OperationOutcome"})
    assert response.status_code == 201, response.text
    assert [i["severity"] for i in response.json()["issue"]] == ["information"]
