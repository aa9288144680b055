"""`meta.profile` claims (http://hl7.org/fhir/R4/resource.html#profile): a profile the server
knows is enforced (422); one it does not know is kept and reported as a warning, never a refusal
(Bundle.entry.response.outcome)."""

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


def _vital_sign(**extra) -> dict:
    """A heart rate that conforms to the R4 vital-signs profile."""
    return {"resourceType": "Observation", "status": "final", "meta": {"profile": [KNOWN]},
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}],
                     "text": "Nhịp tim"},
            "subject": {"reference": "Patient/example"},
            "effectiveDateTime": "2025-07-01T08:00:00+07:00",
            "valueQuantity": {"value": 72, "unit": "beats/minute",
                              "system": "http://unitsofmeasure.org", "code": "/min"},
            **extra}


def test_a_known_profile_gives_no_warning(client):
    response = client.post("/Observation", json=_vital_sign(),
                           headers={**FHIR_HEADERS, "Prefer": "return=OperationOutcome"})
    assert response.status_code == 201, response.text
    assert [i["severity"] for i in response.json()["issue"]] == ["information"]


def test_a_known_profile_is_enforced(client):
    claimed = _vital_sign()
    del claimed["subject"]
    response = client.post("/Observation", json=claimed, headers=FHIR_HEADERS)
    assert response.status_code == 422, response.text
    error = response.json()["issue"][0]
    assert error["severity"] == "error" and error["expression"] == ["Observation.subject"]
    assert KNOWN in error["diagnostics"]


# Held, but unusable: its base, IPS 1.0's Observation-results-uv-ips, is not in IPS 2.0.0.
UNUSABLE = "http://fhir.ehealth.gov.vn/core/StructureDefinition/vn-core-observation-lab-code"


def test_a_claimed_profile_that_cannot_be_used_is_a_warning_as_an_unknown_one_is(client):
    claimed = _vital_sign(meta={"profile": [UNUSABLE]})
    response = client.post("/Observation", json=claimed,
                           headers={**FHIR_HEADERS, "Prefer": "return=OperationOutcome"})
    assert response.status_code == 201, response.text
    [warning] = [i for i in response.json()["issue"] if i["severity"] == "warning"]
    assert warning["code"] == "processing" and UNUSABLE in warning["diagnostics"]
    assert "Observation-results-uv-ips" in warning["diagnostics"]
    assert "element None" not in warning["diagnostics"]
    # Asked for by name, it cannot be checked: an error.
    checked = client.post(f"/Observation/$validate?profile={UNUSABLE}", json=_vital_sign(),
                          headers=FHIR_HEADERS)
    assert "error" in [i["severity"] for i in checked.json()["issue"]], checked.text


def _without_subject() -> dict:
    claimed = _vital_sign(id="hr")
    del claimed["subject"]
    return claimed


def test_the_claims_of_the_resources_within_one_are_enforced(client):
    """A Bundle's entries and contained resources are checked against the profiles they
    claim, as the HL7 validator checks them: a document of another hospital whose vital
    sign lacks its subject was stored."""
    collection = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:6a3f3c4e-2b1d-4f7e-9a51-1c2d3e4f5a6b",
         "resource": _without_subject()}]}
    response = client.post("/Bundle", json=collection, headers=FHIR_HEADERS)
    assert response.status_code == 422, response.text
    error = response.json()["issue"][0]
    assert error["expression"] == ["Bundle.entry[0].resource.subject"], error
    assert KNOWN in error["diagnostics"]

    report = {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "x"},
              "contained": [_without_subject()], "result": [{"reference": "#hr"}]}
    response = client.post("/DiagnosticReport/$validate", json=report, headers=FHIR_HEADERS)
    errors = [i for i in response.json()["issue"] if i["severity"] == "error"]
    assert [i["expression"] for i in errors] == [["DiagnosticReport.contained[0].subject"]]


def test_an_unknown_profile_within_a_resource_is_a_warning_where_it_is_claimed(client):
    report = {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "x"},
              "contained": [new_patient(id="p", meta={"profile": [US_CORE]})],
              "subject": {"reference": "#p"}}
    response = client.post("/DiagnosticReport", json=report,
                           headers={**FHIR_HEADERS, "Prefer": "return=OperationOutcome"})
    assert response.status_code == 201, response.text
    [warning] = [i for i in response.json()["issue"] if i["severity"] == "warning"]
    assert warning["expression"] == ["DiagnosticReport.contained[0].meta.profile[0]"]


VN_CORE = "http://fhir.ehealth.gov.vn/core/StructureDefinition/"


def test_a_fault_the_base_check_found_is_not_reported_again_by_the_profile(client):
    """A wrong value[x] of an extension and a code outside its binding were each reported
    twice, by the extension's definition and by the claimed profile (probe CF)."""
    patient = new_patient(meta={"profile": [VN_CORE + "vn-core-patient"]}, extension=[
        {"url": VN_CORE + "extension-nationality",
         "valueCodeableConcept": {"coding": [{"system": "urn:iso:std:iso:3166", "code": "XX"}]}},
        {"url": VN_CORE + "extension-occupation", "valueString": "Bác sĩ"}])
    response = client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS)
    at_extensions = [tuple(i["expression"]) for i in response.json()["issue"]
                     if i["severity"] == "error" and "discriminator" not in i["diagnostics"]
                     and "extension" in "".join(i.get("expression", []))]
    assert sorted(at_extensions) == [("Patient.extension[0].valueCodeableConcept",),
                                     ("Patient.extension[1].valueString",)], response.text
