"""Required bindings (http://hl7.org/fhir/R4/terminologies.html#required), in data types,
choice types and content references: a code of the value set's systems that it does not
hold is an error, and so is a CodeableConcept with no coding of the value set at all
(another system's only, or text only: no status a reader knows); extensible bindings are
not enforced; malformed codings are structure issues, not crashes."""

import pytest
from validation_helpers import OBSERVATION, found_of, issues_of

from fhir_server.conformance.validation import validate_resource


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        ({"resourceType": "Patient", "name": [{"use": "nick"}]}, "Patient.name[0].use"),
        ({**OBSERVATION, "valueQuantity": {"value": 1, "comparator": "~"}},
         "Observation.valueQuantity.comparator"),
        ({"resourceType": "Questionnaire", "status": "draft", "item": [
            {"linkId": "1", "type": "group", "item": [{"linkId": "2", "type": "essay"}]}]},
         "Questionnaire.item[0].item[0].type"),
        ({"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "cured"}]}}, "Condition.clinicalStatus"),
        ({"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "clinicalStatus": {
            "coding": [{"system": "http://example.org/other", "code": "active"}]}},
         "Condition.clinicalStatus"),
        ({"resourceType": "Condition", "subject": {"reference": "Patient/1"},
          "clinicalStatus": {"text": "active"}}, "Condition.clinicalStatus"),
    ],
    ids=["in-a-data-type", "in-a-choice-type", "in-a-content-reference", "codeable-concept",
         "other-system-only", "text-only"],
)
def test_required_bindings(resource, expression):
    [issue] = issues_of(resource)
    assert (issue.code, issue.expression) == ("code-invalid", (expression,))
    assert "required value set" in issue.diagnostics


def test_extensible_bindings_are_not_enforced():
    validate_resource({**OBSERVATION, "category": [{"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "x"}]}]})


def test_malformed_codings_are_structure_issues_not_crashes():
    assert found_of({"resourceType": "Condition", "subject": {"reference": "Patient/1"},
                   "clinicalStatus": {"coding": [{"system": ["x"], "code": {"a": 1}}]}}) == {
        ("structure", "Condition.clinicalStatus.coding[0].system"),
        ("value", "Condition.clinicalStatus.coding[0].code"),
        ("code-invalid", "Condition.clinicalStatus"),
    }
