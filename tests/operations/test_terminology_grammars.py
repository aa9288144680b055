"""Code systems that are grammars, not lists (UCUM, BCP-47 language tags, MIME types): a code
is one when it parses, and the terminology operations say so alike. Before,
`CodeSystem/$validate-code` took `mg/dL` while `$lookup` answered 404 "not known" and
`ValueSet/$validate-code` on `ucum-units` 400 "not held here"."""

import pytest
from api.helpers import assert_outcome

UCUM = "http://unitsofmeasure.org"
BCP_47 = "urn:ietf:bcp:47"
BCP_13 = "urn:ietf:bcp:13"
VALUE_SETS = {UCUM: "http://hl7.org/fhir/ValueSet/ucum-units",
              BCP_47: "http://hl7.org/fhir/ValueSet/all-languages",
              BCP_13: "http://hl7.org/fhir/ValueSet/mimetypes"}
CASES = [(UCUM, "mg/dL", True), (UCUM, "mg/dLL", False), (BCP_47, "vi-VN", True),
         (BCP_47, "zh-Hant-TW", True), (BCP_47, "xx-bogus-zz", False),
         (BCP_13, "application/pdf", True), (BCP_13, "pdf", False)]


def _result(response) -> bool:
    assert response.status_code == 200, response.text
    return next(p["valueBoolean"] for p in response.json()["parameter"]
                if p["name"] == "result")


@pytest.mark.parametrize(("system", "code", "valid"), CASES)
def test_every_operation_answers_alike(client, system, code, valid):
    assert _result(client.get("/CodeSystem/$validate-code",
                              params={"url": system, "code": code})) is valid
    assert _result(client.get("/ValueSet/$validate-code", params={
        "url": VALUE_SETS[system], "system": system, "code": code})) is valid
    looked_up = client.get("/CodeSystem/$lookup", params={"system": system, "code": code})
    if valid:
        assert looked_up.status_code == 200, looked_up.text
        display = next(p["valueString"] for p in looked_up.json()["parameter"]
                       if p["name"] == "display")
        assert display == code
    else:
        assert "is not a valid code" in assert_outcome(looked_up, 404)["issue"][0][
            "diagnostics"]


def test_a_value_set_of_some_codes_of_a_grammar_is_still_not_decided_by_it(client):
    """Only a value set that takes the whole system is decided by the grammar."""
    some = {"resourceType": "ValueSet", "url": "urn:test:some-units", "status": "active",
            "compose": {"include": [{"system": UCUM, "concept": [{"code": "mg"}]}]}}
    response = client.post("/ValueSet/$validate-code", json={
        "resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": some},
            {"name": "coding", "valueCoding": {"system": UCUM, "code": "g"}}]},
        headers={"Content-Type": "application/fhir+json"})
    assert _result(response) is False
