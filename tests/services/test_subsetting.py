"""`_summary` and `_elements` subsetting (http://hl7.org/fhir/R4/search.html#summary), on the
official R4 examples; pure, no mongod."""

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.conformance.summary import children, mandatory_keys
from fhir_server.errors import BadRequest
from fhir_server.services.subsetting import SUBSETTED, subset

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples"
EXAMPLES = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(EXAMPLES_DIR.glob("*.json"))
}
IDENTITY = {"resourceType", "id", "meta"}
MODES = [("true", None), ("text", None), ("data", None), (None, ["name", "status"])]


def example(name: str) -> dict:
    return copy.deepcopy(EXAMPLES[name])


def tags(resource: dict) -> list[dict]:
    return resource.get("meta", {}).get("tag", [])


def test_nested_backbone_elements_carry_their_own_summary_flag():
    participant = children("Encounter", "Encounter.participant")
    assert participant["individual"].summary
    assert participant["type"].summary
    assert not participant["period"].summary
    assert children("Encounter")["participant"].backbone == "Encounter.participant"


def test_a_choice_element_is_found_under_each_of_its_json_names():
    top = children("Patient")
    assert top["deceasedBoolean"] is top["deceasedDateTime"]
    assert top["deceasedBoolean"].name == "deceased"
    assert top["_birthDate"] is top["birthDate"]
    assert "_name" not in top  # HumanName is not a primitive


def test_a_content_reference_points_to_the_referenced_backbone():
    assert children("Provenance", "Provenance.entity")["agent"].backbone == "Provenance.agent"


def test_mandatory_top_level_elements():
    assert {"status", "class"} <= mandatory_keys("Encounter")
    assert mandatory_keys("Patient") == frozenset()
    assert "contentType" in mandatory_keys("Binary")


def test_summary_true_keeps_the_summary_elements_of_a_patient_unchanged():
    patient = example("Patient-example")
    result = subset(patient, "true", None)
    kept = {"identifier", "active", "name", "telecom", "gender", "birthDate", "_birthDate",
            "deceasedBoolean", "address", "managingOrganization", "resourceType", "id"}
    assert set(result) == kept | {"meta"}
    assert all(result[key] == patient[key] for key in kept)
    assert "text" not in result and "contact" not in result
    assert SUBSETTED in tags(result)


def test_summary_true_drops_communication_photo_and_extensions_but_keeps_modifiers():
    patient = example("Patient-f201")
    patient["extension"] = [{"url": "http://example.org/x", "valueString": "dropped"}]
    patient["modifierExtension"] = [{"url": "http://example.org/m", "valueBoolean": True}]
    result = subset(patient, "true", None)
    assert {"communication", "photo", "extension", "text"}.isdisjoint(result)
    assert result["modifierExtension"] == patient["modifierExtension"]
    assert result["name"] == patient["name"]


def test_summary_true_reduces_backbone_elements_to_their_summary_elements():
    encounter = example("Encounter-f001")
    encounter["participant"][0]["period"] = {"start": "2012-12-12"}
    result = subset(encounter, "true", None)
    assert result["participant"] == [
        {key: value for key, value in p.items() if key in ("type", "individual")}
        for p in encounter["participant"]
    ]
    assert {"status", "class"} <= set(result)
    assert {"hospitalization", "period", "serviceProvider", "text"}.isdisjoint(result)


def test_summary_true_leaves_out_attachment_data_and_binary_content():
    document = example("DocumentReference-example")
    document["content"][0]["attachment"]["data"] = "SGVsbG8="
    attachment = subset(document, "true", None)["content"][0]["attachment"]
    assert "data" not in attachment
    assert attachment["url"] == document["content"][0]["attachment"]["url"]
    binary = subset(example("Binary-example"), "true", None)
    assert "data" not in binary and binary["contentType"]


def test_summary_text_keeps_text_identity_and_mandatory_elements():
    encounter = example("Encounter-f001")
    result = subset(encounter, "text", None)
    assert set(result) == {"resourceType", "id", "meta", "text", "status", "class"}
    assert result["text"] == encounter["text"]
    assert SUBSETTED in tags(result)


def test_summary_data_removes_only_the_text():
    patient = example("Patient-example")
    result = subset(patient, "data", None)
    assert set(result) == set(patient) - {"text"} | {"meta"}
    assert all(result[key] == patient[key] for key in patient if key not in ("text", "meta"))
    assert SUBSETTED in tags(result)


def test_summary_data_without_text_removes_nothing_and_is_not_tagged():
    patient = example("Patient-example")
    del patient["text"]
    assert subset(patient, "data", None) == patient


@pytest.mark.parametrize("summary", [None, "false", "count"])
def test_no_subsetting_returns_an_equal_copy(summary):
    patient = example("Patient-example")
    result = subset(patient, summary, None)
    assert result == patient and result is not patient
    result["name"][0]["family"] = "changed"
    assert patient["name"][0]["family"] == "Chalmers"


def test_elements_name_keeps_name_and_identity_and_tags():
    patient = example("Patient-example")
    result = subset(patient, None, ["name"])
    assert set(result) == {"resourceType", "id", "meta", "name"}
    assert result["name"] == patient["name"]
    assert tags(result) == [SUBSETTED]


def test_elements_selects_choice_elements_and_primitive_companions():
    patient = example("Patient-example")
    result = subset(patient, None, ["deceased", "birthDate", "unknown"])
    assert set(result) == {"resourceType", "id", "meta", "deceasedBoolean", "birthDate",
                           "_birthDate"}


def test_elements_always_bring_the_mandatory_elements():
    result = subset(example("Encounter-f001"), None, ["subject"])
    assert set(result) == {"resourceType", "id", "meta", "subject", "status", "class"}


def test_summary_false_with_elements_applies_the_elements():
    assert set(subset(example("Patient-example"), "false", ["gender"])) == {
        "resourceType", "id", "meta", "gender"}


@pytest.mark.parametrize("summary", ["true", "text", "data"])
def test_summary_and_elements_together_are_refused(summary):
    with pytest.raises(BadRequest):
        subset(example("Patient-example"), summary, ["name"])


def test_existing_tags_are_kept_and_subsetted_is_not_repeated():
    patient = example("Patient-example")
    other = {"system": "http://example.org/tags", "code": "vip"}
    patient["meta"] = {"versionId": "3", "tag": [other, dict(SUBSETTED)]}
    result = subset(patient, "true", None)
    assert tags(result) == [other, SUBSETTED]
    assert result["meta"]["versionId"] == "3"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize(("summary", "elements"), MODES)
def test_the_input_is_untouched_and_subsetting_is_idempotent(name, summary, elements):
    resource = example(name)
    once = subset(resource, summary, elements)
    assert resource == EXAMPLES[name]
    assert subset(once, summary, elements) == once
    once.setdefault("meta", {}).setdefault("tag", []).append({"code": "x"})
    assert resource == EXAMPLES[name]


@given(data=st.data(), name=st.sampled_from(sorted(EXAMPLES)))
def test_elements_keep_exactly_the_requested_elements(data, name):
    resource = EXAMPLES[name]
    requested = data.draw(st.sets(st.sampled_from(sorted(resource))))
    result = subset(resource, None, sorted(requested))
    allowed = {key.removeprefix("_") for key in requested} | IDENTITY
    allowed |= mandatory_keys(resource["resourceType"])
    assert {key.removeprefix("_") for key in result} <= allowed
    assert all(result[key] == resource[key] for key in requested if key != "meta")
    assert resource == EXAMPLES[name]
