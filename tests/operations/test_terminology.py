"""`CodeSystem/$lookup` and `ValueSet/$expand` over the terminology the server ships
(http://hl7.org/fhir/R4/codesystem-operation-lookup.html,
http://hl7.org/fhir/R4/valueset-operation-expand.html), by GET and POST."""

from functools import partial

import pytest

GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
GENDER_SET = "http://hl7.org/fhir/ValueSet/administrative-gender"
MARITAL_SET = "http://hl7.org/fhir/ValueSet/marital-status"


def _values(parameters: dict) -> dict[str, str]:
    return {p["name"]: p["valueString"] for p in parameters["parameter"] if "valueString" in p}


def test_lookup_gives_the_system_name_and_the_display(client):
    response = client.get("/CodeSystem/$lookup", params={"system": GENDER_SYSTEM,
                                                         "code": "female"})
    assert response.status_code == 200, response.text
    values = _values(response.json())
    assert values["display"] == "Female"
    assert values["name"] == "AdministrativeGender"
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "system", "valueUri": GENDER_SYSTEM}, {"name": "code", "valueCode": "male"}]}
    posted = client.post("/CodeSystem/$lookup", json=body,
                         headers={"Content-Type": "application/fhir+json"})
    assert _values(posted.json())["display"] == "Male"


def test_lookup_gives_the_definition_and_activity_of_a_code_of_r4(client):
    """`definition` and `inactive` are properties every code system has (CodeSystem-lookup,
    codesystem-concept-properties.html); R4's own code systems keep their definitions (they
    were dropped from the shipped copy)."""
    response = client.get("/CodeSystem/$lookup", params={"system": GENDER_SYSTEM,
                                                         "code": "other"})
    properties = {parts[0]["valueCode"]: parts[1] for p in response.json()["parameter"]
                  if p["name"] == "property" for parts in [p["part"]]}
    assert properties["definition"] == {"name": "value", "valueString": "Other."}
    assert properties["inactive"] == {"name": "value", "valueBoolean": False}
    only_parent = client.get("/CodeSystem/$lookup", params={
        "system": GENDER_SYSTEM, "code": "other", "property": "parent"}).json()
    assert not [p for p in only_parent["parameter"] if p["name"] == "property"]


def test_lookup_of_every_property_by_a_star_gives_them_all(client):
    """`property=*` is how the HL7 validator and tx.fhir.org clients ask for all of them."""
    def properties(**extra: str) -> list[dict]:
        response = client.get("/CodeSystem/$lookup", params={
            "system": GENDER_SYSTEM, "code": "other", **extra})
        assert response.status_code == 200, response.text
        return [p for p in response.json()["parameter"] if p["name"] == "property"]
    assert properties(property="*") == properties() != []


def test_lookup_gives_the_properties_of_r4s_supplement(client):
    """R4's example-supplement adds `legacy` to http://hl7.org/fhir/CodeSystem/example: the
    shipped copy had lost its `supplements`, so it supplemented nothing."""
    response = client.get("/CodeSystem/$lookup", params={
        "system": "http://hl7.org/fhir/CodeSystem/example", "code": "chol",
        "property": "legacy"})
    assert response.status_code == 200, response.text
    [legacy] = [p["part"] for p in response.json()["parameter"] if p["name"] == "property"]
    assert legacy == [{"name": "code", "valueCode": "legacy"},
                      {"name": "value", "valueBoolean": True}]


def test_lookup_of_a_code_without_display_names_it_by_its_code(client):
    """`display` is 1..1 in the OperationDefinition: v3-ActCode's HGHT has none."""
    response = client.get("/CodeSystem/$lookup", params={
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HGHT"})
    assert response.status_code == 200, response.text
    [display] = [p for p in response.json()["parameter"] if p["name"] == "display"]
    assert display["valueString"] == "HGHT"


def test_lookup_of_an_unknown_code_or_system_is_404_and_without_code_400(client):
    unknown_code = client.get("/CodeSystem/$lookup", params={"system": GENDER_SYSTEM,
                                                             "code": "nam"})
    assert unknown_code.status_code == 404
    assert "Unknown code 'nam'" in unknown_code.json()["issue"][0]["diagnostics"]
    unknown_system = client.get("/CodeSystem/$lookup", params={"system": "http://x.vn/cs",
                                                               "code": "a"})
    assert unknown_system.status_code == 404
    assert client.get("/CodeSystem/$lookup", params={"system": GENDER_SYSTEM}).status_code == 400


def test_expand_lists_codes_with_displays_filtered_and_paged(client):
    whole = client.get("/ValueSet/$expand", params={"url": GENDER_SET}).json()
    assert whole["resourceType"] == "ValueSet" and whole["url"] == GENDER_SET
    codes = [(c["code"], c["display"]) for c in whole["expansion"]["contains"]]
    # In the code system's order (valueset.html: the expansion follows the compose).
    assert codes == [("male", "Male"), ("female", "Female"), ("other", "Other"),
                     ("unknown", "Unknown")]
    assert whole["expansion"]["total"] == 4
    filtered = client.get("/ValueSet/$expand", params={"url": GENDER_SET, "filter": "MÀL"})
    assert [c["code"] for c in filtered.json()["expansion"]["contains"]] == ["male", "female"]
    # An enumeration in its own order: request-priority lists routine, urgent, asap, stat.
    priority = client.get("/ValueSet/$expand", params={
        "url": "http://hl7.org/fhir/ValueSet/request-priority"}).json()
    assert [c["code"] for c in priority["expansion"]["contains"]] == [
        "routine", "urgent", "asap", "stat"]
    page = client.get("/ValueSet/$expand", params={"url": MARITAL_SET, "offset": "2",
                                                   "count": "3"}).json()["expansion"]
    assert page["offset"] == 2 and len(page["contains"]) == 3 and page["total"] > 5
    # The parameters that made it, and the version of the code system (a SHALL).
    used = {(p["name"], next(v for k, v in p.items() if k.startswith("value")))
            for p in page["parameter"]}
    assert {("offset", 2), ("count", 3)} <= used
    assert sorted(value for name, value in used if name == "version") == [
        "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus|2018-08-12",
        "http://terminology.hl7.org/CodeSystem/v3-NullFlavor|2018-08-12"], used
    gender = {(p["name"], p.get("valueUri") or p.get("valueString"))
              for p in filtered.json()["expansion"]["parameter"]}
    assert gender == {("version", f"{GENDER_SYSTEM}|4.0.1"), ("filter", "MÀL")}


def test_a_version_in_the_url_and_as_a_parameter(client):
    both = {"url": f"{GENDER_SET}|4.0.1", "valueSetVersion": "4.0.1"}
    assert client.get("/ValueSet/$expand", params=both).status_code == 200
    other = {"url": f"{GENDER_SET}|4.0.1", "valueSetVersion": "3.0.2"}
    assert client.get("/ValueSet/$expand", params=other).status_code == 400


def test_expand_refusals(client):
    assert client.get("/ValueSet/$expand").status_code == 400
    assert client.get("/ValueSet/$expand", params={"url": "http://x.vn/vs"}).status_code == 404
    assert client.get("/ValueSet/$expand", params={"url": GENDER_SET, "count": "-1"}
                      ).status_code == 400


def test_terminology_operations_need_read_scope_and_are_in_the_capability_statement(
        client, server, issuer):
    resources = {r["type"]: r for r in client.get("/metadata").json()["rest"][0]["resource"]}
    assert {"name": "lookup", "definition": "http://hl7.org/fhir/OperationDefinition/"
            "CodeSystem-lookup"} in resources["CodeSystem"]["operation"]
    assert "expand" in {o["name"] for o in resources["ValueSet"]["operation"]}
    headers = {"Authorization": f"Bearer {issuer.token(scope='user/Patient.rs')}"}
    refused = client.get("/ValueSet/$expand", params={"url": GENDER_SET}, headers=headers)
    assert refused.status_code == 403


RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"


def test_the_implicit_value_set_of_a_code_system_expands_and_validates(client):
    # R4's CodeSystem restful-interaction names the value set of all its codes, which R4
    # does not publish as a ValueSet resource: before, both operations answered 404.
    url = "http://hl7.org/fhir/ValueSet/restful-interaction"
    expanded = client.get("/ValueSet/$expand", params={"url": url})
    assert expanded.status_code == 200, expanded.text
    codes = {c["code"] for c in expanded.json()["expansion"]["contains"]}
    assert {"read", "search-type", "transaction"} <= codes
    checked = client.get("/ValueSet/$validate-code", params={
        "url": url, "system": RESTFUL_INTERACTION, "code": "read"})
    assert checked.json()["parameter"][0] == {"name": "result", "valueBoolean": True}
    assert client.get("/ValueSet/$expand", params={"url": f"{url}|9.9"}).status_code == 404


def test_metadata_in_terminology_mode_is_the_terminology_capabilities(client):
    # Before, mode=terminology was ignored: a CapabilityStatement came back, which terminology
    # clients (the FHIR validator's -tx) do not take.
    response = client.get("/metadata", params={"mode": "terminology"})
    assert response.status_code == 200, response.text
    capabilities = response.json()
    assert capabilities["resourceType"] == "TerminologyCapabilities"
    systems = {s["uri"]: s for s in capabilities["codeSystem"]}
    assert {"code": "4.0.1"} in systems[GENDER_SYSTEM]["version"]
    assert "http://snomed.info/sct" not in systems  # held as content not-present only
    checked = client.post("/TerminologyCapabilities/$validate", json=capabilities,
                          headers={"Content-Type": "application/fhir+json"})
    assert [i["severity"] for i in checked.json()["issue"]] == ["information"], checked.text
    assert client.get("/metadata").json()["resourceType"] == "CapabilityStatement"
    xml = client.get("/metadata", params={"mode": "terminology"},
                     headers={"Accept": "application/fhir+xml"})
    assert xml.status_code == 200 and xml.text.startswith("<TerminologyCapabilities")


def test_terminology_capabilities_declare_what_is_held_and_taken(client):
    """Before, four $expand parameters it takes (and echoes) were left out, and no code
    system stored through the API was listed, though every operation answers from them."""
    parameters = {p["name"] for p in client.get("/metadata", params={
        "mode": "terminology"}).json()["expansion"]["parameter"]}
    assert {"date", "includeDefinition", "excludeNotForUI", "designation", "filter",
            "displayLanguage", "force-system-version"} <= parameters
    assert not parameters & {"context", "contextDirection", "excludeNested"}  # not acted on
    url = "http://benhvien.vn/fhir/CodeSystem/khoa-capabilities"
    stored = {"resourceType": "CodeSystem", "id": "khoa-capabilities", "url": url,
              "version": "2", "status": "active", "content": "complete",
              "concept": [{"code": "noi", "display": "Khoa nội"}]}
    assert client.put("/CodeSystem/khoa-capabilities", json=stored, headers={
        "Content-Type": "application/fhir+json"}).status_code == 201

    def listed() -> dict[str, dict]:
        capabilities = client.get("/metadata", params={"mode": "terminology"}).json()
        return {s["uri"]: s for s in capabilities["codeSystem"]}

    assert listed()[url] == {"uri": url, "version": [{"code": "2"}]}
    assert client.delete("/CodeSystem/khoa-capabilities").status_code in (200, 204)
    assert url not in listed()


@pytest.mark.parametrize("system", ["http://snomed.info/sct", "http://loinc.org"])
def test_a_code_of_a_system_held_without_its_codes_is_not_called_unknown(client, system):
    # SNOMED CT is held as a CodeSystem with content not-present: before, its real codes were
    # reported as "not a code of" / "Unknown code" in it. LOINC, which THO's NamingSystem
    # names, is answered alike: before, it was 404 "not known to this server".
    # 400 not-supported, as $validate-code and $expand answer: 404 would say it is no code.
    for operation, params in (("$lookup", {"code": "38341003"}),
                              ("$subsumes", {"codeA": "38341003", "codeB": "22298006"})):
        answer = client.get(f"/CodeSystem/{operation}", params={"system": system, **params})
        assert answer.status_code == 400, answer.text
        assert answer.json()["issue"][0]["code"] == "not-supported"
        assert "cannot be checked here" in answer.json()["issue"][0]["diagnostics"]
    checked = client.get("/CodeSystem/$validate-code", params={"url": system,
                                                               "code": "38341003"}).json()
    assert checked["parameter"][0] == {"name": "result", "valueBoolean": False}
    assert "content 'not-present'" in checked["parameter"][1]["valueString"]
    of_system = {"resourceType": "ValueSet", "status": "active",
                 "compose": {"include": [{"system": system}]}}
    expanded = client.post("/ValueSet/$expand", headers={
        "Content-Type": "application/fhir+json"}, json={
        "resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": of_system}]})
    assert expanded.status_code == 400, expanded.text
    assert expanded.json()["issue"][0]["code"] == "not-supported"
    assert "content 'not-present'" in expanded.json()["issue"][0]["diagnostics"]


def test_an_empty_expansion_page_is_valid_fhir(client):
    # Before, `contains: []` came back: FHIR JSON has no empty arrays, and the server's own
    # validation refused the answer it gave.
    for params in ({"count": "0"}, {"offset": "10"}, {"filter": "không-có"}):
        response = client.get("/ValueSet/$expand", params={"url": GENDER_SET, **params})
        assert response.status_code == 200, response.text
        expanded = response.json()
        assert "contains" not in expanded["expansion"]
        checked = client.post("/ValueSet/$validate", json=expanded,
                              headers={"Content-Type": "application/fhir+json"})
        assert [i["severity"] for i in checked.json()["issue"]] == ["information"], checked.text


def test_a_coding_of_a_code_system_version_not_held_is_warned_of(client):
    """The HL7 validator's UNKNOWN_CODESYSTEM_VERSION: the code was checked against another
    version without a word, where $validate-code answers false."""
    marital = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
    patient = {"resourceType": "Patient", "maritalStatus": {"coding": [
        {"system": marital, "version": "9.9", "code": "M"}]}}
    validate = partial(client.post, "/Patient/$validate",
                       headers={"Content-Type": "application/fhir+json"})
    issues = validate(json=patient).json()["issue"]
    assert [(i["severity"], i["code"], i["expression"]) for i in issues] == [
        ("warning", "not-found", ["Patient.maritalStatus.coding[0].version"])], issues
    assert "9.9" in issues[0]["diagnostics"]
    held = {**patient, "maritalStatus": {"coding": [{"system": marital, "code": "M"}]}}
    issues = validate(json=held).json()["issue"]
    assert [i["severity"] for i in issues] == ["information"], issues
