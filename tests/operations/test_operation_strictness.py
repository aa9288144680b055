"""`Prefer: handling=strict` on operations (search.html#errors: "return an error for any
unknown or unsupported parameter"): every operation refuses a parameter its
OperationDefinition does not declare, in the query or in a POSTed Parameters, with 400 naming
it, and answers as before without the header; what it declares still works under strict.
Read-only operations take POST as well as GET (operations.html: servers SHALL support POST)."""

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, created, new_patient

STRICT = {**FHIR_HEADERS, "Prefer": "handling=strict"}
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
GENDER_CS = "http://hl7.org/fhir/administrative-gender"

# (path, declared query parameters): each answers 200 with them, strict or not.
CALLS = [
    ("/ValueSet/$expand", f"url={GENDER_VS}&activeOnly=true"),
    ("/ValueSet/$validate-code", f"url={GENDER_VS}&system={GENDER_CS}&code=male"),
    ("/CodeSystem/$validate-code", f"url={GENDER_CS}&code=male"),
    ("/CodeSystem/$lookup", f"system={GENDER_CS}&code=male"),
    ("/CodeSystem/$subsumes", f"system={GENDER_CS}&codeA=male&codeB=male"),
    ("/ConceptMap/$translate",
     "url=http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2"
     f"&system={GENDER_CS}&code=male"),
]


@pytest.mark.parametrize(("path", "query"), CALLS)
def test_an_unknown_parameter_is_400_under_strict_and_ignored_without(client, path, query):
    assert client.get(f"{path}?{query}", headers=STRICT).status_code == 200
    misspelt = f"{path}?{query}&activeonly=true"
    assert client.get(misspelt).status_code == 200
    outcome = assert_outcome(client.get(misspelt, headers=STRICT), 400)
    assert "has no parameter 'activeonly'" in outcome["issue"][0]["diagnostics"], outcome


def test_parameters_of_a_posted_body_are_held_to_the_definition_too(client):
    patient = created(client, new_patient())
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "meta", "valueMeta": {"tag": [{"system": "urn:test:strict", "code": "x"}]}},
        {"name": "bogus", "valueString": "1"}]}
    path = f"/Patient/{patient['id']}/$meta-add"
    assert_outcome(client.post(path, json=body, headers=STRICT), 400)
    assert "tag" not in client.get(f"/Patient/{patient['id']}").json()["meta"]
    assert client.post(path, json=body, headers=FHIR_HEADERS).status_code == 200


def test_validate_under_strict(client):
    patient = new_patient()
    assert client.post("/Patient/$validate", json=patient, headers=STRICT).status_code == 200
    assert_outcome(client.post("/Patient/$validate?modus=create", json=patient,
                               headers=STRICT), 400)


def test_lastn_ignores_an_unknown_parameter_unless_strict(client):
    patient = created(client, new_patient())
    query = f"/Observation/$lastn?patient={patient['id']}&category=vital-signs&bogus=1"
    assert client.get(query).status_code == 200
    assert_outcome(client.get(query, headers=STRICT), 400)


def test_provenance_verify_takes_post(client):
    patient = created(client, new_patient())
    found = client.get("/Provenance", params={"target": f"Patient/{patient['id']}"}).json()
    provenance = found["entry"][0]["resource"]["id"]
    by_get = client.get(f"/Provenance/{provenance}/$verify")
    by_post = client.post(f"/Provenance/{provenance}/$verify",
                          json={"resourceType": "Parameters"}, headers=FHIR_HEADERS)
    assert by_get.status_code == by_post.status_code == 200, by_post.text
    assert by_post.json() == by_get.json()
    assert_outcome(client.post(f"/Provenance/{provenance}/$verify", json=patient,
                               headers=FHIR_HEADERS), 400)


def test_the_servers_own_operations_are_held_to_their_definitions_too(client):
    """`$reindex` declares no input (its OperationDefinition is this server's own): under
    strict handling a parameter is refused before it re-indexes anything."""
    outcome = assert_outcome(client.post("/Patient/$reindex?bogus=1", headers=STRICT), 400)
    assert "has no parameter 'bogus' (it takes none)" in outcome["issue"][0]["diagnostics"]
