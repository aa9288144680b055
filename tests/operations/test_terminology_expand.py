"""`ValueSet/$expand` over the fuller engine: imports, filters, displays in a language,
inactive and abstract flags, instance level and a POSTed ValueSet
(http://hl7.org/fhir/R4/valueset-operation-expand.html)."""


import pytest
from api.helpers import FHIR_HEADERS, created

from fhir_server.conformance.definitions import registry
from operations.terminology_data import DISEASE, all_terminology, installed, vs_url


@pytest.fixture(scope="module", autouse=True)
def terminology():
    with installed(*all_terminology()):
        yield


def contains(response) -> dict[str, dict]:
    assert response.status_code == 200, response.text
    return {c["code"]: c for c in response.json()["expansion"]["contains"]}


def test_expand_imports_and_flags(client):
    found = contains(client.get("/ValueSet/$expand", params={"url": vs_url("imported")}))
    assert set(found) == {"infection", "viral", "dengue", "bacterial", "female"}
    assert found["dengue"] == {"system": DISEASE, "version": "1.0.0", "code": "dengue",
                               "display": "Dengue fever"}
    every = contains(client.get("/ValueSet/$expand", params={"url": vs_url("all")}))
    assert every["chronic"]["abstract"] is True and every["hypertension"]["inactive"] is True
    active = contains(client.get("/ValueSet/$expand", params={"url": vs_url("all"),
                                                              "activeOnly": "true"}))
    assert "hypertension" not in active and "chronic" in active


def test_expand_in_vietnamese_and_filtered_on_the_vietnamese_display(client):
    params = {"url": vs_url("infections"), "displayLanguage": "vi"}
    vi = client.get("/ValueSet/$expand", params=params)
    assert contains(vi)["dengue"]["display"] == "Sốt xuất huyết Dengue"
    assert contains(vi)["covid"]["display"] == "COVID-19"  # no Vietnamese designation
    assert {"name": "displayLanguage", "valueCode": "vi"} in vi.json()["expansion"]["parameter"]
    filtered = client.get("/ValueSet/$expand", params={**params, "filter": "nhiem"})
    assert set(contains(filtered)) == {"infection", "viral"}
    designations = contains(client.get("/ValueSet/$expand", params={
        "url": vs_url("infections"), "includeDesignations": "true"}))
    assert designations["viral"]["designation"] == [{"language": "vi", "value": "Nhiễm virus"}]


def test_designation_names_the_languages_or_uses_wanted(client):
    """`designation` (a language as `urn:ietf:bcp:47|vi`, or a use as system|code) picks the
    designations an expansion carries; asking for one includes them."""
    def viral(*tokens: str) -> dict:
        response = client.get("/ValueSet/$expand", params=[
            ("url", vs_url("infections")), *(("designation", token) for token in tokens)])
        for token in tokens:
            assert {"name": "designation", "valueString": token} in (
                response.json()["expansion"]["parameter"])
        return contains(response)["viral"]

    vietnamese = [{"language": "vi", "value": "Nhiễm virus"}]
    assert viral("urn:ietf:bcp:47|vi")["designation"] == vietnamese
    assert viral("vi")["designation"] == vietnamese
    assert "designation" not in viral("urn:ietf:bcp:47|en")
    assert "designation" not in viral("http://snomed.info/sct|900000000000013009")
    assert viral("urn:ietf:bcp:47|en", "urn:ietf:bcp:47|vi")["designation"] == vietnamese


def test_include_definition_returns_the_value_sets_compose(client):
    url = vs_url("imported")
    plain = client.get("/ValueSet/$expand", params={"url": url}).json()
    assert "compose" not in plain
    full = client.get("/ValueSet/$expand", params={"url": url, "includeDefinition": "true"})
    assert full.status_code == 200, full.text
    assert full.json()["url"] == url
    assert full.json()["compose"] == registry().resolve(url)["compose"]
    assert {"name": "includeDefinition", "valueBoolean": True} in (
        full.json()["expansion"]["parameter"])
    assert set(contains(full)) == set(contains(client.get("/ValueSet/$expand",
                                                          params={"url": url})))


def test_expand_a_posted_value_set_and_a_stored_one(client):
    value_set = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": DISEASE, "filter": [{"property": "concept", "op": "is-a",
                                        "value": "viral"}]}]}}
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet",
                                                         "resource": value_set}]}
    posted = client.post("/ValueSet/$expand", json=body, headers=FHIR_HEADERS)
    assert set(contains(posted)) == {"viral", "dengue", "covid"}
    stored = created(client, {**value_set, "url": "http://example.vn/vs/viral"})
    by_id = client.get(f"/ValueSet/{stored['id']}/$expand", params={"count": "1"})
    assert len(contains(by_id)) == 1 and by_id.json()["expansion"]["total"] == 3
    by_post = client.post(f"/ValueSet/{stored['id']}/$expand", json={
        "resourceType": "Parameters", "parameter": [{"name": "filter", "valueString": "cov"}]},
        headers=FHIR_HEADERS)
    assert set(contains(by_post)) == {"covid"}
    assert client.get("/ValueSet/unknown-id/$expand").status_code == 404


def test_expand_refuses_what_it_cannot_expand_with_the_reason(client):
    cycle = client.get("/ValueSet/$expand", params={"url": vs_url("cycle-a")})
    assert cycle.status_code == 400 and "imports itself" in cycle.text
    loinc = client.get("/ValueSet/$expand",
                       params={"url": "http://hl7.org/fhir/ValueSet/observation-codes"})
    assert loinc.status_code == 400 and "http://loinc.org" in loinc.text
    versioned = client.get("/ValueSet/$expand", params={"url": vs_url("all"),
                                                        "valueSetVersion": "7"})
    assert versioned.status_code == 404
    wrong = client.post("/ValueSet/$expand", json={"resourceType": "Parameters", "parameter": [
        {"name": "valueSet", "resource": {"resourceType": "Patient"}}]}, headers=FHIR_HEADERS)
    assert wrong.status_code == 400
    assert client.get("/ValueSet/$expand", params={"url": vs_url("all"),
                                                   "activeOnly": "1"}).status_code == 400


@pytest.mark.parametrize("url", ["http://loinc.org/vs", "http://loinc.org/vs/LL715-4",
                                 "http://snomed.info/sct?fhir_vs",
                                 "http://snomed.info/sct?fhir_vs=isa/404684003"])
def test_an_implicit_value_set_of_a_code_system_held_without_codes_is_not_supported(client,
                                                                                    url):
    """loinc.html and snomedct.html define these value sets: they exist, and cannot be
    expanded here (not-supported, as observation-codes), not "unknown" (404)."""
    response = client.get("/ValueSet/$expand", params={"url": url})
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["code"] == "not-supported"


def test_a_page_served_shorter_than_asked_says_so(client):
    """v3-ActCode has more codes than one page serves (1,000): the parameters name the
    count served, without a count asked for and with a larger one."""
    for params in ({}, {"count": "5000"}):
        expansion = client.get("/ValueSet/$expand", params={
            "url": "http://terminology.hl7.org/ValueSet/v3-ActCode", **params}).json()["expansion"]
        used = {(p["name"], p.get("valueInteger")) for p in expansion["parameter"]}
        assert {("offset", 0), ("count", 1000)} <= used, used
        assert len(expansion["contains"]) == 1000 < expansion["total"]


ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def _display_regex(pattern: str) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": {
        "resourceType": "ValueSet", "status": "active", "compose": {"include": [
            {"system": ACT_CODE, "filter": [
                {"property": "display", "op": "regex", "value": pattern}]}]}}}]}


@pytest.mark.parametrize("pattern", ["(.|.)*Z", "(ab|a)*c", "((a|a))*b", ".*.*.*.*.*.*Z",
                                     "(a?){26}a{26}", "(a{0,16}){10}b"])
def test_a_regex_filter_that_would_backtrack_for_ever_is_answered_at_once(client, pattern):
    """Matching ActCode's long displays with `re` took hours and stopped the server (a
    check of the pattern's shape let `(a?){26}a{26}` through: 3.5 s, twice as long per
    character more). RE2 matches in linear time: the answer comes at once."""
    response = client.post("/ValueSet/$expand", json=_display_regex(pattern),
                           headers=FHIR_HEADERS, timeout=10)
    assert response.status_code == 200 and response.json()["expansion"]["total"] == 0


def test_lookup_with_language_designations_and_hierarchy(client):
    response = client.get("/CodeSystem/$lookup", params={"system": DISEASE, "code": "viral",
                                                         "displayLanguage": "vi"})
    parameters = response.json()["parameter"]
    assert {"name": "display", "valueString": "Nhiễm virus"} in parameters
    properties = [tuple(part.get("valueCode", part.get("valueString")) for part in p["part"])
                  for p in parameters if p["name"] == "property"]
    assert ("parent", "infection") in properties and ("child", "dengue") in properties
    assert client.get("/CodeSystem/$lookup", params={"system": DISEASE, "code": "measles",
                                                     "version": "2.0.0"}).status_code == 200
    assert client.get("/CodeSystem/$lookup", params={"coding": f"{DISEASE}|covid"}
                      ).status_code == 200


def test_lookup_gives_properties_in_the_type_the_code_system_gives_them(client):
    def properties(code: str, *wanted: str) -> list[dict]:
        response = client.get("/CodeSystem/$lookup", params={
            "system": DISEASE, "code": code, "property": list(wanted)})
        assert response.status_code == 200, response.text
        return [{part["name"]: part for part in p["part"]}["value"]
                for p in response.json()["parameter"] if p["name"] == "property"]

    # Before, every value came as valueString ("true" for a boolean).
    assert properties("chronic", "notSelectable") == [{"name": "value", "valueBoolean": True}]
    assert properties("diabetes", "parent", "severity") == [
        {"name": "value", "valueCode": "chronic"}, {"name": "value", "valueCode": "medium"}]
    assert properties("viral", "child") == [{"name": "value", "valueCode": "covid"},
                                            {"name": "value", "valueCode": "dengue"}]


def test_the_capability_statement_lists_the_terminology_operations(client):
    resources = {r["type"]: r for r in client.get("/metadata").json()["rest"][0]["resource"]}
    core = "http://hl7.org/fhir/OperationDefinition/"
    assert {"name": "validate-code", "definition": core + "CodeSystem-validate-code"} in \
        resources["CodeSystem"]["operation"]
    assert {"name": "validate-code", "definition": core + "ValueSet-validate-code"} in \
        resources["ValueSet"]["operation"]
    assert {"name": "translate", "definition": core + "ConceptMap-translate"} in \
        resources["ConceptMap"]["operation"]


def test_an_expansion_that_would_take_minutes_is_refused_as_too_costly(client):
    # Thousands of includes of the same code system: before, one such request held the
    # server (every other client) for minutes.
    include = {"system": ACT_CODE, "filter": [{"property": "concept", "op": "is-not-a",
                                               "value": "AMB"}]}
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": {
        "resourceType": "ValueSet", "status": "active",
        "compose": {"include": [include] * 5000}}}]}
    refused = client.post("/ValueSet/$expand", json=body, headers=FHIR_HEADERS, timeout=30)
    assert refused.status_code == 400 and "too costly" in refused.text
    # The issue code $expand names for it ("OperationOutcome with code too-costly").
    assert refused.json()["issue"][0]["code"] == "too-costly"
    # A code system not held here is not-supported (a terminology server is needed).
    snomed = client.post("/ValueSet/$expand", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": {
            "resourceType": "ValueSet", "status": "active",
            "compose": {"include": [{"system": "http://snomed.info/sct"}]}}}]})
    assert snomed.status_code == 400 and snomed.json()["issue"][0]["code"] == "not-supported"
    one = {**body, "parameter": [{"name": "valueSet", "resource": {
        "resourceType": "ValueSet", "status": "active", "compose": {"include": [include]}}}]}
    assert client.post("/ValueSet/$expand", json=one, headers=FHIR_HEADERS).status_code == 200


def test_code_system_version_parameters(client):
    """exclude-system leaves a system out; system-version is the version of a system the
    value set names without one (so a version not held cannot be expanded);
    check-system-version fails where the value set names another version."""
    marital = "http://hl7.org/fhir/ValueSet/marital-status"
    null_flavor = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
    whole = client.get("/ValueSet/$expand", params={"url": marital}).json()["expansion"]
    kept = client.get("/ValueSet/$expand", params={"url": marital,
                                                   "exclude-system": null_flavor})
    assert kept.status_code == 200, kept.text
    codes = [c["system"] for c in kept.json()["expansion"]["contains"]]
    assert null_flavor not in codes and len(codes) < whole["total"]
    assert {"name": "exclude-system", "valueUri": null_flavor} in kept.json()["expansion"][
        "parameter"]
    assert client.get("/ValueSet/$expand", params={
        "url": marital, "system-version": f"{null_flavor}|1.0"}).status_code == 400
    held = client.get("/ValueSet/$expand", params={
        "url": marital, "system-version": f"{null_flavor}|2018-08-12"})
    assert held.status_code == 200, held.text
    # marital-status names no version of NullFlavor: nothing to check against.
    assert client.get("/ValueSet/$expand", params={
        "url": marital, "check-system-version": f"{null_flavor}|1.0"}).status_code == 200
    pinned = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": null_flavor, "version": "2018-08-12", "concept": [{"code": "UNK"}]}]}}
    checked = client.post("/ValueSet/$expand", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": pinned},
            {"name": "check-system-version", "valueUri": f"{null_flavor}|1.0"}]})
    assert checked.status_code == 400, checked.text
