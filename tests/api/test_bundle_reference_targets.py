"""A reference to an entry of the Bundle being validated (`urn:uuid:`) has the type of that
entry against a profile's targetProfile, as the HL7 validator resolves it
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
