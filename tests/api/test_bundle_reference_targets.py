"""The types a reference names against a profile's targetProfile: that of its literal
reference and its `type`, each; a reference to an entry of the Bundle being validated
(`urn:uuid:`) has the type of that entry, as the HL7 validator resolves it
(http://hl7.org/fhir/R4/bundle.html#references): IPS 2.0.0's problem section lists
Conditions or DocumentReferences, not the Patient."""

import copy
import io
import json
import tarfile
from pathlib import Path

from api.helpers import FHIR_HEADERS

PACKAGE = Path(__file__).resolve().parents[3] / "shared" / "fhir-packages" / (
    "hl7.fhir.uv.ips-2.0.0.tgz")


def _minimal_ips() -> dict:
    with tarfile.open(PACKAGE) as archive:
        member = archive.extractfile("package/example/Bundle-bundle-minimal.json")
        return json.load(io.BytesIO(member.read()))


def _errors(client, bundle: dict) -> list[dict]:
    response = client.post("/Bundle/$validate", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    return [i for i in response.json()["issue"] if i["severity"] == "error"]


def test_a_section_entry_naming_an_entry_of_another_type_is_an_error_there(client):
    bundle = _minimal_ips()
    assert _errors(client, bundle) == []
    patient = next(e["fullUrl"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    broken = copy.deepcopy(bundle)
    broken["entry"][0]["resource"]["section"][0]["entry"] = [{"reference": patient}]
    errors = _errors(client, broken)
    at_entry = [e for e in errors
                if e["expression"] == ["Bundle.entry[0].resource.section[0].entry[0]"]]
    assert len(at_entry) == 1, errors
    assert "Patient" in at_entry[0]["diagnostics"]
    assert "Condition, DocumentReference" in at_entry[0]["diagnostics"]


def test_a_reference_to_an_entry_of_an_allowed_type_is_no_error(client):
    bundle = _minimal_ips()
    condition = next(e["fullUrl"] for e in bundle["entry"]
                     if e["resource"]["resourceType"] == "Condition")
    bundle["entry"][0]["resource"]["section"][0]["entry"] = [{"reference": condition}]
    assert _errors(client, bundle) == []


CONDITION = "http://fhir.ehealth.gov.vn/core/StructureDefinition/vn-core-condition-encounter-diagnosis"
SUBJECT = "urn:uuid:5b0bd2a4-4c4e-4a1e-9d55-0d8f0e6c1a01"
ENCOUNTER = "urn:uuid:5b0bd2a4-4c4e-4a1e-9d55-0d8f0e6c1a02"


def _transaction(subject: dict) -> dict:
    """A Condition claiming VN Core's encounter diagnosis, its subject and encounter entries
    of the same transaction."""
    condition = {
        "resourceType": "Condition", "meta": {"profile": [CONDITION]},
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}],
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11.9"}]},
        "subject": {"reference": SUBJECT}, "encounter": {"reference": ENCOUNTER}}
    encounter = {"resourceType": "Encounter", "status": "finished", "class": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": SUBJECT, "resource": subject,
         "request": {"method": "POST", "url": subject["resourceType"]}},
        {"fullUrl": ENCOUNTER, "resource": encounter,
         "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": "urn:uuid:5b0bd2a4-4c4e-4a1e-9d55-0d8f0e6c1a03", "resource": condition,
         "request": {"method": "POST", "url": "Condition"}}]}


def test_an_entry_claiming_a_profile_has_its_urn_references_typed_by_their_entries(client):
    assert _errors(client, _transaction({"resourceType": "Patient"})) == []
    group = {"resourceType": "Group", "type": "person", "actual": True}
    [error] = _errors(client, _transaction(group))
    assert error["expression"] == ["Bundle.entry[2].resource.subject"]
    assert "a reference to a Group" in error["diagnostics"]


def test_a_reference_type_does_not_hide_the_type_its_literal_reference_names(client):
    """`type: Patient` beside `reference: Group/1`: the Group it resolves to is no target
    the profile allows, whatever `type` says."""
    condition = _transaction({"resourceType": "Patient"})["entry"][2]["resource"]
    condition["encounter"] = {"reference": "Encounter/enc-1"}
    condition["subject"] = {"reference": "Patient/bn-001", "type": "Patient"}
    assert _errors_of(client, condition) == []
    condition["subject"] = {"reference": "Group/nhom-1", "type": "Patient"}
    [error] = _errors_of(client, condition)
    assert error["expression"] == ["Condition.subject"]
    assert "a reference to a Group" in error["diagnostics"]
    refused = client.post("/Condition", json=condition, headers=FHIR_HEADERS)
    assert refused.status_code == 422, refused.text


def _errors_of(client, resource: dict) -> list[dict]:
    response = client.post(f"/{resource['resourceType']}/$validate", json=resource,
                           headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    return [i for i in response.json()["issue"] if i["severity"] == "error"]
