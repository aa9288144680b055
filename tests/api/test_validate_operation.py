"""`$validate` (http://hl7.org/fhir/R4/resource-operation-validate.html): type and instance
level, GET and POST, `mode` and `profile`; 200 with the issues, nothing stored."""

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, created, new_patient
from api.vn_core import VN_CORE_PATIENT, vn_core_patient, without_name_text

from fhir_server.conformance.definitions import registry


def _parameters(resource: dict | None = None, **values: str) -> dict:
    parameters = [{"name": "resource", "resource": resource}] if resource else []
    for name, value in values.items():
        parameters.append({"name": name, ("valueCode" if name == "mode" else "valueUri"): value})
    return {"resourceType": "Parameters", "parameter": parameters}


def _issues(response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"]


def _count(client, kind: str = "Patient") -> int:
    return client.get(f"/{kind}", params={"_summary": "count"}).json()["total"]


def test_a_valid_resource_gets_one_information_issue_and_nothing_is_stored(client):
    before = _count(client)
    [issue] = _issues(client.post("/Patient/$validate", json=new_patient(), headers=FHIR_HEADERS))
    assert issue["severity"] == "information"
    assert _count(client) == before


def test_base_errors_are_listed_with_their_expression(client):
    issues = _issues(client.post("/Patient/$validate", json=new_patient(birthDate="1985-02-30"),
                                 headers=FHIR_HEADERS))
    [error] = [i for i in issues if i["severity"] == "error"]
    assert error["expression"] == ["Patient.birthDate"]
    assert "1985-02-30" in error["diagnostics"]


def test_a_profile_parameter_checks_the_profile_and_names_the_rule(client):
    body = _parameters(without_name_text(vn_core_patient()), profile=VN_CORE_PATIENT)
    issues = _issues(client.post("/Patient/$validate", json=body, headers=FHIR_HEADERS))
    errors = [i for i in issues if i["severity"] == "error"]
    assert errors, issues
    assert any(i["expression"] == ["Patient.name[0].text"] for i in errors), errors
    assert any(VN_CORE_PATIENT in i["diagnostics"] for i in errors), errors
    ok = _issues(client.post("/Patient/$validate", json=_parameters(vn_core_patient(),
                             profile=VN_CORE_PATIENT), headers=FHIR_HEADERS))
    assert [i["severity"] for i in ok if i["severity"] == "error"] == []


def test_the_profile_parameter_in_the_query(client):
    issues = _issues(client.post("/Patient/$validate", params={"profile": VN_CORE_PATIENT},
                                 json=without_name_text(vn_core_patient()), headers=FHIR_HEADERS))
    assert any(i["severity"] == "error" for i in issues)


def test_a_declared_meta_profile_is_checked(client):
    patient = without_name_text(vn_core_patient(meta={"profile": [VN_CORE_PATIENT]}))
    issues = _issues(client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS))
    assert any(i["severity"] == "error" for i in issues)


def test_a_base_error_leaves_the_profile_checked(client):
    """A bad value (a birth date of no calendar), a profile's rule broken (VN Core's name
    text) and a CCCD of 11 digits are all reported, as the HL7 validator reports a value and
    a profile together, on `$validate` and on the write; only a broken structure (an element
    R4 does not have) leaves the profile and the identifier rules out."""
    patient = without_name_text(vn_core_patient(meta={"profile": [VN_CORE_PATIENT]},
                                                birthDate="1985-02-30"))
    patient["identifier"][0]["value"] = "00108501234"
    expected = {("Patient.birthDate", None), ("Patient.name[0].text", VN_CORE_PATIENT),
                ("Patient.identifier[0].value", None)}
    issues = _issues(client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS))
    assert {(i["expression"][0], _profile_of(i)) for i in issues
            if i["severity"] == "error"} == expected
    refused = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert refused.status_code == 400
    assert {(i["expression"][0], _profile_of(i)) for i in refused.json()["issue"]
            if i["severity"] == "error"} == expected
    issues = _issues(client.post("/Patient/$validate", json={**patient, "nickname": "An"},
                                 headers=FHIR_HEADERS))
    assert [i["expression"][0] for i in issues if i["severity"] == "error"] == [
        "Patient.birthDate", "Patient.nickname"]


def _profile_of(issue: dict) -> str | None:
    """The profile whose rule an issue reports (its `authority` extension), if any."""
    for extension in issue.get("extension", ()):
        if extension["url"].endswith("operationoutcome-authority"):
            return extension["valueUri"].split("#")[0]
    return None


def test_instance_level_get_validates_the_stored_resource(client):
    stored = created(client, new_patient())
    [issue] = _issues(client.get(f"/Patient/{stored['id']}/$validate"))
    assert issue["severity"] == "information"
    issues = _issues(client.get(f"/Patient/{stored['id']}/$validate",
                                params={"profile": VN_CORE_PATIENT}))
    assert any(i["severity"] == "error" for i in issues)


def test_instance_level_of_an_unknown_id_is_404(client):
    response = client.get("/Patient/no-such-patient/$validate")
    assert response.status_code == 404


def test_mode_update_needs_the_id_of_the_instance(client):
    stored = created(client, new_patient())
    body = _parameters({**new_patient(), "id": "another-id"}, mode="update")
    issues = _issues(client.post(f"/Patient/{stored['id']}/$validate", json=body,
                                 headers=FHIR_HEADERS))
    assert any(i["severity"] == "error" and i["expression"] == ["Patient.id"] for i in issues)
    assert client.get(f"/Patient/{stored['id']}").json()["meta"]["versionId"] == "1"


def test_mode_delete_checks_the_stored_resource_can_go(client):
    """GET, or POST without a body (its `resource` is 0..1, and a delete needs none), even
    one naming a Content-Type."""
    stored = created(client, new_patient())
    path = f"/Patient/{stored['id']}/$validate"
    for response in (client.get(path, params={"mode": "delete"}),
                     client.post(path, params={"mode": "delete"}, headers=FHIR_HEADERS)):
        [issue] = _issues(response)
        assert issue["severity"] == "information"
    assert client.get(f"/Patient/{stored['id']}").status_code == 200


@pytest.mark.parametrize("mode", ["update", "delete"])
def test_update_and_delete_modes_are_for_an_instance(client, mode):
    """Resource-validate: "Modes update and delete can only be used when the operation is
    invoked at the resource instance level"."""
    body = _parameters({**new_patient(), "id": "abc"}, mode=mode)
    response = client.post("/Patient/$validate", json=body, headers=FHIR_HEADERS)
    assert_outcome(response, 400, expression="mode")


def test_an_unknown_profile_or_mode_is_400(client):
    unknown = client.post("/Patient/$validate", params={"profile": "http://example.org/nope"},
                          json=new_patient(), headers=FHIR_HEADERS)
    assert unknown.status_code == 400 and "http://example.org/nope" in unknown.text
    assert unknown.json()["issue"][0]["expression"] == ["profile"]
    bad_mode = client.post("/Patient/$validate", params={"mode": "destroy"},
                           json=new_patient(), headers=FHIR_HEADERS)
    assert bad_mode.status_code == 400
    # As `profile` is: it named no parameter at all.
    assert bad_mode.json()["issue"][0]["expression"] == ["mode"], bad_mode.text


def test_a_profile_version_the_server_does_not_hold_is_no_other_version(client):
    """`profile=url|9.9.9` is not checked against the version held, as if it were asked
    for (400); a meta.profile claim of it is checked against that one, with a warning
    saying so, as for a profile not held at all."""
    version = registry().structure_definition(VN_CORE_PATIENT)["version"]
    pinned = f"{VN_CORE_PATIENT}|9.9.9"
    refused = client.post("/Patient/$validate", params={"profile": pinned},
                          json=vn_core_patient(), headers=FHIR_HEADERS)
    assert_outcome(refused, 400, expression="profile")
    assert version in refused.json()["issue"][0]["diagnostics"]
    ok = client.post("/Patient/$validate", params={"profile": f"{VN_CORE_PATIENT}|{version}"},
                     json=vn_core_patient(), headers=FHIR_HEADERS)
    assert ok.status_code == 200, ok.text
    claimed = {**vn_core_patient(), "meta": {"profile": [pinned]}}
    [warning] = [i for i in _issues(client.post("/Patient/$validate", json=claimed,
                                                headers=FHIR_HEADERS))
                 if i["code"] == "not-supported"]
    assert warning["severity"] == "warning" and warning["expression"] == [
        "Patient.meta.profile[0]"]
    assert f"version {version}" in warning["diagnostics"]


def test_a_profile_of_another_type_is_400(client):
    response = client.post("/Observation/$validate", params={"profile": VN_CORE_PATIENT},
                           json={"resourceType": "Observation", "status": "final",
                                 "code": {"text": "x"}}, headers=FHIR_HEADERS)
    assert_outcome(response, 400, expression="profile")


def test_type_level_get_without_a_resource_is_400(client):
    assert client.get("/Patient/$validate").status_code == 400


def test_a_resource_of_another_type_is_400(client):
    response = client.post("/Observation/$validate", json=new_patient(), headers=FHIR_HEADERS)
    assert response.status_code == 400


def test_vietnamese_messages_when_asked(client):
    patient = new_patient(birthDate="1985-02-30")
    english = _issues(client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS))
    vietnamese = _issues(client.post("/Patient/$validate", json=patient,
                                     headers={**FHIR_HEADERS, "Accept-Language": "vi-VN,vi;q=0.9"}))
    assert english[0]["diagnostics"] != vietnamese[0]["diagnostics"]
    assert vietnamese[0]["expression"] == english[0]["expression"]


def test_the_capability_statement_lists_validate_and_the_installed_profiles(client):
    patient = next(r for r in client.get("/metadata").json()["rest"][0]["resource"]
                   if r["type"] == "Patient")
    assert any(o["name"] == "validate" for o in patient["operation"])
    assert VN_CORE_PATIENT in patient["supportedProfile"]


def test_more_warnings_than_an_outcome_lists_are_still_no_error(client):
    """Over MAX_ISSUES warnings (an IPS profile's snapshot has 130): the list is cut short
    with an information issue, and the resource is valid and stored."""
    # An extension defined for CodeSystem, any number of times (0..*: one allowed once on an
    # element is an error when repeated)
    misplaced = {"url": "http://hl7.org/fhir/StructureDefinition/codesystem-keyWord",
                 "valueString": "lao"}
    patient = {**new_patient(), "extension": [misplaced] * 130}
    issues = _issues(client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS))
    assert {issue["severity"] for issue in issues[:-1]} == {"warning"}
    assert issues[-1]["severity"] == "information"
    assert "30 more" in issues[-1]["diagnostics"]
    response = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text


def test_parameters_are_validated_too_though_never_stored(client):
    """`Parameters/$validate` was 404 (Parameters is not stored): how a client checks an
    operation's body, bare or as the `resource` of the operation's own Parameters."""
    attachment = {"resourceType": "Parameters", "parameter": [
        {"name": "file", "valueAttachment": {"contentType": "text/plain", "data": "not base64!"}}]}
    for body in (attachment, _parameters(attachment)):
        issues = _issues(client.post("/Parameters/$validate", json=body, headers=FHIR_HEADERS))
        [error] = [i for i in issues if i["severity"] == "error"]
        assert error["expression"] == ["Parameters.parameter[0].valueAttachment.data"], issues
    # Its own faults are findings, as a Patient's are, not a 400 of the operation's input.
    faulty = {"resourceType": "Parameters", "colour": "x", "parameter": [
        {"valueString": "no name"}]}
    issues = _issues(client.post("/Parameters/$validate", json=faulty, headers=FHIR_HEADERS))
    assert {"Parameters.colour", "Parameters.parameter[0].name"} <= {
        e for i in issues if i["severity"] == "error" for e in i["expression"]}, issues
    valid = {"resourceType": "Parameters", "parameter": [{"name": "n", "valueInteger": 1}]}
    [issue] = _issues(client.post("/Parameters/$validate", json=valid, headers=FHIR_HEADERS))
    assert issue["severity"] == "information"
    assert_outcome(client.post("/Parameters", json=valid, headers=FHIR_HEADERS), 404)


@pytest.mark.parametrize("xml", ['<foo value="1"/>', '<active value="yes"/>'])
def test_xml_that_is_no_valid_fhir_is_a_finding_not_a_400(client, xml):
    """The same content in JSON is a 200 listing the issue; in XML it was a 400."""
    body = f'<Patient xmlns="http://hl7.org/fhir">{xml}</Patient>'
    response = client.post("/Patient/$validate", content=body,
                           headers={"Content-Type": "application/fhir+xml",
                                    "Accept": "application/fhir+json"})
    [error] = [i for i in _issues(response) if i["severity"] == "error"]
    assert error["expression"][0].startswith("Patient."), error
    malformed = client.post("/Patient/$validate", content="<Patient", headers={
        "Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"})
    assert_outcome(malformed, 400)


def test_the_servers_own_capability_statement_is_valid(client):
    """A client or registry storing it (or Inferno validating /metadata first) finds no error:
    it held SMART 1's oauth-uris without the authorize endpoint its definition requires."""
    statement = client.get("/metadata").json()
    outcome = client.post("/CapabilityStatement/$validate", json=statement).json()
    assert [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")] == [], outcome


def test_mode_profile_checks_a_stored_resource_against_the_profile_named(client):
    """resource-validation-mode `profile`: "checks an existing resource (must be nominated by
    id, not provided as a parameter) as valid against the nominated profile"; it was taken
    as no mode at all."""
    stored = created(client, new_patient())
    path = f"/Patient/{stored['id']}/$validate"
    issues = _issues(client.get(path, params={"mode": "profile", "profile": VN_CORE_PATIENT}))
    assert any(i["severity"] == "error" for i in issues), issues
    for request in (client.get(path, params={"mode": "profile"}),
                    client.post("/Patient/$validate", params={"mode": "profile",
                                                              "profile": VN_CORE_PATIENT},
                                json=new_patient(), headers=FHIR_HEADERS),
                    client.post(path, params={"mode": "profile", "profile": VN_CORE_PATIENT},
                                json={**new_patient(), "id": stored["id"]},
                                headers=FHIR_HEADERS)):
        assert_outcome(request, 400, expression="mode")
