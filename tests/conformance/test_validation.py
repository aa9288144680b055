"""validate_resource: structure, id rule and required bindings, on the official examples and
on bodies that must be rejected with an exact location."""

import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.conformance.registry import is_supported
from fhir_server.conformance.terminology import RequiredBinding, expand
from fhir_server.conformance.validation import validate_resource
from fhir_server.errors import InvalidResource, Issue

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples"
GENDER = "http://hl7.org/fhir/ValueSet/administrative-gender"
MARITAL = "http://hl7.org/fhir/ValueSet/marital-status"
MARITAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
ENCOUNTER = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
CODE = re.compile(r"[^\s]+(\s[^\s]+)*", re.ASCII)  # http://hl7.org/fhir/R4/datatypes.html#code
# datatypes.html#string: no text holds a character below U+0020 but tab, LF and CR.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _examples() -> list[Path]:
    return sorted(
        path
        for path in EXAMPLES.glob("*.json")
        if is_supported(json.loads(path.read_text(encoding="utf-8")).get("resourceType"))
    )


def _issues(resource: dict) -> list[Issue]:
    with pytest.raises(InvalidResource) as raised:
        validate_resource(resource)
    return raised.value.issues


def _found(resource: dict) -> set[tuple[str, tuple[str, ...]]]:
    """(code, expression) of every issue raised for `resource`."""
    return {(issue.code, issue.expression) for issue in _issues(resource)}


def test_examples_are_found():
    types = {json.loads(path.read_text())["resourceType"] for path in _examples()}
    assert len(types) >= 8


@pytest.mark.parametrize("path", _examples(), ids=lambda path: path.name)
def test_official_example_is_valid(path: Path):
    resource = json.loads(path.read_text(encoding="utf-8"))
    original = copy.deepcopy(resource)
    assert validate_resource(resource) is None
    assert resource == original


REJECTED_CODES = [
    ({"resourceType": "Patient", "gender": "xx"}, "Patient.gender"),
    ({**ENCOUNTER, "status": "foo"}, "Encounter.status"),
    (
        {"resourceType": "DocumentReference", "status": "bogus",
         "content": [{"attachment": {"contentType": "text/plain"}}]},
        "DocumentReference.status",
    ),
    (
        {"resourceType": "Patient",
         "link": [{"type": "bad", "other": {"reference": "Patient/1"}}]},
        "Patient.link[0].type",
    ),
    (
        {"resourceType": "Patient", "contact": [{"name": {"family": "Le"}, "gender": "male"},
                                                {"name": {"family": "Le"}, "gender": "man"}]},
        "Patient.contact[1].gender",
    ),
    (
        {**ENCOUNTER, "statusHistory": [
            {"status": "planned", "period": {"start": "2020-01-01"}},
            {"status": "done", "period": {"start": "2020-01-02"}},
        ]},
        "Encounter.statusHistory[1].status",
    ),
    ({"resourceType": "Group", "type": "robot", "actual": True}, "Group.type"),
    ({"resourceType": "Practitioner", "gender": "Male"}, "Practitioner.gender"),
]


@pytest.mark.parametrize(
    ("resource", "expression"), REJECTED_CODES, ids=[case[1] for case in REJECTED_CODES]
)
def test_code_outside_required_value_set_is_rejected(resource: dict, expression: str):
    issues = _issues(resource)
    assert [(issue.code, issue.expression) for issue in issues] == [
        ("code-invalid", (expression,))
    ]
    assert "required value set" in issues[0].diagnostics


def test_binding_of_a_value_set_not_available_locally_is_not_checked():
    validate_resource({"resourceType": "Binary", "contentType": "application/x-made-up"})


def test_unknown_element():
    [issue] = _issues({"resourceType": "Patient", "foo": 1})
    assert (issue.code, issue.expression) == ("structure", ("Patient.foo",))
    assert issue.diagnostics == "Unknown element 'foo' at Patient"


def test_unknown_nested_element():
    assert _found({"resourceType": "Patient", "name": [{"family": "Le", "surname": "Van"}]}) == {
        ("structure", ("Patient.name[0].surname",))
    }


def test_bad_date():
    [issue] = _issues({"resourceType": "Patient", "birthDate": "2020-13-01"})
    assert (issue.code, issue.expression) == ("value", ("Patient.birthDate",))
    assert "'2020-13-01'" in issue.diagnostics


def test_missing_required_element():
    [issue] = _issues({"resourceType": "Encounter", "status": "finished"})
    assert (issue.code, issue.expression) == ("required", ("Encounter.class",))


def test_several_errors_are_all_reported():
    resource = {
        "resourceType": "Patient",
        "id": "not valid",
        "foo": True,
        "birthDate": "2020-13-01",
        "gender": "xx",
        "name": [{"family": 3}],
        "link": [{"type": "bad"}],
    }
    assert _found(resource) == {
        ("value", ("Patient.id",)),
        ("structure", ("Patient.foo",)),
        ("value", ("Patient.birthDate",)),
        ("code-invalid", ("Patient.gender",)),
        ("value", ("Patient.name[0].family",)),
        ("code-invalid", ("Patient.link[0].type",)),
        ("required", ("Patient.link[0].other",)),
    }
    assert len(_issues(resource)) == 7


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        ({"resourceType": "Patient", "active": "yes"}, "Patient.active"),
        ({"resourceType": "Patient", "active": "có"}, "Patient.active"),
        ({"resourceType": "Patient", "multipleBirthInteger": "2"}, "Patient.multipleBirthInteger"),
        ({"resourceType": "Patient", "multipleBirthInteger": 2.0}, "Patient.multipleBirthInteger"),
        ({"resourceType": "Group", "type": "person", "actual": 1}, "Group.actual"),
        ({**ENCOUNTER, "length": {"value": "1.5"}}, "Encounter.length.value"),
        (
            {"resourceType": "Patient", "name": [{"given": ["An", "Binh"], "_given": [
                None, {"extension": [{"url": "http://example.org/x", "valueBoolean": "true"}]}
            ]}]},
            "Patient.name[0]._given[1].extension[0].valueBoolean",
        ),
    ],
    ids=["boolean-yes", "boolean-co", "integer-string", "integer-float", "boolean-number",
         "decimal-string", "nested-extension"],
)
def test_primitive_of_the_wrong_json_type(resource: dict, expression: str):
    assert _found(resource) == {("value", (expression,))}
    assert len(_issues(resource)) == 1


def test_primitives_of_the_right_json_type():
    validate_resource({**ENCOUNTER, "length": {"value": 1.5}, "priority": {"coding": [
        {"code": "R", "userSelected": False}]}})
    validate_resource({"resourceType": "Patient", "multipleBirthInteger": 2, "active": True})


@pytest.mark.parametrize("bad_id", ["a b", "x" * 65, "", "a/b", 12])
def test_id_rule(bad_id):
    [issue] = _issues({"resourceType": "Patient", "id": bad_id})
    assert (issue.code, issue.expression) == ("value", ("Patient.id",))


@pytest.mark.parametrize("good_id", ["a", "x" * 64, "A-b.9"])
def test_valid_ids(good_id):
    validate_resource({"resourceType": "Patient", "id": good_id})


def test_contained_resources_are_validated():
    resource = {
        **ENCOUNTER,
        "contained": [
            {"resourceType": "Patient", "id": "p1", "gender": "xx"},
            {"resourceType": "NoSuchType", "id": "n"},
            {"resourceType": "Organization", "id": "o1", "name": "BV", "bogus": 1},
        ],
        "subject": {"reference": "#p1"},
        "serviceProvider": {"reference": "#o1"},
    }
    assert _found(resource) == {
        ("code-invalid", ("Encounter.contained[0].gender",)),
        ("structure", ("Encounter.contained[1].resourceType",)),
        ("structure", ("Encounter.contained[2].bogus",)),
    }


@pytest.mark.parametrize("resource", [{}, {"resourceType": "NoSuchType"},
                                      {"resourceType": "HumanName"}, {"resourceType": 3}])
def test_not_a_resource(resource):
    [issue] = _issues(resource)
    assert (issue.code, issue.expression) == ("structure", ("resourceType",))


def test_choice_with_two_types_is_rejected():
    assert _found({"resourceType": "Patient", "deceasedBoolean": True,
                   "deceasedDateTime": "2020"}) == {("structure", ("Patient.deceasedDateTime",))}


def test_value_set_expansion_includes_nested_concepts():
    roles = expand("http://hl7.org/fhir/ValueSet/provenance-entity-role|4.0.1")
    assert roles == {"http://hl7.org/fhir/provenance-entity-role": frozenset(
        {"derivation", "revision", "quotation", "source", "removal"})}


@pytest.mark.parametrize("url", [
    "http://hl7.org/fhir/ValueSet/mimetypes",
    "http://hl7.org/fhir/ValueSet/observation-codes",
    "http://hl7.org/fhir/ValueSet/v3-ActEncounterCode",
])
def test_value_sets_not_expandable_locally(url):
    assert expand(url) is None


@pytest.mark.parametrize("element_type", ["Coding", "CodeableConcept"])
def test_coded_binding_flags_only_codes_of_its_systems(element_type):
    allowed = expand(MARITAL)
    binding = RequiredBinding(("maritalStatus",), element_type, MARITAL, allowed,
                              frozenset().union(*allowed.values()))
    good, bad = {"system": MARITAL_SYSTEM, "code": "M"}, {"system": MARITAL_SYSTEM, "code": "ZZ"}
    other = {"system": "http://example.org/status", "code": "ZZ"}

    def problems(coding: dict) -> list[str]:
        value = {"coding": [coding]} if element_type == "CodeableConcept" else coding
        return binding.problems(value)

    assert problems(good) == []
    assert problems(other) == []
    assert len(problems(bad)) == 1
    assert "'ZZ'" in problems(bad)[0]


GENDERS = sorted(expand(GENDER)["http://hl7.org/fhir/administrative-gender"])


@given(st.sampled_from(GENDERS))
def test_any_administrative_gender_is_accepted(gender):
    validate_resource({"resourceType": "Patient", "gender": gender})


@given(st.text(max_size=20).filter(lambda text: text not in GENDERS))
def test_any_other_gender_is_rejected(text):
    # Not a code at all (empty, surrounding whitespace, a control character): an invalid
    # value before any binding.
    code = "code-invalid" if CODE.fullmatch(text) and not CONTROL.search(text) else "value"
    assert (code, ("Patient.gender",)) in _found({"resourceType": "Patient", "gender": text})
