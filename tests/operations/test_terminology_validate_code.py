"""`CodeSystem/$validate-code` and `ValueSet/$validate-code` through HTTP, GET and POST
(http://hl7.org/fhir/R4/codesystem-operation-validate-code.html,
http://hl7.org/fhir/R4/valueset-operation-validate-code.html)."""

import unicodedata

import pytest
from api.helpers import FHIR_HEADERS, created

from operations.terminology_data import (
    DISEASE,
    GENDER,
    VALUE_SETS,
    all_terminology,
    disease_system,
    installed,
    vs_url,
)


@pytest.fixture(scope="module", autouse=True)
def terminology():
    with installed(*all_terminology()):
        yield


def out(response) -> dict:
    """name → value of an output Parameters."""
    assert response.status_code == 200, response.text
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value"))
            for p in response.json()["parameter"]}


def post(client, path: str, *parameters: dict):
    return client.post(path, json={"resourceType": "Parameters", "parameter": list(parameters)},
                       headers=FHIR_HEADERS)


def test_code_system_validate_code_by_get(client):
    found = out(client.get("/CodeSystem/$validate-code", params={"url": DISEASE,
                                                                 "code": "dengue"}))
    assert found == {"result": True, "display": "Dengue fever"}
    vi = out(client.get("/CodeSystem/$validate-code", params={
        "url": DISEASE, "code": "dengue", "displayLanguage": "vi"}))
    assert vi["display"] == "Sốt xuất huyết Dengue"
    unknown = out(client.get("/CodeSystem/$validate-code", params={"url": DISEASE, "code": "x"}))
    assert unknown["result"] is False and "Unknown code 'x'" in unknown["message"]
    measles = {"url": DISEASE, "code": "measles"}
    assert out(client.get("/CodeSystem/$validate-code", params=measles))["result"] is False
    assert out(client.get("/CodeSystem/$validate-code",
                          params={**measles, "version": "2.0.0"}))["result"] is True


def test_abstract_inactive_and_display_rules(client):
    abstract = out(client.get("/CodeSystem/$validate-code", params={"url": DISEASE,
                                                                    "code": "chronic"}))
    assert abstract["result"] is False and "abstract" in abstract["message"]
    allowed = out(client.get("/CodeSystem/$validate-code", params={
        "url": DISEASE, "code": "chronic", "abstract": "true"}))
    assert allowed["result"] is True
    retired = out(client.get("/CodeSystem/$validate-code", params={"url": DISEASE,
                                                                   "code": "hypertension"}))
    assert retired["result"] is True and "inactive" in retired["message"]
    wrong = out(client.get("/CodeSystem/$validate-code", params={
        "url": DISEASE, "code": "dengue", "display": "Sốt rét"}))
    # A wrong display makes the code invalid, as tx.fhir.org judges it ("True if the concept
    # details supplied are valid"); its right display is given.
    assert wrong["result"] is False and "'Sốt rét' is not a display" in wrong["message"]
    assert wrong["display"] == "Dengue fever"
    vietnamese = out(client.get("/CodeSystem/$validate-code", params={
        "url": DISEASE, "code": "dengue", "display": "sốt xuất huyết  dengue"}))
    assert vietnamese == {"result": True, "display": "Dengue fever"}
    # Typed decomposed (NFD: o + horn + grave), as macOS keyboards write it: the same text.
    decomposed = unicodedata.normalize("NFD", "Sốt xuất huyết Dengue")
    assert decomposed != "Sốt xuất huyết Dengue"
    assert out(client.get("/CodeSystem/$validate-code", params={
        "url": DISEASE, "code": "dengue", "display": decomposed}))["result"] is True


def test_code_system_validate_code_by_post_with_coding_and_codeable_concept(client):
    coding = post(client, "/CodeSystem/$validate-code",
                  {"name": "coding", "valueCoding": {"system": DISEASE, "code": "covid"}})
    assert out(coding)["result"] is True
    concept = {"coding": [{"system": DISEASE, "code": "nope"},
                          {"system": DISEASE, "code": "viral"}]}
    either = post(client, "/CodeSystem/$validate-code", {"name": "url", "valueUri": DISEASE},
                  {"name": "codeableConcept", "valueCodeableConcept": concept})
    assert out(either) == {"result": True, "display": "Viral infection"}


@pytest.mark.parametrize("first", ["urn:oid:1.2.3.4", "http://snomed.info/sct",
                                   "http://loinc.org"])
def test_a_codeable_concept_is_checked_in_the_code_system_held_whatever_its_order(client,
                                                                                  first):
    """Without url: "true if one of the coding values is in the code system"; a coding of
    a system not held here, or held without its codes (SNOMED CT, LOINC), listed first,
    does not decide (it made it 404, or false)."""
    gender = "http://hl7.org/fhir/administrative-gender"
    concept = {"coding": [{"system": first, "code": "q"}, {"system": gender, "code": "male"}]}
    answer = post(client, "/CodeSystem/$validate-code",
                  {"name": "codeableConcept", "valueCodeableConcept": concept})
    assert out(answer)["result"] is True


def test_code_system_validate_code_on_a_stored_instance(client):
    stored = created(client, {**disease_system("3.0.0"), "url": "http://example.vn/cs/stored"})
    path = f"/CodeSystem/{stored['id']}/$validate-code"
    assert out(client.get(path, params={"code": "dengue"}))["result"] is True
    assert out(post(client, path, {"name": "code", "valueCode": "zika"}))["result"] is False
    assert client.get("/CodeSystem/nope/$validate-code", params={"code": "a"}).status_code == 404


def test_code_system_validate_code_refusals(client):
    assert client.get("/CodeSystem/$validate-code", params={"url": DISEASE}).status_code == 400
    assert client.get("/CodeSystem/$validate-code", params={"code": "a"}).status_code == 400
    unknown = client.get("/CodeSystem/$validate-code", params={"url": "http://x.vn/cs",
                                                               "code": "a"})
    assert unknown.status_code == 404
    assert unknown.json()["resourceType"] == "OperationOutcome"
    bad_coding = post(client, "/CodeSystem/$validate-code", {"name": "coding",
                                                             "valueCoding": {"system": 3}})
    assert bad_coding.status_code == 400
    not_parameters = client.post("/CodeSystem/$validate-code", json={"resourceType": "Patient"},
                                 headers=FHIR_HEADERS)
    assert not_parameters.status_code == 400


def test_value_set_validate_code_by_get(client):
    def check(name, **params):
        return out(client.get("/ValueSet/$validate-code", params={"url": vs_url(name),
                                                                  **params}))

    assert check("infections", system=DISEASE, code="dengue")["result"] is True
    outside = check("infections", system=DISEASE, code="diabetes")
    assert outside["result"] is False and "not in the value set" in outside["message"]
    assert "Unknown code" in check("infections", system=DISEASE, code="zzz")["message"]
    assert check("active", system=DISEASE, code="hypertension")["result"] is False
    assert check("imported", system=GENDER, code="female")["result"] is True
    wrong = check("imported", system=DISEASE, code="viral", display="Virus")
    assert wrong["result"] is False and "'Virus' is not a display" in wrong["message"]
    assert check("enumerated", system=DISEASE, code="chronic")["result"] is False
    core = out(client.get("/ValueSet/$validate-code", params={
        "url": "http://hl7.org/fhir/ValueSet/administrative-gender", "system": GENDER,
        "code": "male"}))
    assert core == {"result": True, "display": "Male"}


def test_value_set_validate_code_by_post(client):
    codeable = {"coding": [{"system": DISEASE, "code": "diabetes"},
                           {"system": DISEASE, "code": "covid", "display": "COVID-19"}]}
    found = post(client, "/ValueSet/$validate-code",
                 {"name": "url", "valueUri": vs_url("infections")},
                 {"name": "codeableConcept", "valueCodeableConcept": codeable})
    assert out(found) == {"result": True, "display": "COVID-19"}
    sent_set = [vs for vs in VALUE_SETS if vs["url"] == vs_url("chronic")][0]
    inline = post(client, "/ValueSet/$validate-code",
                  {"name": "valueSet", "resource": {**sent_set, "url": "urn:uuid:1"}},
                  {"name": "coding", "valueCoding": {"system": DISEASE, "code": "diabetes"}})
    assert out(inline)["result"] is True


def test_a_text_only_codeable_concept_is_no_code_of_the_value_set(client):
    """Valid FHIR, with nothing to check: result false, saying so (not a 400)."""
    found = post(client, "/ValueSet/$validate-code",
                 {"name": "url", "valueUri": vs_url("infections")},
                 {"name": "codeableConcept", "valueCodeableConcept": {"text": "sốt xuất huyết"}})
    assert out(found) == {"result": False,
                          "message": "The codeableConcept has text only: no code to check"}
    no_text = post(client, "/ValueSet/$validate-code",
                   {"name": "url", "valueUri": vs_url("infections")},
                   {"name": "codeableConcept", "valueCodeableConcept": {"coding": []}})
    assert no_text.status_code == 400, no_text.text


def test_value_set_validate_code_on_a_stored_instance(client):
    stored = created(client, {"resourceType": "ValueSet", "status": "active",
                              "url": "http://example.vn/vs/stored", "compose": {"include": [
                                  {"valueSet": [vs_url("chronic")]}]}})
    path = f"/ValueSet/{stored['id']}/$validate-code"
    hit = out(client.get(path, params={"system": DISEASE, "code": "diabetes"}))
    assert hit == {"result": True, "display": "Diabetes"}
    assert out(client.get(path, params={"system": DISEASE, "code": "dengue"}))["result"] is False


def test_value_set_validate_code_refusals(client):
    base = {"url": vs_url("infections")}
    assert client.get("/ValueSet/$validate-code", params=base).status_code == 400
    assert client.get("/ValueSet/$validate-code", params={**base, "code": "dengue"}
                      ).status_code == 400  # a code needs its system
    assert client.get("/ValueSet/$validate-code", params={"system": DISEASE, "code": "a"}
                      ).status_code == 400
    unknown = client.get("/ValueSet/$validate-code", params={
        "url": "http://x.vn/vs", "system": DISEASE, "code": "a"})
    assert unknown.status_code == 404
    # The same value set cannot be expanded here, but a code of a system it does not include
    # is certainly not in it.
    elsewhere = out(client.get("/ValueSet/$validate-code", params={
        "url": vs_url("snomed"), "system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9"}))
    assert elsewhere["result"] is False
    assert "includes no code of http://hl7.org/fhir/sid/icd-10" in elsewhere["message"]
    assert client.get("/ValueSet/$validate-code", params={
        **base, "system": DISEASE, "code": "dengue", "abstract": "maybe"}).status_code == 400


ICD_10 = "http://hl7.org/fhir/sid/icd-10"


@pytest.mark.parametrize(("url", "system", "code"), [
    (vs_url("snomed"), "http://snomed.info/sct", "22298006"),
    # SNOMED CT filters, then the whole of ICD-10, not held at all: it was 400 blaming SNOMED CT
    ("http://fhir.ehealth.gov.vn/core/ValueSet/vn-core-condition-code", ICD_10, "J18.9"),
    ("http://fhir.ehealth.gov.vn/core/ValueSet/vn-core-diagnosticreport-code",
     "http://loinc.org", "58410-2")])
def test_a_code_of_an_include_not_held_here_is_false_saying_why(client, url, system, code):
    """As CodeSystem/$validate-code answers of a code system not held (and tx.fhir.org, HAPI):
    result false, with a message naming the code's own system, not 400."""
    answer = out(client.get("/ValueSet/$validate-code", params={
        "url": url, "system": system, "code": code}))
    assert answer["result"] is False, answer
    assert f"The code '{code}' of {system} cannot be checked" in answer["message"], answer
    assert f"the code system {system} is" in answer["message"], answer
    assert system == "http://snomed.info/sct" or "snomed" not in answer["message"], answer


def test_an_importing_value_set_names_the_include_not_held(client):
    """A value set importing another: which part a code falls into is not known, so the
    include that cannot be expanded is named."""
    importing = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"valueSet": [vs_url("snomed")]}, {"system": DISEASE}]}}
    answer = out(client.post("/ValueSet/$validate-code", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": importing},
            {"name": "coding", "valueCoding": {"system": ICD_10, "code": "J18.9"}}]}))
    assert answer["result"] is False, answer
    assert "http://snomed.info/sct" in answer["message"], answer


def test_case_version_and_display_of_the_code_system(client):
    """A code system that does not say it is case sensitive takes codes in any case
    (CodeSystem.caseSensitive: "accept codes in any case"), in a value set too; a coding's
    version must be the one held; a value set's own display does not make its code
    system's display wrong."""
    v2_0164 = "http://terminology.hl7.org/CodeSystem/v2-0164"
    lower = out(client.get("/CodeSystem/$validate-code", params={"url": v2_0164, "code": "ap"}))
    assert lower["result"] is True
    in_set = out(client.post("/ValueSet/$validate-code", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": {"resourceType": "ValueSet", "status": "active",
                                              "compose": {"include": [{"system": v2_0164}]}}},
            {"name": "coding", "valueCoding": {"system": v2_0164, "code": "ap"}}]}))
    assert in_set["result"] is True
    other_version = out(client.post("/CodeSystem/$validate-code", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": {
            "system": GENDER, "version": "9.9", "code": "male"}}]}))
    assert other_version["result"] is False and "9.9" in other_version["message"]
    renamed = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": GENDER, "concept": [{"code": "male", "display": "Nam"}]}]}}
    for display in ("Nam", "Male"):
        checked = out(client.post("/ValueSet/$validate-code", headers=FHIR_HEADERS, json={
            "resourceType": "Parameters", "parameter": [
                {"name": "valueSet", "resource": renamed},
                {"name": "coding", "valueCoding": {"system": GENDER, "code": "male",
                                                   "display": display}}]}))
        assert checked["result"] is True, (display, checked)


def test_a_value_set_pinning_a_version_not_held_cannot_be_checked(client):
    """$expand: "When a server cannot correctly expand a value set because ... it has the
    wrong version ... then it SHALL return an error": a made-up code was valid."""
    pinned = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": GENDER, "version": "3.0.1",
         "concept": [{"code": "male"}, {"code": "bogus"}]}]}}
    response = client.post("/ValueSet/$validate-code", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": pinned},
            {"name": "coding", "valueCoding": {"system": GENDER, "code": "bogus"}}]})
    assert response.status_code == 400 and "3.0.1" in response.text, response.text


def test_a_code_listed_in_another_case_is_one_concept(client):
    """v2-0164 is not case sensitive: `ap` and `AP` listed are its one concept AP."""
    listed = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0164",
         "concept": [{"code": "ap"}, {"code": "AP"}]}]}}
    expanded = client.post("/ValueSet/$expand", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": listed}]})
    assert [c["code"] for c in expanded.json()["expansion"]["contains"]] == ["AP"]


VN_CORE = "http://fhir.ehealth.gov.vn/core"
OCCUPATIONS = f"{VN_CORE}/CodeSystem/vn-core-occupation-4069"


@pytest.mark.parametrize(("code", "valid"), [("01", True), ("ZZ", False)])
def test_a_value_set_partly_held_decides_the_codes_of_its_held_part(client, code, valid):
    """VN Core's vn-core-occupation includes the whole 4069 list (held here) and a code
    system held without codes: the whole cannot be expanded, but a 4069 code is in it or
    not (it was 400 either way)."""
    found = out(client.get("/ValueSet/$validate-code", params={
        "url": f"{VN_CORE}/ValueSet/vn-core-occupation", "system": OCCUPATIONS, "code": code}))
    assert found["result"] is valid, found
    patient = {"resourceType": "Patient", "extension": [{
        "url": f"{VN_CORE}/StructureDefinition/extension-occupation",
        "valueCodeableConcept": {"coding": [{"system": OCCUPATIONS, "code": code}]}}]}
    issues = client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS).json()["issue"]
    # The extensible binding: a code of an included system that is not in it is an error
    # (it was one warning that the value set cannot be expanded, given twice).
    errors = [i for i in issues if i["severity"] == "error"]
    assert bool(errors) is not valid, issues
    assert not any("cannot be expanded" in i["diagnostics"] for i in issues), issues


@pytest.mark.parametrize("code", ["XYZ", "J18.9.9.9"])
def test_a_code_without_the_syntax_of_icd_10_is_not_valid(client, code):
    """ICD-10 is not held here, but a code without its syntax is none of its codes, nor in a
    value set that takes all of them (VN Core's diagnoses)."""
    icd_10 = "http://hl7.org/fhir/sid/icd-10"
    in_system = out(client.get("/CodeSystem/$validate-code",
                               params={"url": icd_10, "code": code}))
    in_value_set = out(client.get("/ValueSet/$validate-code", params={
        "url": "http://fhir.ehealth.gov.vn/core/ValueSet/vn-core-condition-code",
        "system": icd_10, "code": code}))
    for found in (in_system, in_value_set):
        assert found["result"] is False
        assert f"'{code}' is not a code of ICD-10" in found["message"]


@pytest.mark.parametrize(("language", "display", "valid", "shown"), [
    # Another language's designation is no display in English: R4's displayLanguage is "the
    # language to be used ... when validating the display".
    ("en", "Sốt xuất huyết Dengue", False, "Dengue fever"),
    ("en", "Dengue fever", True, "Dengue fever"),
    ("vi", "Sốt xuất huyết Dengue", True, "Sốt xuất huyết Dengue"),
    ("vi", "Dengue fever", False, "Sốt xuất huyết Dengue"),
    # A list as Accept-Language writes it: any of its languages.
    ("vi,en;q=0.5", "Dengue fever", True, "Sốt xuất huyết Dengue"),
    ("vi, en;q=0", "Dengue fever", False, "Sốt xuất huyết Dengue"),
    ("vi,*", "Dengue fever", True, "Sốt xuất huyết Dengue"),
    # No display in French: the default one will do, and only it.
    ("fr", "Dengue fever", True, "Dengue fever"),
    ("fr", "Sốt xuất huyết Dengue", False, "Dengue fever"),
])
def test_a_display_is_judged_in_the_display_language(client, language, display, valid, shown):
    asked = {"code": "dengue", "display": display, "displayLanguage": language}
    for path, params in (("/CodeSystem/$validate-code", {"url": DISEASE, **asked}),
                         ("/ValueSet/$validate-code", {"url": vs_url("infections"),
                                                       "system": DISEASE, **asked})):
        found = out(client.get(path, params=params))
        assert (found["result"], found["display"]) == (valid, shown), (path, found)


@pytest.mark.parametrize(("rule", "valid"), [
    ({"op": "=", "value": "true"}, True),
    ({"op": "in", "value": "true"}, True),
    ({"op": "=", "value": "TRUE"}, False),  # selects nothing: booleans are lower case
])
def test_a_value_set_of_the_abstract_concepts_takes_them_without_abstract(client, rule, valid):
    """A value set that picks concepts by `notSelectable = true` lists them in its expansion
    (abstract) and holds them as its codes, as tx.fhir.org judges them."""
    chosen = {"resourceType": "ValueSet", "url": "urn:uuid:2", "status": "active",
              "compose": {"include": [{"system": DISEASE, "filter": [
                  {"property": "notSelectable", **rule}]}]}}
    coding = {"name": "coding", "valueCoding": {"system": DISEASE, "code": "chronic"}}
    found = out(post(client, "/ValueSet/$validate-code",
                     {"name": "valueSet", "resource": chosen}, coding))
    assert found["result"] is valid, found
    # Picked otherwise (the whole code system), it still needs abstract=true.
    whole = out(post(client, "/ValueSet/$validate-code",
                     {"name": "url", "valueUri": vs_url("all")}, coding))
    assert whole["result"] is False and "abstract" in whole["message"]


def test_a_value_set_importing_an_unknown_one_cannot_confirm_a_code(client):
    """Not a wrong request: the code is not confirmed (false, naming the value set not found),
    as tx.fhir.org answers; $expand of it is still refused, and an unknown `url` is 404."""
    importing = {"resourceType": "ValueSet", "url": "urn:uuid:3", "status": "active",
                 "compose": {"include": [{"valueSet": ["http://x.vn/vs/none"]}]}}
    sent = {"name": "valueSet", "resource": importing}
    for coding in ({"system": DISEASE, "code": "dengue"}, {"system": DISEASE, "code": "zzz"}):
        found = out(post(client, "/ValueSet/$validate-code", sent,
                         {"name": "coding", "valueCoding": coding}))
        assert found["result"] is False and "http://x.vn/vs/none" in found["message"], found
        assert "not known" in found["message"]
    expanded = post(client, "/ValueSet/$expand", sent)
    assert expanded.status_code == 400 and "http://x.vn/vs/none" in expanded.text
    assert expanded.json()["issue"][0]["code"] == "not-found"
    assert client.get("/ValueSet/$validate-code", params={
        "url": "http://x.vn/vs/none", "system": DISEASE, "code": "dengue"}).status_code == 404
