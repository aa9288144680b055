"""Every operation's input is read alike. A POSTed `Parameters` whose `parameter` (or `part`)
is no array of named objects, or holds more than one of value[x], resource and part (inv-1),
or an element R4 does not define, is 400 naming where, for every operation the
CapabilityStatement declares, never a server error (`"parameter": 5` was a 500 on twenty of
them). A POST without a body takes its parameters from the URL; a parameter is held to its
OperationDefinition: given once where its `max` is 1, as the value[x] of its type, and never
in a URL when it is a resource (probe CE)."""

import json

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, created, new_patient

GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
GENDER_CS = "http://hl7.org/fhir/administrative-gender"
GENDER_CM = "http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2"

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


def _parameters(*parameters: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(parameters)}


def _stable(answer: dict) -> dict:
    """An answer without its expansion's timestamp, which differs from call to call."""
    answer.get("expansion", {}).pop("timestamp", None)
    return answer


@pytest.mark.parametrize("call", [
    f"/ValueSet/$expand?url={GENDER_VS}&count=2",
    f"/ValueSet/$validate-code?url={GENDER_VS}&system={GENDER_CS}&code=male",
    f"/CodeSystem/$lookup?system={GENDER_CS}&code=male",
    f"/CodeSystem/$subsumes?system={GENDER_CS}&codeA=male&codeB=male",
    f"/ConceptMap/$translate?url={GENDER_CM}&system={GENDER_CS}&code=male",
])
def test_a_post_without_a_body_reads_the_url_as_the_get_does(client, call):
    """operations.html: "Servers SHALL support POST method for all operations". The
    terminology operations read a body whatever the request: with the parameters in the URL
    and none sent, 415 (400 "The request body is empty" with a Content-Type), and 415 as a
    batch entry, which has no Content-Type at all; `$everything` and `$validate` took it."""
    by_get = client.get(call)
    assert by_get.status_code == 200, by_get.text
    for headers in ({}, FHIR_HEADERS):
        by_post = client.post(call, headers=headers)
        assert by_post.status_code == 200, by_post.text
        assert _stable(by_post.json()) == _stable(by_get.json())
    batch = {"resourceType": "Bundle", "type": "batch",
             "entry": [{"request": {"method": "POST", "url": call.removeprefix("/")}}]}
    [entry] = client.post("/", json=batch, headers=FHIR_HEADERS).json()["entry"]
    assert entry["response"]["status"] == "200 OK", entry
    assert _stable(entry["resource"]) == _stable(by_get.json())


@pytest.fixture(scope="module")
def patient(client) -> dict:
    return created(client, new_patient())


@pytest.mark.parametrize(("method", "path", "posted", "name"), [
    ("GET", "/Patient/{id}/$everything?start=2024-02-01&start=2024-03-01", None, "start"),
    ("POST", "/Patient/{id}/$everything?start=2024-03-01",
     [{"name": "start", "valueDate": "2024-01-01"}], "start"),
    ("GET", "/Patient/{id}/$everything?includeProvenance=true&includeProvenance=false", None,
     "includeProvenance"),
    ("GET", "/Observation/$lastn?patient={id}&category=vital-signs&max=1&max=3", None, "max"),
    ("POST", "/Patient/$match", [{"name": "resource", "resource": new_patient()},
                                 {"name": "onlyCertainMatches", "valueBoolean": True},
                                 {"name": "onlyCertainMatches", "valueBoolean": False}],
     "onlyCertainMatches"),
])
def test_a_parameter_allowed_once_is_400_given_twice(client, patient, method, path, posted,
                                                      name):
    """Each has `max` 1 in its R4 OperationDefinition (includeProvenance is this server's
    own), in the URL, the body or both. `$everything`, `$lastn` and `$match` took the last
    one: `start` twice narrowed the record without a word, `max=1&max=3` answered one reading
    and `max=3&max=1` three; the other operations refused."""
    body = None if posted is None else _parameters(*posted)
    response = client.request(method, path.format(id=patient["id"]), json=body,
                              headers=FHIR_HEADERS)
    outcome = assert_outcome(response, 400, expression=name)
    assert f"takes one {name}" in outcome["issue"][0]["diagnostics"], outcome


def test_a_parameter_allowed_several_times_is_taken_several_times(client, patient):
    answer = client.get(f"/Patient/{patient['id']}/$everything?_type=Patient&_type=Observation")
    assert answer.status_code == 200, answer.text
    assert [e["resource"]["id"] for e in answer.json()["entry"]] == [patient["id"]]


_URL = {"name": "url", "valueUri": GENDER_VS}


@pytest.mark.parametrize(("path", "parameters", "given"), [
    ("/ValueSet/$expand", [_URL, {"name": "filter", "valueCoding": {"code": "fem"}}],
     "valueCoding"),
    ("/ValueSet/$expand", [_URL, {"name": "filter", "part": [
        {"name": "text", "valueString": "fem"}]}], "part"),
    ("/ValueSet/$expand", [_URL, {"name": "filter", "valueInteger": 1}], "valueInteger"),
    ("/ValueSet/$validate-code", [_URL, {"name": "system", "valueUri": GENDER_CS},
                                  {"name": "code", "valueInteger": 1}], "valueInteger"),
    ("/CodeSystem/$lookup", [{"name": "system", "valueBoolean": True},
                             {"name": "code", "valueCode": "male"}], "valueBoolean"),
    ("/Patient/$validate", [{"name": "resource", "resource": {"resourceType": "Patient"}},
                            {"name": "mode", "valueInteger": 1}], "valueInteger"),
    ("/Patient/$match", [{"name": "resource", "resource": new_patient()},
                         {"name": "count", "valueString": "5"}], "valueString"),
])
def test_a_parameter_given_as_another_type_than_declared_is_400(client, path, parameters,
                                                                given):
    """As `$everything` and `$lastn` already refused: a `filter` sent as a Coding or as parts
    was dropped and the whole value set returned, a `code` as valueInteger checked as "1"."""
    response = client.post(path, json=_parameters(*parameters), headers=FHIR_HEADERS)
    outcome = assert_outcome(response, 400)
    assert f"not {given}" in outcome["issue"][0]["diagnostics"], outcome
    assert " is a integer" not in outcome["issue"][0]["diagnostics"], outcome  # "an integer"


@pytest.mark.parametrize(("path", "parameters"), [
    ("/CodeSystem/$lookup", [{"name": "system", "valueString": GENDER_CS},
                             {"name": "code", "valueString": "male"}]),
    ("/ValueSet/$validate-code", [{"name": "url", "valueCanonical": GENDER_VS},
                                  {"name": "system", "valueUrl": GENDER_CS},
                                  {"name": "code", "valueCode": "male"}]),
    ("/Patient/$validate", [{"name": "resource", "resource": new_patient()},
                            {"name": "mode", "valueString": "create"},
                            {"name": "profile",
                             "valueCanonical": "http://hl7.org/fhir/StructureDefinition/Patient"}]),
])
def test_a_value_of_a_kindred_primitive_type_is_taken(client, path, parameters):
    """A `uri` sent as valueCanonical (R5's type of `$validate`'s profile) or valueString, a
    `code` as valueString: the same JSON string, as R4's types specialise one another."""
    response = client.post(path, json=_parameters(*parameters), headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text


def test_a_filter_of_its_declared_type_filters(client):
    response = client.post("/ValueSet/$expand", headers=FHIR_HEADERS, json=_parameters(
        _URL, {"name": "filter", "valueString": "fem"}))
    assert response.status_code == 200, response.text
    assert [c["code"] for c in response.json()["expansion"]["contains"]] == ["female"]


_VALUE_SET = json.dumps({"resourceType": "ValueSet", "status": "active",
                         "compose": {"include": [{"system": GENDER_CS}]}})


@pytest.mark.parametrize(("path", "params", "name"), [
    ("/ConceptMap/$translate", {"conceptMap": "not a map", "system": GENDER_CS,
                                "code": "male"}, "conceptMap"),
    ("/ValueSet/$expand", {"valueSet": _VALUE_SET}, "valueSet"),
    ("/CodeSystem/$validate-code", {"codeSystem": GENDER_CS, "code": "male"}, "codeSystem"),
    ("/Patient/$validate", {"resource": '{"resourceType": "Patient"}'}, "resource"),
])
def test_a_resource_parameter_in_a_url_is_400_saying_so(client, path, params, name):
    """A URL carries no resource (operations.html: GET only when every parameter is
    primitive): `$translate?conceptMap=` was ignored and the code translated with every map
    held, `$expand?valueSet=` said it needed a 'url' (or a 'valueSet')."""
    outcome = assert_outcome(client.get(path, params=params), 400, expression=name)
    assert "cannot be written in a URL" in outcome["issue"][0]["diagnostics"], outcome
