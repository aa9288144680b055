"""Every operation's POSTed `Parameters` is read alike: a `parameter` (or `part`) that is no
array of named objects, or that holds more than one of value[x], resource and part (inv-1),
or an element R4 does not define, is 400 naming where, for every operation the
CapabilityStatement declares, never a server error (`"parameter": 5` was a 500 on twenty of
them)."""

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, created, new_patient

MALFORMED = [
    {"resourceType": "Parameters", "parameter": 5},
    {"resourceType": "Parameters", "parameter": {"name": "x"}},
    {"resourceType": "Parameters", "parameter": [5]},
    {"resourceType": "Parameters", "parameter": [{"valueString": "no name"}]},
    {"resourceType": "Parameters", "parameter": [{"name": "x", "part": 5}]},
    {"resourceType": "Parameters", "parameter": [{"name": "x", "part": [{"name": 5}]}]},
    # inv-1: one and only one of value[x], resource and part
    {"resourceType": "Parameters", "parameter": [{"name": "x", "valueUri": "u", "valueCode": "c"}]},
    {"resourceType": "Parameters", "parameter": [
        {"name": "x", "valueString": "s", "resource": {"resourceType": "Patient"}}]},
    {"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "s",
                                                  "part": [{"name": "y", "valueString": "t"}]}]},
    # elements R4 does not define there
    {"resourceType": "Parameters", "bogus": 1, "parameter": [{"name": "x", "valueString": "s"}]},
    {"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "s", "bogus": 1}]},
]


def _declared(client, patient_id: str) -> list[str]:
    """The path of every POST operation the CapabilityStatement declares, at each level."""
    rest = client.get("/metadata").json()["rest"][0]
    paths = [f"/${o['name']}" for o in rest.get("operation", [])]
    for resource in rest["resource"]:
        if resource["type"] not in ("Patient", "Observation", "CodeSystem", "ValueSet",
                                    "ConceptMap", "Composition", "Group", "Provenance"):
            continue
        for operation in resource.get("operation", []):
            paths.append(f"/{resource['type']}/${operation['name']}")
            if resource["type"] == "Patient":
                paths.append(f"/Patient/{patient_id}/${operation['name']}")
    return sorted(set(paths))


@pytest.mark.parametrize("body", MALFORMED)
def test_a_malformed_parameters_body_is_400_on_every_operation(client, body):
    patient = created(client, new_patient())
    refused = 0
    for path in _declared(client, patient["id"]):
        response = client.post(path, json=body, headers={**FHIR_HEADERS,
                                                         "Prefer": "respond-async"})
        if path.endswith("/$reindex"):  # takes no input: the body is not read
            assert response.status_code in (200, 404), (path, response.text)
            continue
        # 404: an instance-level operation asked at type level, 405: one invoked by GET.
        assert response.status_code in (400, 404, 405), (path, response.status_code,
                                                          response.text)
        assert_outcome(response, response.status_code)
        refused += response.status_code == 400
    assert refused >= 20
