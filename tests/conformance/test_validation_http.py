"""Validation as a client meets it over HTTP: a write that breaks a rule of R4 is refused with
an OperationOutcome naming the element, and `$validate` reports the same."""

FHIR_HEADERS = {"Content-Type": "application/fhir+json"}
ORGANIZATION = {"resourceType": "Organization", "id": "o", "name": "Bệnh viện Bạch Mai"}


def _issue_at(response, expression: str) -> dict:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    found = [i for i in outcome["issue"] if expression in i.get("expression", ())]
    assert found, outcome
    return found[0]


def test_an_unreferenced_contained_resource_is_refused_dom_3(client):
    patient = {"resourceType": "Patient", "contained": [ORGANIZATION]}
    refused = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert refused.status_code == 400, refused.text
    issue = _issue_at(refused, "Patient.contained[0]")
    assert issue["code"] == "invariant" and "dom-3" in issue["diagnostics"]
    checked = client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS)
    assert _issue_at(checked, "Patient.contained[0]")["severity"] == "error"
    referenced = {**patient, "managingOrganization": {"reference": "#o"}}
    assert client.post("/Patient", json=referenced, headers=FHIR_HEADERS).status_code == 201
