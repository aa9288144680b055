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
    """code → id of a Condition with that disease code (one tag per test run)."""
    tag = uuid.uuid4().hex
    ids = {}
    for code in ("dengue", "covid", "viral", "diabetes", "hypertension"):
        condition = created(client, {
            "resourceType": "Condition", "meta": {"tag": [{"system": "urn:test", "code": tag}]},
            "code": {"coding": [{"system": DISEASE, "code": code}]},
            "subject": {"reference": "Patient/p1"}})
        ids[condition["id"]] = code
    return {"tag": tag, **ids}


def found(client, conditions, **params) -> set[str]:
    response = client.get("/Condition", params={"_tag": f"urn:test|{conditions['tag']}",
                                                 "_count": "50", **params})
    assert response.status_code == 200, response.text
    return {conditions[e["resource"]["id"]] for e in response.json().get("entry", [])}


def test_in_and_not_in_a_value_set(client, conditions):
    assert found(client, conditions, **{"code:in": vs_url("infections")}) == {
        "dengue", "covid", "viral"}
    assert found(client, conditions, **{"code:not-in": vs_url("infections")}) == {
        "diabetes", "hypertension"}
    assert found(client, conditions, **{"code:in": vs_url("imported")}) == {"dengue", "viral"}


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
