"""Profile errors a client can act on: a value in a slice meets its fault once (the rules a
slice inherits from the sliced element are the same rules, as the HL7 validator checks a
sliced value against its slice's definition alone, profiling.html#slicing), and a fixed
value sent as extensions alone is said to be missing."""

from api.helpers import FHIR_HEADERS

ENCOUNTER = "http://fhir.ehealth.gov.vn/core/StructureDefinition/vn-core-encounter"
ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"


def _diagnosis(code: str, display: str, condition: str) -> dict:
    return {"condition": {"reference": condition},
            "use": {"coding": [{"system": ROLE, "code": code, "display": display}],
                    "text": display}}


def _encounter(discharge_condition: str) -> dict:
    return {"resourceType": "Encounter", "meta": {"profile": [ENCOUNTER]},
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "IMP"},
            "subject": {"reference": "Patient/bn-001"},
            "period": {"start": "2025-07-10T08:00:00+07:00", "end": "2025-07-15T10:00:00+07:00"},
            "diagnosis": [_diagnosis("CC", "Chief complaint", "Condition/c1"),
                          _diagnosis("DD", "Discharge diagnosis", discharge_condition)]}


def _errors(client, resource: dict) -> list[dict]:
    response = client.post("/Encounter/$validate", json=resource, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    return [i for i in response.json()["issue"] if i["severity"] == "error"]


def test_a_sliced_value_breaking_an_inherited_rule_has_one_error(client):
    assert _errors(client, _encounter("Condition/c2")) == []
    [error] = _errors(client, _encounter("Procedure/pt-1"))
    assert error["expression"] == ["Encounter.diagnosis[1].condition"]
    assert "a reference to a Procedure" in error["diagnostics"]
    refused = client.post("/Encounter", json=_encounter("Procedure/pt-1"), headers=FHIR_HEADERS)
    assert refused.status_code == 422
    assert len([i for i in refused.json()["issue"] if i["severity"] == "error"]) == 1


def test_a_fixed_value_sent_as_extensions_alone_is_said_so(client):
    """`_use` with a data-absent-reason and no `use`, where VN Core's MRN slice fixes
    `official`: the error names what is wrong, not a Python `None` as the value."""
    encounter = _encounter("Condition/c2")
    absent = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                             "valueCode": "unknown"}]}
    encounter["identifier"] = [{
        "_use": absent, "system": "http://fhir.ehealth.gov.vn/core/sid/MRN",
        "value": "BA-2025-000123",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                             "code": "MR", "display": "Medical record number"}]}}]
    [error] = _errors(client, encounter)
    assert error["expression"] == ["Encounter.identifier[0].use"]
    assert "None" not in error["diagnostics"]
    assert "'official'" in error["diagnostics"] and "only extensions" in error["diagnostics"]
