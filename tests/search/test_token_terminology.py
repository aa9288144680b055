"""Token search modifiers over the terminology (http://hl7.org/fhir/R4/search.html#token):
`:in`/`:not-in` a ValueSet expansion, `:below`/`:above` in a code system's hierarchy."""

import uuid

import pytest
from api.helpers import created
from operations.terminology_data import DISEASE, all_terminology, installed, vs_url


@pytest.fixture(scope="module", autouse=True)
def terminology():
    with installed(*all_terminology()):
        yield


@pytest.fixture(scope="module")
def conditions(client) -> dict[str, str]:
    """label → id of a Condition with that disease code (one tag per test run); "no system"
    has the code dengue in a Coding without a system."""
    tag = uuid.uuid4().hex
    codings = {code: {"system": DISEASE, "code": code}
               for code in ("dengue", "covid", "viral", "diabetes", "hypertension")}
    ids = {}
    for label, coding in (codings | {"no system": {"code": "dengue"}}).items():
        condition = created(client, {
            "resourceType": "Condition", "meta": {"tag": [{"system": "urn:test", "code": tag}]},
            "code": {"coding": [coding]}, "subject": {"reference": "Patient/p1"}})
        ids[condition["id"]] = label
    return {"tag": tag, **ids}


def found(client, conditions, **params) -> set[str]:
    response = client.get("/Condition", params={"_tag": f"urn:test|{conditions['tag']}",
                                                 "_count": "50", **params})
    assert response.status_code == 200, response.text
    return {conditions[e["resource"]["id"]] for e in response.json().get("entry", [])}


def test_in_and_not_in_a_value_set(client, conditions):
    assert found(client, conditions, **{"code:in": vs_url("infections")}) == {
        "dengue", "covid", "viral"}
    # A Coding without a system is in no ValueSet, whatever its code.
    assert found(client, conditions, **{"code:not-in": vs_url("infections")}) == {
        "diabetes", "hypertension", "no system"}
    assert found(client, conditions, **{"code:in": vs_url("imported")}) == {"dengue", "viral"}


def test_in_finds_an_element_of_type_code_by_its_code(client):
    """`ConceptMap.group.element.code` is a `code` with its system elsewhere
    (`group.source`): its codes are in a ValueSet by the code alone."""
    concept_map = created(client, {
        "resourceType": "ConceptMap", "status": "draft", "url": f"urn:uuid:{uuid.uuid4()}",
        "group": [{"source": DISEASE, "element": [{"code": "dengue", "target": [
            {"code": "A90", "equivalence": "equivalent"}]}]}]})
    for modifier, wanted in (("in", True), ("not-in", False)):
        response = client.get("/ConceptMap", params={
            f"source-code:{modifier}": vs_url("infections"), "url": concept_map["url"]})
        assert response.status_code == 200, response.text
        assert bool(response.json().get("entry")) is wanted, modifier


def test_below_and_above_in_the_hierarchy(client, conditions):
    assert found(client, conditions, **{"code:below": f"{DISEASE}|viral"}) == {
        "viral", "dengue", "covid"}
    assert found(client, conditions, **{"code:below": f"{DISEASE}|chronic"}) == {
        "diabetes", "hypertension"}
    assert found(client, conditions, **{"code:above": f"{DISEASE}|dengue"}) == {
        "dengue", "viral"}


@pytest.mark.parametrize(("modifier", "value", "says"), [
    ("in", vs_url("snomed"), "not-present"),
    ("in", "http://x.vn/vs", "not known"),
    ("not-in", vs_url("cycle-a"), "imports itself"),
    ("below", "http://x.vn/cs|a", "not known"),
    ("below", f"{DISEASE}|zika", "is not a code"),
    # SNOMED CT is held without its codes: a real concept, whose descendants are unknown.
    ("below", "http://snomed.info/sct|27113001", "content 'not-present'"),
    ("above", "dengue", "system|code"),
])
def test_what_cannot_be_evaluated_is_400(client, modifier, value, says):
    response = client.get("/Condition", params={f"code:{modifier}": value})
    assert response.status_code == 400
    assert says in response.json()["issue"][0]["diagnostics"]


@pytest.fixture(scope="module")
def hospital_codes(client) -> tuple[str, dict[str, str]]:
    """A hospital's own CodeSystem, stored through the API (the server holds no definition
    of it), and a Condition for each of its codes."""
    system = f"http://benhvien.example.vn/fhir/CodeSystem/benh-{uuid.uuid4().hex[:8]}"
    created(client, {"resourceType": "CodeSystem", "url": system, "status": "active",
                     "content": "complete", "concept": [
                         {"code": "truyen-nhiem", "concept": [
                             {"code": "sot-xuat-huyet"}, {"code": "cum"}]},
                         {"code": "man-tinh", "concept": [{"code": "tieu-duong"}]}]})
    ids = {created(client, {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                            "code": {"coding": [{"system": system, "code": code}]}})["id"]: code
           for code in ("truyen-nhiem", "sot-xuat-huyet", "cum", "tieu-duong")}
    return system, ids


def test_below_and_above_in_a_code_system_stored_through_the_api(client, hospital_codes):
    system, ids = hospital_codes

    def codes(**params) -> set[str]:
        response = client.get("/Condition", params={**params, "_count": "50"})
        assert response.status_code == 200, response.text
        return {ids[e["resource"]["id"]] for e in response.json().get("entry", [])}

    assert codes(**{"code:below": f"{system}|truyen-nhiem"}) == {
        "truyen-nhiem", "sot-xuat-huyet", "cum"}
    assert codes(**{"code:above": f"{system}|cum"}) == {"truyen-nhiem", "cum"}


def test_below_on_a_mime_type_finds_its_subtypes_and_parameters(client):
    """search.html#mimetypes: `contenttype:below=text/xml` finds `text/xml` with any
    parameters (`; charset=UTF-8`); `text` every text type. The plain search matches the
    code as written."""
    tag = uuid.uuid4().hex
    ids = {created(client, {
        "resourceType": "DocumentReference", "status": "current",
        "meta": {"tag": [{"system": "urn:test", "code": tag}]},
        "content": [{"attachment": {"contentType": kind, "url": "http://x.vn/d"}}]})["id"]: kind
        for kind in ("text/xml; charset=UTF-8", "text/xml", "text/xml-external-parsed-entity",
                     "text/plain", "application/xml")}

    def kinds(name: str, value: str) -> set[str]:
        response = client.get("/DocumentReference", params={"_tag": f"urn:test|{tag}",
                                                            name: value})
        assert response.status_code == 200, response.text
        return {ids[e["resource"]["id"]] for e in response.json().get("entry", [])}

    assert kinds("contenttype:below", "text/xml") == {"text/xml; charset=UTF-8", "text/xml"}
    assert kinds("contenttype:below", "text") == {"text/xml; charset=UTF-8", "text/xml",
                                                  "text/xml-external-parsed-entity",
                                                  "text/plain"}
    assert kinds("contenttype", "text/xml") == {"text/xml"}
