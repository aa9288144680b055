"""validate_resource, rule by rule: each rule of the StructureDefinition engine on a body
that breaks it, with the issue's code, FHIRPath expression and message."""

import json
from pathlib import Path

import pytest
from validation_helpers import EXTENSION, OBSERVATION, found_of, issues_of

from fhir_server.conformance.base_validation import MAX_DEPTH
from fhir_server.conformance.invariants import NATIVE, SKIPPED
from fhir_server.conformance.issue_lists import MAX_ISSUES
from fhir_server.conformance.validation import validate_resource

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples-all"


def _example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


# --- messages an integration engineer can act on ---------------------------------------

@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ({"resourceType": "Observation", "code": {"text": "Hb"}},
         "Missing required element Observation.status (min 1)"),
        ({"resourceType": "Patient", "name": [{"family": "Le", "foo": 1}]},
         "Unknown element 'foo' at Patient.name[0]"),
        ({"resourceType": "Patient", "birthDate": "2020-13-01"},
         "Invalid date '2020-13-01' at Patient.birthDate: expected YYYY, YYYY-MM or YYYY-MM-DD"),
    ],
)
def test_messages(resource, message):
    [issue] = issues_of(resource)
    assert issue.diagnostics == message
    assert issue.severity == "error"


# --- unknown elements, choice types, primitive `_x` objects ---------------------------

def test_unknown_element_deep_inside_a_data_type():
    assert found_of({"resourceType": "Patient", "contact": [
        {"name": {"family": "Le", "period": {"start": "2020", "until": "2021"}}}]}) == {
        ("structure", "Patient.contact[0].name.period.until")}


def test_choice_type_of_a_listed_type_is_accepted():
    validate_resource({**OBSERVATION, "valueQuantity": {"value": 12.5, "unit": "g/dL"}})
    validate_resource({**OBSERVATION, "valueDateTime": "2020-01-01T10:00:00+07:00"})


def test_choice_type_not_listed_is_unknown_and_the_message_lists_the_types():
    [issue] = issues_of({**OBSERVATION, "valueMoney": {"value": 1}})
    assert (issue.code, issue.expression) == ("structure", ("Observation.valueMoney",))
    assert "Observation.value[x] takes valueQuantity, valueCodeableConcept" in issue.diagnostics


def test_choice_type_value_is_checked_as_its_type():
    assert found_of({**OBSERVATION, "valueBoolean": "true"}) == {
        ("value", "Observation.valueBoolean")}


def test_two_types_of_one_choice():
    assert found_of({**OBSERVATION, "valueString": "a", "valueBoolean": True}) == {
        ("structure", "Observation.valueBoolean")}


def test_primitive_extension_object_holds_id_and_extensions():
    validate_resource({"resourceType": "Patient", "birthDate": "1990-01-01", "_birthDate": {
        "id": "b", "extension": [{"url": EXTENSION, "valueString": "estimated"}]}})
    # An extension alone stands for the value (http://hl7.org/fhir/R4/json.html#primitive).
    validate_resource({"resourceType": "Patient", "_birthDate": {
        "extension": [{"url": EXTENSION, "valueString": "unknown"}]}})


def test_primitive_extension_object_with_anything_else():
    assert found_of({"resourceType": "Patient", "birthDate": "1990-01-01",
                   "_birthDate": {"value": "1990"}}) == {
        ("structure", "Patient._birthDate.value")}


def test_primitive_extension_object_without_value_needs_an_extension():
    assert found_of({"resourceType": "Patient", "_birthDate": {"id": "b"}}) == {
        ("invariant", "Patient._birthDate")}


def test_underscore_of_a_non_primitive_is_unknown():
    assert found_of({"resourceType": "Patient", "_name": [{"id": "x"}]}) == {
        ("structure", "Patient._name")}


def test_arrays_of_primitives_align_with_nulls():
    validate_resource({"resourceType": "Patient", "name": [{
        "given": ["An", None, "Binh"],
        "_given": [None, {"extension": [{"url": EXTENSION, "valueString": "x"}]}, None],
    }]})


@pytest.mark.parametrize(
    ("name", "expression"),
    [
        ({"given": ["An", None]}, "Patient.name[0].given[1]"),
        ({"given": ["An", None], "_given": [None, None]}, "Patient.name[0].given[1]"),
        ({"given": ["An"], "_given": [None, None]}, "Patient.name[0]._given"),
        ({"given": ["An"], "_given": {"id": "a"}}, "Patient.name[0]._given"),
        ({"family": None}, "Patient.name[0].family"),
    ],
    ids=["null-without-extension", "both-null", "misaligned", "object-for-array", "null"],
)
def test_primitive_arrays_and_nulls(name, expression):
    assert found_of({"resourceType": "Patient", "name": [name]}) == {("structure", expression)}


# --- cardinality ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("resource", "found"),
    [
        ({"resourceType": "Patient", "gender": ["male"]}, ("structure", "Patient.gender")),
        ({"resourceType": "Patient", "name": {"family": "Le"}}, ("structure", "Patient.name")),
        ({"resourceType": "Patient", "name": []}, ("structure", "Patient.name")),
        ({"resourceType": "Patient", "managingOrganization": [{"reference": "Organization/1"}]},
         ("structure", "Patient.managingOrganization")),
        ({"resourceType": "Observation", "code": {"text": "Hb"}},
         ("required", "Observation.status")),
        ({"resourceType": "Patient", "link": [{"type": "seealso"}]},
         ("required", "Patient.link[0].other")),
        ({"resourceType": "Patient", "extension": [{"valueString": "x"}]},
         ("required", "Patient.extension[0].url")),
    ],
    ids=["array-for-max-1", "object-for-max-star", "empty-array", "array-of-objects-for-max-1",
         "min-1", "min-1-in-backbone", "min-1-in-data-type"],
)
def test_cardinality(resource, found):
    assert found_of(resource) == {found}


def test_required_element_present_only_as_an_extension():
    validate_resource({"resourceType": "Observation", "code": {"text": "Hb"}, "_status": {
        "extension": [{"url": EXTENSION, "valueString": "unknown"}]}})


def test_missing_required_choice_is_named_without_x():
    resource = _example("RiskEvidenceSynthesis-example.json")
    resource["sampleSize"] = {}
    assert ("invariant", "RiskEvidenceSynthesis.sampleSize") in found_of(resource)


# --- resource types, the id, contained resources ---------------------------------------

def test_bundle_entries_are_validated_as_their_own_types():
    assert found_of({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "gender": "x"}},
        {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Nope"}},
        {"fullUrl": "urn:uuid:3", "resource": {**OBSERVATION, "status": None}},
    ]}) == {
        ("code-invalid", "Bundle.entry[0].resource.gender"),
        ("structure", "Bundle.entry[1].resource.resourceType"),
        ("structure", "Bundle.entry[2].resource.status"),
    }


def test_parameters_resources_are_validated_as_their_own_types():
    assert found_of({"resourceType": "Parameters", "parameter": [
        {"name": "p", "resource": {"resourceType": "Patient", "foo": 1}}]}) == {
        ("structure", "Parameters.parameter[0].resource.foo")}


def test_contained_resources_contain_no_resources():
    assert found_of({"resourceType": "Patient", "contained": [
        {"resourceType": "Organization", "id": "o", "name": "BV", "contained": [
            {"resourceType": "Organization", "id": "p", "name": "Khoa"}]}],
        "managingOrganization": {"reference": "#o"}}) == {
        ("invariant", "Patient.contained[0].contained")}


def test_contained_resources_have_distinct_ids():
    """references.html#contained: `#p1` must name one resource."""
    issues = issues_of({"resourceType": "Patient", "contained": [
        {"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Trần"}]},
        {"resourceType": "Organization", "id": "p1", "name": "BV"}],
        "generalPractitioner": [{"reference": "#p1"}]})
    assert [(i.code, i.expression) for i in issues] == [
        ("structure", ("Patient.contained[1].id",))]
    assert "Patient.contained[0]" in issues[0].diagnostics


@pytest.mark.parametrize("element", ['<img src="#photo"/>', '<a href="#photo">ảnh</a>'])
def test_an_image_or_link_of_the_narrative_references_a_contained_resource(element):
    """The HL7 validator's `binary-ref-internal`: a contained Binary only the narrative shows
    was refused (dom-3)."""
    binary = {"resourceType": "Binary", "id": "photo", "contentType": "image/png",
              "data": "iVBORw0KGgo="}
    div = f'<div xmlns="http://www.w3.org/1999/xhtml"><p>Ảnh chụp X-quang</p>{element}</div>'
    validate_resource({"resourceType": "Patient", "contained": [binary],
                       "text": {"status": "generated", "div": div}})
    other = div.replace("#photo", "#other")
    assert ("invariant", "Patient.contained[0]") in found_of(
        {"resourceType": "Patient", "contained": [binary],
         "text": {"status": "generated", "div": other}})


def test_contained_resources_are_referenced_dom_3():
    organization = {"resourceType": "Organization", "id": "o", "name": "BV"}
    [issue] = issues_of({"resourceType": "Patient", "contained": [organization]})
    assert (issue.code, issue.expression) == ("invariant", ("Patient.contained[0]",))
    assert "dom-3" in issue.diagnostics
    # Referenced as a Reference, from another contained resource, as a canonical or uri.
    validate_resource({"resourceType": "Patient", "contained": [organization],
                       "managingOrganization": {"reference": "#o"}})
    validate_resource({"resourceType": "Patient", "contained": [
        organization, {"resourceType": "Practitioner", "id": "gp", "qualification": [
            {"code": {"text": "BS"}, "issuer": {"reference": "#o"}}]}],
        "generalPractitioner": [{"reference": "#gp"}]})
    value_set = {"resourceType": "ValueSet", "id": "vs", "status": "active"}
    validate_resource({"resourceType": "Questionnaire", "status": "draft",
                       "contained": [value_set], "item": [
                           {"linkId": "1", "type": "choice", "answerValueSet": "#vs"}]})
    # A contained resource that refers to its container (`#`) needs no reference to it.
    validate_resource({"resourceType": "Patient", "id": "p", "contained": [
        {"resourceType": "Observation", "id": "bmi", "status": "final",
         "code": {"text": "BMI"}, "subject": {"reference": "#"}}]})
    # Each resource of a Bundle is its own container.
    bundled = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {
            "resourceType": "Patient", "contained": [organization],
            "managingOrganization": {"reference": "#o"}}},
        {"fullUrl": "urn:uuid:2",
         "resource": {"resourceType": "Patient", "contained": [organization]}}]}
    assert found_of(bundled) == {("invariant", "Bundle.entry[1].resource.contained[0]")}


def test_resource_type_must_be_a_string():
    [issue] = issues_of({"resourceType": ["Patient"]})
    assert issue.expression == ("resourceType",)


def test_contained_must_be_a_resource():
    assert found_of({"resourceType": "Patient", "contained": [{"id": "x"}, "Patient"]}) == {
        ("structure", "Patient.contained[0].resourceType"),
        ("structure", "Patient.contained[1]"),
    }


# --- ele-1 and invariants -------------------------------------------------------------

@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        ({"resourceType": "Patient", "name": [{}]}, "Patient.name[0]"),
        ({"resourceType": "Patient", "name": [{"id": "n"}]}, "Patient.name[0]"),
        ({**OBSERVATION, "referenceRange": [{}]}, "Observation.referenceRange[0]"),
    ],
)
def test_ele_1_every_element_has_a_value_or_children(resource, expression):
    assert ("invariant", expression) in found_of(resource)


@pytest.mark.parametrize(
    ("resource", "key", "expression"),
    [
        ({**OBSERVATION, "valueString": "a", "dataAbsentReason": {"text": "x"}}, "obs-6",
         "Observation"),
        ({**OBSERVATION, "effectivePeriod": {"start": "2020-02-01", "end": "2020-01-01"}},
         "per-1", "Observation.effectivePeriod"),
        ({**OBSERVATION, "valueQuantity": {"value": 1, "code": "mg"}}, "qty-3",
         "Observation.valueQuantity"),
        ({**OBSERVATION, "referenceRange": [{"text": "x", "appliesTo": [{"text": "a"}]},
                                           {"appliesTo": [{"text": "b"}]}]}, "obs-3",
         "Observation.referenceRange[1]"),
        ({"resourceType": "Patient", "contact": [{"gender": "male"}]}, "pat-1",
         "Patient.contact[0]"),
        ({"resourceType": "Patient", "photo": [{"data": "QUJD"}]}, "att-1",
         "Patient.photo[0]"),
        ({"resourceType": "Organization", "id": "o"}, "org-1", "Organization"),
        ({"resourceType": "Appointment", "status": "booked", "start": "2020-01-01T10:00:00Z",
          "end": "2020-01-01T10:30:00Z", "cancelationReason": {"text": "x"}, "participant": [
              {"status": "accepted", "actor": {"reference": "Patient/1"}}]}, "app-4",
         "Appointment"),
        ({"resourceType": "Patient", "generalPractitioner": [{"reference": "#gp"}]}, "ref-1",
         "Patient.generalPractitioner[0].reference"),
        ({"resourceType": "Patient", "contained": [
            {"resourceType": "Organization", "id": "o", "name": "BV",
             "meta": {"versionId": "1"}}],
          "managingOrganization": {"reference": "#o"}}, "dom-4", "Patient"),
        # Nothing is not true: `repeats = true or initial.count() <= 1` without `repeats`,
        # `code.exists() or abstract = true` without `abstract`, were passed.
        ({"resourceType": "Questionnaire", "status": "active", "item": [
            {"linkId": "1", "type": "string",
             "initial": [{"valueString": "a"}, {"valueString": "b"}]}]}, "que-13",
         "Questionnaire.item[0]"),
        ({"resourceType": "ValueSet", "status": "active", "expansion": {
            "timestamp": "2024-01-01T00:00:00Z", "contains": [{"display": "x"}]}}, "vsd-9",
         "ValueSet.expansion.contains[0]"),
        # A data-type profile's invariant: SimpleQuantity's, which the snapshot of
        # referenceRange.low does not repeat.
        ({**OBSERVATION, "referenceRange": [{"low": {"value": 1, "comparator": "<",
                                                    "unit": "mg"}}]}, "sqty-1",
         "Observation.referenceRange[0].low"),
        ({"resourceType": "RiskAssessment", "status": "final", "subject": {
            "reference": "Patient/1"}, "prediction": [{"probabilityDecimal": 100.5}]}, "ras-2",
         "RiskAssessment.prediction[0]"),
    ],
)
def test_invariants(resource, key, expression):
    issues = issues_of(resource)
    assert [(i.code, i.expression) for i in issues] == [("invariant", (expression,))]
    assert key in issues[0].diagnostics


def test_local_reference_to_a_contained_resource():
    validate_resource({"resourceType": "Patient", "contained": [
        {"resourceType": "Practitioner", "id": "gp"}], "generalPractitioner": [
        {"reference": "#gp"}]})


def test_invariants_see_the_resource_of_a_bundle_entry():
    # obs-7 reads %resource: in a Bundle, that is the entry's resource.
    code = {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}
    observation = {**OBSERVATION, "code": code, "valueString": "x",
                   "component": [{"code": code, "valueString": "y"}]}
    assert found_of({"resourceType": "Bundle", "type": "collection",
                   "entry": [{"fullUrl": "urn:uuid:1", "resource": observation}]}) == {
        ("invariant", "Bundle.entry[0].resource")}


def test_native_and_skipped_invariants_are_documented():
    assert {"ele-1", "ext-1", "dom-2", "dom-3", "ref-1", "txt-1", "txt-2"} <= set(NATIVE)
    assert {"ctm-1", "que-7"} <= set(SKIPPED)
    assert all(reason for reason in {**NATIVE, **SKIPPED}.values())


# --- R4, not R4B -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["MedicinalProduct-example.json",
                                  "EffectEvidenceSynthesis-example.json",
                                  "SubstanceSpecification-example.json"])
def test_r4_only_types_are_validated(name):
    validate_resource(_example(name))
    resource = {**_example(name), "bogus": True}
    assert found_of(resource) == {("structure", f"{resource['resourceType']}.bogus")}


def test_r4_only_type_rules():
    assert found_of({"resourceType": "MedicinalProduct", "name": [{"namePart": [
        {"part": "Amoxicillin"}]}]}) == {
        ("required", "MedicinalProduct.name[0].productName"),
        ("required", "MedicinalProduct.name[0].namePart[0].type"),
    }
    assert {expression for _, expression in found_of(
        {"resourceType": "EffectEvidenceSynthesis", "status": "draft"})} == {
        "EffectEvidenceSynthesis.population", "EffectEvidenceSynthesis.exposure",
        "EffectEvidenceSynthesis.exposureAlternative", "EffectEvidenceSynthesis.outcome"}


def test_where_r4_and_r4b_differ_r4_wins():
    # R4 Evidence needs exposureBackground; R4B replaced it with variableDefinition.
    validate_resource(_example("Evidence-example.json"))
    assert found_of({"resourceType": "Evidence", "status": "draft", "variableDefinition": [
        {"variableRole": {"text": "population"}}]}) == {
        ("structure", "Evidence.variableDefinition"),
        ("required", "Evidence.exposureBackground"),
    }


# --- hostile input --------------------------------------------------------------------

def test_deep_nesting_is_bounded_not_a_recursion_error():
    item = {"linkId": "leaf", "type": "display"}
    for level in range(5000):
        item = {"linkId": str(level), "type": "group", "item": [item]}
    issues = issues_of({"resourceType": "Questionnaire", "status": "draft", "item": [item]})
    assert [issue.code for issue in issues] == ["structure"]
    assert f"deeper than {MAX_DEPTH}" in issues[0].diagnostics


def test_huge_arrays_give_a_bounded_outcome():
    """20,000 errors: the walk keeps the first 1,000 and stops there (a million made a
    million issues, in two languages: 700 MB for a 12 MB body); the outcome lists 100, says
    how many more were kept, and that the rest was not checked."""
    names = [{"family": "Le"}, {"family": 1}] * 20_000
    issues = issues_of({"resourceType": "Patient", "name": names})
    assert len(issues) == MAX_ISSUES + 2
    assert issues[MAX_ISSUES - 1].expression == (f"Patient.name[{2 * MAX_ISSUES - 1}].family",)
    assert issues[-2].diagnostics == f"... and {1000 - MAX_ISSUES} more issues"
    assert issues[-1].diagnostics.startswith("Validation stopped after 1000 errors")


def test_warnings_beyond_the_bound_are_counted_and_errors_still_found():
    """Many warnings do not stop the walk: an error after them is still found."""
    unknown = {"url": "http://example.org/x", "valueString": "x"}
    patient = {"resourceType": "Patient",
               "modifierExtension": [unknown] * 1500, "birthDate": "1990-13-01"}
    issues = issues_of(patient)
    assert issues[0].expression == ("Patient.birthDate",)
    assert issues[-1].diagnostics == "... and 501 more warnings and notes, not kept"


def test_deeply_nested_json_values_are_shown_without_recursion():
    value: object = []
    for _ in range(10_000):
        value = [value]
    assert found_of({"resourceType": "Patient", "name": [value]}) == {
        ("structure", "Patient.name[0]")}
