"""Composite search (http://hl7.org/fhir/R4/search.html#composite): the components of one
value must match the same repetition of the element: "searching on Group.characteristic
where you need find a combination of key/value, not an intersection of separate matches on
key and value".

Data set: Groups whose characteristics pair codes with values in different ways (gender =
female; gender = male next to caregiver-gender = female; smoker = true; gender = female
excluded), and DocumentReferences that replace or append to two base documents.
"""

import pytest
from search.helpers import GENDER, assert_bad_parameter, expected, fill, found, load, ref

CHARACTERISTICS = "http://fhir.hl7.org.vn/core/CodeSystem/group-characteristic"
PROVINCES = "http://fhir.hl7.org.vn/core/CodeSystem/province"


def _characteristic(code: str, value: dict, exclude: bool = False) -> dict:
    return {"code": {"coding": [{"system": CHARACTERISTICS, "code": code}]}, **value,
            "exclude": exclude}


def _concept(system: str, code: str, text: str | None = None) -> dict:
    concept: dict = {"coding": [{"system": system, "code": code}]}
    return {"valueCodeableConcept": concept | ({"text": text} if text else {})}


def _group(*characteristics: dict) -> dict:
    return {"resourceType": "Group", "type": "person", "actual": False,
            "characteristic": list(characteristics)}


def _document(*relations: tuple[str, str]) -> dict:
    return {"resourceType": "DocumentReference", "status": "current",
            "content": [{"attachment": {"contentType": "text/plain", "data": "SGVsbG8="}}],
            **({"relatesTo": [{"code": code, "target": ref(target)}
                              for code, target in relations]} if relations else {})}


DATA = {
    "g_female_hanoi": _group(_characteristic("gender", _concept(GENDER, "female")),
                             _characteristic("region", _concept(PROVINCES, "HN", "Hà Nội"))),
    "g_male_caregiver_female": _group(
        _characteristic("gender", _concept(GENDER, "male")),
        _characteristic("caregiver-gender", _concept(GENDER, "female"))),
    "g_smoker": _group(_characteristic("smoker", {"valueBoolean": True})),
    "g_not_female": _group(_characteristic("gender", _concept(GENDER, "female"), exclude=True)),
    "doc_a": _document(),
    "doc_b": _document(),
    "doc_x": _document(("replaces", "doc_a"), ("appends", "doc_b")),
    "doc_y": _document(("appends", "doc_a")),
}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, DATA)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"characteristic-value": "gender$female"}, {"g_female_hanoi", "g_not_female"}),
        ({"characteristic-value": f"{CHARACTERISTICS}|gender${GENDER}|female"},
         {"g_female_hanoi", "g_not_female"}),
        ({"characteristic-value": "gender$male"}, {"g_male_caregiver_female"}),
        ({"characteristic-value": "caregiver-gender$female"}, {"g_male_caregiver_female"}),
        ({"characteristic-value": "region$HN"}, {"g_female_hanoi"}),
        ({"characteristic-value": f"region${PROVINCES}|HN"}, {"g_female_hanoi"}),
        ({"characteristic-value": "region$female"}, set()),
        ({"characteristic-value": "caregiver-gender$male"}, set()),
        ({"characteristic-value": "gender$female,gender$male"},
         {"g_female_hanoi", "g_male_caregiver_female", "g_not_female"}),
        ([("characteristic-value", "gender$female"), ("characteristic-value", "region$HN")],
         {"g_female_hanoi"}),
        ({"characteristic-value": "smoker$true"}, {"g_smoker"}),
        ({"characteristic-value": "smoker$false"}, set()),
        # The separate parameters intersect per resource, not per characteristic.
        ([("characteristic", "gender"), ("value", "female")],
         {"g_female_hanoi", "g_male_caregiver_female", "g_not_female"}),
        ({"characteristic": "caregiver-gender"}, {"g_male_caregiver_female"}),
        ({"value": "true"}, {"g_smoker"}),
        ({"value": f"{PROVINCES}|HN"}, {"g_female_hanoi"}),
        ({"exclude": "true"}, {"g_not_female"}),
        ({"exclude": "false"}, {"g_female_hanoi", "g_male_caregiver_female", "g_smoker"}),
        ({"type": "person"}, {"g_female_hanoi", "g_male_caregiver_female", "g_smoker",
                              "g_not_female"}),
        ({"actual": "true"}, set()),
    ],
)
def test_group_characteristic_value_pairs_code_and_value(client, ids, params, keys):
    assert found(client, "/Group", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("replaces$DocumentReference/{doc_a}", {"doc_x"}),
        ("appends$DocumentReference/{doc_a}", {"doc_y"}),
        ("appends$DocumentReference/{doc_b}", {"doc_x"}),
        ("replaces$DocumentReference/{doc_b}", set()),
        ("transforms$DocumentReference/{doc_a}", set()),
        ("replaces$DocumentReference/{doc_a},appends$DocumentReference/{doc_a}",
         {"doc_x", "doc_y"}),
    ],
)
def test_document_relationship_pairs_relation_and_target(client, ids, value, keys):
    params = {"relationship": fill(value, ids)}
    assert found(client, "/DocumentReference", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"relatesto": "DocumentReference/{doc_a}"}, {"doc_x", "doc_y"}),
        ({"relatesto": "{doc_b}"}, {"doc_x"}),
        ({"relation": "replaces"}, {"doc_x"}),
        ({"relation": "appends"}, {"doc_x", "doc_y"}),
        ({"relatesto:missing": "true"}, {"doc_a", "doc_b"}),
    ],
)
def test_document_relationship_parts(client, ids, params, keys):
    params = {name: fill(value, ids) for name, value in params.items()}
    assert found(client, "/DocumentReference", params) == expected(ids, keys)


ESCAPES = "http://fhir.hl7.org.vn/core/CodeSystem/escapes"


@pytest.fixture(scope="module")
def escaped_ids(client) -> dict[str, str]:
    return load(client, {"obs": {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": ESCAPES, "code": "a$b"}]}, "valueString": "c, d|e"}})


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        (f"{ESCAPES}|a\\$b$c\\, d\\|e", {"obs"}),
        ("a\\$b$C\\,", {"obs"}),
        ("a\\$b$c\\, d\\|e,x$y", {"obs"}),
        ("a\\$b$d", set()),
    ],
)
def test_escaped_separators_in_each_component(client, escaped_ids, value, keys):
    """`\\$` is part of a component, and `\\,` `\\|` stay escaped until the component that
    splits by them (http://hl7.org/fhir/R4/search.html#escaping)."""
    assert found(client, "/Observation", {"code-value-string": value}) == \
        expected(escaped_ids, keys)


@pytest.mark.parametrize("value", ["a\\$b$", "a\\$b$\u0301", "a\\$b$ "])
def test_a_string_component_naming_no_text_is_a_400(client, escaped_ids, value):
    """A string part that is empty or folds to nothing (a combining mark alone) names no
    text: as a prefix it matched every string of the code, where an empty quantity or date
    part is a 400 too."""
    response = client.get("/Observation", params={"code-value-string": value})
    assert_bad_parameter(response, "code-value-string")
