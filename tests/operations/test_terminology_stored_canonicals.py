"""Terminology stored through the API is used by its canonical URL, as the server's own is
(the operations' `url`: "the server must know the value set (e.g. it is defined explicitly in
the server's value sets...)"): a hospital uploads its local code system, value set and map
and validates, looks up and translates against them by URL. With a version, that version;
without, the one stored last."""

import uuid

import pytest
from api.helpers import FHIR_HEADERS

GENDER = "http://hl7.org/fhir/administrative-gender"


@pytest.fixture(scope="module")
def urls(client) -> dict[str, str]:
    base = f"http://benhvien.vn/fhir/{uuid.uuid4().hex[:8]}"
    found = {"cs": f"{base}/CodeSystem/khoa", "vs": f"{base}/ValueSet/gioi",
             "cm": f"{base}/ConceptMap/khoa"}
    for version, extra in (("1", []), ("2", [{"code": "nhi", "display": "Khoa nhi"}])):
        stored = [
            {"resourceType": "CodeSystem", "url": found["cs"], "version": version,
             "status": "active", "content": "complete", "hierarchyMeaning": "is-a",
             "concept": [{"code": "noi", "display": "Khối nội",
                          "concept": [{"code": "tim-mach", "display": "Tim mạch"}]}, *extra]},
            {"resourceType": "ValueSet", "url": found["vs"], "version": version,
             "status": "active", "compose": {"include": [{"system": GENDER, "concept": [
                 {"code": "female"}, *([{"code": "male"}] if extra else [])]}]}},
            {"resourceType": "ConceptMap", "url": found["cm"], "version": version,
             "status": "active", "group": [{"source": found["cs"], "target": GENDER, "element": [
                 {"code": "noi", "target": [{"code": "other", "equivalence": "wider"}]}]}]},
        ]
        for resource in stored:
            response = client.post(f"/{resource['resourceType']}", json=resource,
                                   headers=FHIR_HEADERS)
            assert response.status_code == 201, response.text
    return found


def _parameters(response) -> dict:
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()["parameter"]}


def test_lookup_and_validate_code_by_the_code_system_url(client, urls):
    found = _parameters(client.get("/CodeSystem/$lookup",
                                   params={"system": urls["cs"], "code": "tim-mach"}))
    assert found["display"]["valueString"] == "Tim mạch"
    assert found["version"]["valueString"] == "2"  # the one stored last
    valid = _parameters(client.get("/CodeSystem/$validate-code",
                                   params={"url": urls["cs"], "code": "nhi"}))
    assert valid["result"]["valueBoolean"] is True
    old = _parameters(client.get("/CodeSystem/$validate-code",
                                 params={"url": urls["cs"], "code": "nhi", "version": "1"}))
    assert old["result"]["valueBoolean"] is False
    subsumes = _parameters(client.get("/CodeSystem/$subsumes", params={
        "system": urls["cs"], "codeA": "noi", "codeB": "tim-mach"}))
    assert subsumes["outcome"]["valueCode"] == "subsumes"


def test_expand_and_validate_code_by_the_value_set_url(client, urls):
    expanded = client.get("/ValueSet/$expand", params={"url": urls["vs"]})
    assert expanded.status_code == 200, expanded.text
    assert {c["code"] for c in expanded.json()["expansion"]["contains"]} == {"female", "male"}
    first = client.get("/ValueSet/$expand", params={"url": urls["vs"], "valueSetVersion": "1"})
    assert {c["code"] for c in first.json()["expansion"]["contains"]} == {"female"}
    valid = _parameters(client.get("/ValueSet/$validate-code", params={
        "url": urls["vs"], "system": GENDER, "code": "male"}))
    assert valid["result"]["valueBoolean"] is True


def test_translate_by_the_concept_map_url(client, urls):
    found = _parameters(client.get("/ConceptMap/$translate", params={
        "url": urls["cm"], "system": urls["cs"], "code": "noi"}))
    assert found["result"]["valueBoolean"] is True


def test_a_url_with_its_version_names_that_version(client, urls):
    """A canonical `url|version` (references.html#canonical) is the url and that version,
    of the server's own terminology and of what was stored (404 and result=false before)."""
    gender = _parameters(client.get("/CodeSystem/$validate-code", params={
        "url": f"{GENDER}|4.0.1", "code": "male"}))
    assert gender["result"]["valueBoolean"] is True
    first = client.get("/ValueSet/$expand", params={"url": f"{urls['vs']}|1"})
    assert first.status_code == 200, first.text
    assert {c["code"] for c in first.json()["expansion"]["contains"]} == {"female"}
    old = _parameters(client.get("/CodeSystem/$validate-code", params={
        "url": f"{urls['cs']}|1", "code": "nhi"}))
    assert old["result"]["valueBoolean"] is False
    mapped = _parameters(client.get("/ConceptMap/$translate", params={
        "url": f"{urls['cm']}|2", "system": urls["cs"], "code": "noi"}))
    assert mapped["result"]["valueBoolean"] is True
    both = client.get("/ValueSet/$expand", params={"url": f"{urls['vs']}|1",
                                                   "valueSetVersion": "2"})
    assert both.status_code == 400, both.text


@pytest.mark.parametrize("offset", [str(2**31), "１"])  # beyond an integer; a fullwidth 1
def test_paging_beyond_a_fhir_integer_or_in_other_digits_is_400(client, urls, offset):
    response = client.get("/ValueSet/$expand", params={"url": urls["vs"], "offset": offset})
    assert response.status_code == 400, response.text
    assert client.get("/Patient", params={"_count": "１０"}).status_code == 400


def test_an_unknown_url_or_version_is_still_404(client, urls):
    assert client.get("/ValueSet/$expand", params={
        "url": urls["vs"], "valueSetVersion": "9"}).status_code == 404
    assert client.get("/ValueSet/$expand", params={
        "url": urls["vs"] + "-khac"}).status_code == 404



@pytest.fixture(scope="module")
def departments(client, urls) -> dict[str, str]:
    """A ValueSet over the stored code system: all of it, and its medical departments only
    (an is-a filter), and an Observation coded in it."""
    found = {"all": f"{urls['cs']}-tat-ca", "medical": f"{urls['cs']}-khoi-noi"}
    for url, include in ((found["all"], {"system": urls["cs"]}),
                         (found["medical"], {"system": urls["cs"], "filter": [
                             {"property": "concept", "op": "is-a", "value": "noi"}]})):
        value_set = {"resourceType": "ValueSet", "url": url, "status": "active",
                     "compose": {"include": [include]}}
        response = client.post("/ValueSet", json=value_set, headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text
        found[f"{url}#id"] = response.json()["id"]
    observation = {"resourceType": "Observation", "status": "final",
                   "code": {"coding": [{"system": urls["cs"], "code": "tim-mach"}]}}
    response = client.post("/Observation", json=observation, headers=FHIR_HEADERS)
    found["observation"] = response.json()["id"]
    return found


def test_a_value_set_over_a_stored_code_system_expands_and_validates(client, urls,
                                                                      departments):
    """The stored code system is complete and held here: a ValueSet over it expands like
    one over the server's own (it was 400, "not held here")."""
    expansion = client.get("/ValueSet/$expand", params={"url": departments["all"]})
    assert expansion.status_code == 200, expansion.text
    codes = {c["code"] for c in expansion.json()["expansion"]["contains"]}
    assert codes == {"noi", "tim-mach", "nhi"}  # version 2, the one stored last
    medical = client.get(f"/ValueSet/{departments[departments['medical'] + '#id']}/$expand")
    assert {c["code"] for c in medical.json()["expansion"]["contains"]} == {"noi", "tim-mach"}
    for code, result in (("tim-mach", True), ("nhi", False)):
        checked = _parameters(client.get("/ValueSet/$validate-code", params={
            "url": departments["medical"], "system": urls["cs"], "code": code}))
        assert checked["result"]["valueBoolean"] is result, code
    found = client.get("/Observation", params={"code:in": departments["medical"]}).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [departments["observation"]]


def test_a_stored_value_set_imports_another_stored_one(client, urls, departments):
    """include.valueSet "Selects the concepts found in this value set": one stored through
    the API is imported like the server's own (400 "not known to this server" before), in
    $expand, $validate-code and :in search."""
    importing = f"{urls['cs']}-nhap-{uuid.uuid4().hex[:6]}"
    value_set = {"resourceType": "ValueSet", "url": importing, "status": "active",
                 "compose": {"include": [{"valueSet": [departments["medical"]]}]}}
    assert client.post("/ValueSet", json=value_set, headers=FHIR_HEADERS).status_code == 201
    expansion = client.get("/ValueSet/$expand", params={"url": importing})
    assert expansion.status_code == 200, expansion.text
    assert [c["code"] for c in expansion.json()["expansion"]["contains"]] == ["noi", "tim-mach"]
    checked = _parameters(client.get("/ValueSet/$validate-code", params={
        "url": importing, "system": urls["cs"], "code": "nhi"}))
    assert checked["result"]["valueBoolean"] is False
    found = client.get("/Observation", params={"code:in": importing}).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [departments["observation"]]


def test_a_stored_code_system_is_found_by_the_codings_given(client, urls):
    """$subsumes' codingA/codingB and $validate-code's codeableConcept name the stored code
    system as system=/url= do (404 before)."""
    subsumes = _parameters(client.get("/CodeSystem/$subsumes", params={
        "codingA": f"{urls['cs']}|noi", "codingB": f"{urls['cs']}|tim-mach"}))
    assert subsumes["outcome"]["valueCode"] == "subsumes"
    checked = _parameters(client.post("/CodeSystem/$validate-code", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [{"name": "codeableConcept",
                                                     "valueCodeableConcept": {"coding": [
                                                         {"system": urls["cs"],
                                                          "code": "tim-mach"}]}}]}))
    assert checked["result"]["valueBoolean"] is True


def test_versions_case_and_displays_of_a_stored_code_system(client, urls):
    """A coding names the version it checks against (version 1 of the stored system has no
    'nhi'; it said 'held here: 2'); a stored system that is not case sensitive takes any
    case in a value set too; a value set's display does not make the system's wrong."""
    v1 = _parameters(client.post("/CodeSystem/$validate-code", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": {
            "system": urls["cs"], "version": "1", "code": "noi"}}]}))
    assert v1["result"]["valueBoolean"] is True
    insensitive = {"resourceType": "CodeSystem", "url": f"{urls['cs']}-ci", "status": "active",
                   "content": "complete", "caseSensitive": False,
                   "concept": [{"code": "ABC", "display": "Mã ABC"}]}
    assert client.post("/CodeSystem", json=insensitive, headers=FHIR_HEADERS).status_code == 201
    renamed = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": insensitive["url"], "concept": [{"code": "ABC", "display": "Tên khác"}]}]}}
    for code, display in (("abc", None), ("ABC", "Mã ABC"), ("ABC", "Tên khác")):
        coding = {"system": insensitive["url"], "code": code} | (
            {"display": display} if display else {})
        checked = _parameters(client.post("/ValueSet/$validate-code", headers=FHIR_HEADERS,
                                          json={"resourceType": "Parameters", "parameter": [
                                              {"name": "valueSet", "resource": renamed},
                                              {"name": "coding", "valueCoding": coding}]}))
        assert checked["result"]["valueBoolean"] is True, (code, display, checked)


def test_an_instance_named_again_must_be_itself(client, urls, departments):
    """ValueSet/[id]/$expand with another url or version names two value sets: 400 (the
    instance was expanded, the parameter ignored)."""
    path = f"/ValueSet/{departments[departments['medical'] + '#id']}/$expand"
    assert client.get(path, params={"url": departments["medical"]}).status_code == 200
    for params in ({"url": urls["vs"]}, {"valueSetVersion": "9"}):
        assert client.get(path, params=params).status_code == 400, params


def test_imports_nest_eight_value_sets_deep_and_deeper_is_too_costly(client, urls):
    """A chain of stored ValueSets importing each other expands up to 8 imports deep; one
    more is refused as too costly, saying so (it said the ninth was "not known")."""
    base = f"{urls['vs']}-chain-{uuid.uuid4().hex[:6]}"
    chain = [f"{base}-{n}" for n in range(10)]
    for n, url in enumerate(chain):
        compose = ({"include": [{"valueSet": [chain[n + 1]]}]} if n + 1 < len(chain)
                   else {"include": [{"system": GENDER, "concept": [{"code": "female"}]}]})
        response = client.post("/ValueSet", json={"resourceType": "ValueSet", "url": url,
                                                  "status": "active", "compose": compose},
                               headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text
    eight_deep = client.get("/ValueSet/$expand", params={"url": chain[1]})
    assert eight_deep.status_code == 200, eight_deep.text
    assert [c["code"] for c in eight_deep.json()["expansion"]["contains"]] == ["female"]
    nine_deep = client.get("/ValueSet/$expand", params={"url": chain[0]})
    assert nine_deep.status_code == 400, nine_deep.text
    [issue] = nine_deep.json()["issue"]
    assert issue["code"] == "too-costly" and "deeper than 8" in issue["diagnostics"], issue
