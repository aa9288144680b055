"""`CodeSystem/$subsumes` (http://hl7.org/fhir/R4/codesystem-operation-subsumes.html): how
code A relates to code B in a code system's hierarchy, by codes with `system` or by codings,
GET or POST, on the server's code systems and on one stored here (instance level)."""

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _outcome(response) -> str:
    assert response.status_code == 200, response.text
    [parameter] = response.json()["parameter"]
    assert parameter["name"] == "outcome"
    return parameter["valueCode"]


@pytest.mark.parametrize(("code_a", "code_b", "outcome"), [
    ("active", "active", "equivalent"),
    ("active", "relapse", "subsumes"),
    ("remission", "inactive", "subsumed-by"),
    ("active", "resolved", "not-subsumed"),
])
def test_the_hierarchy_of_condition_clinical_status(client, code_a, code_b, outcome):
    params = {"system": CLINICAL, "codeA": code_a, "codeB": code_b}
    assert _outcome(client.get("/CodeSystem/$subsumes", params=params)) == outcome
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "codingA", "valueCoding": {"system": CLINICAL, "code": code_a}},
        {"name": "codingB", "valueCoding": {"system": CLINICAL, "code": code_b}}]}
    assert _outcome(client.post("/CodeSystem/$subsumes", json=body,
                                headers=FHIR_HEADERS)) == outcome


def test_a_stored_code_system_at_instance_level(client):
    stored = client.post("/CodeSystem", headers=FHIR_HEADERS, json={
        "resourceType": "CodeSystem", "url": "http://benhvien.vn/CodeSystem/khoa",
        "status": "active", "content": "complete", "hierarchyMeaning": "is-a",
        "concept": [{"code": "noi", "display": "Khối nội",
                     "concept": [{"code": "tim-mach", "display": "Tim mạch"}]},
                    {"code": "ngoai", "display": "Khối ngoại"}]})
    assert stored.status_code == 201, stored.text
    path = f"/CodeSystem/{stored.json()['id']}/$subsumes"
    assert _outcome(client.get(path, params={"codeA": "noi", "codeB": "tim-mach"})) == "subsumes"
    assert _outcome(client.get(path, params={"codeA": "ngoai",
                                             "codeB": "tim-mach"})) == "not-subsumed"


@pytest.mark.parametrize(("params", "status"), [
    ({"system": CLINICAL, "codeA": "active"}, 400),
    ({"codeA": "active", "codeB": "relapse"}, 400),
    ({"system": CLINICAL, "codeA": "active", "codeB": "no-such-code"}, 404),
    ({"system": "http://unknown.example/cs", "codeA": "a", "codeB": "b"}, 404),
])
def test_what_cannot_be_compared_is_said(client, params, status):
    assert_outcome(client.get("/CodeSystem/$subsumes", params=params), status)


def test_codings_of_two_systems_are_400(client):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "codingA", "valueCoding": {"system": CLINICAL, "code": "active"}},
        {"name": "codingB", "valueCoding": {"system": "http://other.example", "code": "x"}}]}
    assert_outcome(client.post("/CodeSystem/$subsumes", json=body, headers=FHIR_HEADERS), 400)


def test_a_grouping_hierarchy_subsumes_nothing(client):
    """hierarchyMeaning grouped-by: "No particular relationship between the concepts can be
    assumed" (it answered subsumes for a group and its member)."""
    grouped = {"resourceType": "CodeSystem", "status": "active", "content": "complete",
               "url": "http://benhvien.vn/CodeSystem/nhom", "hierarchyMeaning": "grouped-by",
               "concept": [{"code": "nhom-1", "concept": [{"code": "x"}]}]}
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "codeSystem", "resource": grouped},
        {"name": "codeA", "valueCode": "nhom-1"}, {"name": "codeB", "valueCode": "x"}]}
    assert _outcome(client.post("/CodeSystem/$subsumes", json=body,
                                headers=FHIR_HEADERS)) == "not-subsumed"
