"""CodeSystem supplements (http://hl7.org/fhir/R4/codesystem.html#supplements): one stored
through the API adds its designations and properties to the code system it supplements in
every terminology operation, as the registry's do and as tx.fhir.org applies those it holds;
a ValueSet naming one with `valueset-supplement` is not used without it; a supplement's URL
names no code."""

import pytest
from api.helpers import FHIR_HEADERS

BASE = "http://benhvien.vn/fhir/supplements"
SYSTEM = f"{BASE}/CodeSystem/animals"
SUPPLEMENT = f"{BASE}/CodeSystem/animals-fr"
VALUE_SET = f"{BASE}/ValueSet/animals-fr"
GENDER = "http://hl7.org/fhir/administrative-gender"
SUPPLEMENT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/valueset-supplement"


def _needing(supplement: str) -> list[dict]:
    return [{"url": SUPPLEMENT_EXTENSION, "valueCanonical": supplement}]


@pytest.fixture(scope="module", autouse=True)
def stored(client) -> None:
    resources = [
        {"resourceType": "CodeSystem", "id": "animals", "url": SYSTEM, "version": "1.0",
         "status": "active", "content": "complete", "hierarchyMeaning": "is-a",
         "concept": [{"code": "A", "display": "Animal", "concept": [
             {"code": "A1", "display": "Dog"}, {"code": "A2", "display": "Cat"}]}]},
        {"resourceType": "CodeSystem", "id": "animals-fr", "url": SUPPLEMENT, "version": "1.0",
         "status": "active", "content": "supplement", "supplements": f"{SYSTEM}|1.0",
         "concept": [{"code": "A1", "designation": [{"language": "fr", "value": "Chien"}]}]},
        {"resourceType": "ValueSet", "id": "animals-fr", "url": VALUE_SET, "status": "active",
         "extension": _needing(SUPPLEMENT),
         "compose": {"include": [{"system": SYSTEM, "concept": [{"code": "A1"},
                                                                {"code": "A2"}]}]}},
        {"resourceType": "CodeSystem", "id": "gender-fr", "url": f"{BASE}/CodeSystem/gender-fr",
         "status": "active", "content": "supplement", "supplements": GENDER,
         "concept": [{"code": "female", "designation": [{"language": "fr",
                                                         "value": "Femme"}]}]},
    ]
    for resource in resources:
        response = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource,
                              headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text


def _parameters(response) -> dict:
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()["parameter"]}


def _contains(response) -> dict[str, dict]:
    assert response.status_code == 200, response.text
    return {c["code"]: c for c in response.json()["expansion"]["contains"]}


def test_a_stored_supplement_adds_its_designations_to_the_code_system(client):
    # Before, only the registry's supplements were read: "Dog" everywhere, no designation.
    designated = _contains(client.get("/ValueSet/$expand", params={
        "url": VALUE_SET, "includeDesignations": "true"}))
    assert designated["A1"]["designation"] == [{"language": "fr", "value": "Chien"}]
    french = _contains(client.get("/ValueSet/$expand", params={
        "url": VALUE_SET, "displayLanguage": "fr"}))
    assert (french["A1"]["display"], french["A2"]["display"]) == ("Chien", "Cat")
    looked_up = _parameters(client.get("/CodeSystem/$lookup", params={
        "system": SYSTEM, "code": "A1", "displayLanguage": "fr"}))
    assert looked_up["display"]["valueString"] == "Chien"
    assert {"name": "value", "valueString": "Chien"} in looked_up["designation"]["part"]
    checked = _parameters(client.get("/ValueSet/$validate-code", params={
        "url": VALUE_SET, "system": SYSTEM, "code": "A1", "display": "Chien"}))
    assert checked["result"]["valueBoolean"] is True, checked


def test_a_stored_supplement_of_a_shipped_code_system_applies_unnamed(client):
    """Applied wherever its code system is used, as tx.fhir.org applies the supplements it
    holds: R4's administrative-gender in French, its value set naming no supplement."""
    expanded = _contains(client.get("/ValueSet/$expand", params={
        "url": "http://hl7.org/fhir/ValueSet/administrative-gender", "displayLanguage": "fr"}))
    assert (expanded["female"]["display"], expanded["male"]["display"]) == ("Femme", "Male")
    looked_up = _parameters(client.get("/CodeSystem/$lookup", params={
        "system": GENDER, "code": "female", "displayLanguage": "fr"}))
    assert looked_up["display"]["valueString"] == "Femme"


def test_a_value_set_naming_a_supplement_not_held_is_not_used(client):
    """"Declares that a value set depends on a particular supplement and should not be used
    in its absence" (R4 valueset-supplement); tx.fhir.org: "Required supplements not found".
    Before, it expanded and validated as if nothing were missing."""
    missing = "http://nowhere.example/supplement"
    inline = {"resourceType": "ValueSet", "status": "active", "extension": _needing(missing),
              "compose": {"include": [{"system": SYSTEM, "concept": [{"code": "A1"}]}]}}
    expanded = client.post("/ValueSet/$expand", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": inline}]})
    stored = {**inline, "id": "needs-missing", "url": f"{BASE}/ValueSet/needs-missing"}
    assert client.put("/ValueSet/needs-missing", json=stored,
                      headers=FHIR_HEADERS).status_code == 201
    checked = client.get("/ValueSet/$validate-code", params={
        "url": stored["url"], "system": SYSTEM, "code": "A1"})
    for refused in (expanded, checked):
        assert refused.status_code == 400, refused.text
        [issue] = refused.json()["issue"]
        assert issue["code"] == "business-rule"
        assert f"required supplements not found: {missing}" in issue["diagnostics"]
    searched = client.get("/Observation", params={"code:in": stored["url"]})
    assert searched.status_code == 400 and missing in searched.text


def test_a_supplement_url_is_no_code_system(client):
    """tx.fhir.org: "CodeSystem ... is a supplement, so can't be used as a value in
    Coding.system". Before, its url was taken as a code system of the supplement's codes."""
    refusal = f"CodeSystem {SUPPLEMENT}|1.0 is a supplement"
    for operation, params in (("$lookup", {"system": SUPPLEMENT, "code": "A1"}),
                              ("$subsumes", {"system": SUPPLEMENT, "codeA": "A1",
                                             "codeB": "A1"})):
        refused = client.get(f"/CodeSystem/{operation}", params=params)
        assert refused.status_code == 400, refused.text
        assert refusal in refused.json()["issue"][0]["diagnostics"]
    checked = _parameters(client.get("/CodeSystem/$validate-code", params={
        "url": SUPPLEMENT, "code": "A1"}))
    assert checked["result"]["valueBoolean"] is False
    assert refusal in checked["message"]["valueString"]
    below = client.get("/Observation", params={"code:below": f"{SUPPLEMENT}|A1"})
    assert below.status_code == 400 and refusal in below.text
    of_supplement = {"resourceType": "ValueSet", "status": "active",
                     "compose": {"include": [{"system": SUPPLEMENT}]}}
    expanded = client.post("/ValueSet/$expand", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters",
        "parameter": [{"name": "valueSet", "resource": of_supplement}]})
    assert expanded.status_code == 400 and refusal in expanded.text


def test_a_coding_of_a_shipped_supplement_is_an_error(client):
    """R4's example-supplement as a Coding's system: "No issues detected" before."""
    observation = {"resourceType": "Observation", "status": "final", "code": {"coding": [
        {"system": "http://hl7.org/fhir/CodeSystem/example-supplement", "code": "chol"}]}}
    issues = client.post("/Observation/$validate", json=observation,
                         headers=FHIR_HEADERS).json()["issue"]
    assert [(i["severity"], i["code"], i["expression"]) for i in issues] == [
        ("error", "invalid", ["Observation.code.coding[0].system"])], issues
    assert "is a supplement" in issues[0]["diagnostics"]
