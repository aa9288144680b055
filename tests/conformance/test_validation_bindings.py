"""Required bindings (http://hl7.org/fhir/R4/terminologies.html#required), in data types,
choice types and content references: a code of the value set's systems that it does not
hold is an error, and so is a CodeableConcept with no coding of the value set at all
(another system's only, or text only: no status a reader knows); extensible bindings are
not enforced; malformed codings are structure issues, not crashes."""

import pytest
from validation_helpers import OBSERVATION, found_of, issues_of

from fhir_server.conformance.validation import validate_resource, validation_issues


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
    [issue] = [issue for issue in issues_of(resource) if issue.severity == "error"]
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


@pytest.mark.parametrize(("coding", "expression"), [
    ({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
      "code": "BOGUS"}, "Observation.interpretation[0].coding[0].code"),
    ({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
      "version": "2018-08-12", "code": "H", "display": "High"}, None),
])
def test_a_code_its_system_does_not_define_is_a_warning(coding, expression):
    """A code system held in full (v3-ObservationInterpretation): a code it does not define
    is warned of, as the HL7 validator does (TERMINOLOGY_TX_CODE_NOTVALID), and stored."""
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "Hb"},
                   "interpretation": [{"coding": [coding]}]}
    found = [(i.severity, i.code, i.expression) for i in validation_issues(observation)]
    assert found == ([("warning", "code-invalid", (expression,))] if expression else [])


@pytest.mark.parametrize(("resource", "expression"), [
    ({**OBSERVATION, "code": {"coding": [{"system": "loinc", "code": "718-7"}]}},
     "Observation.code.coding[0].system"),
    ({"resourceType": "Patient", "identifier": [{"system": "CCCD", "value": "001090012345"}]},
     "Patient.identifier[0].system"),
    # Elements defined as "An absolute URI ..." (the HL7 validator's vs-canonical-bad).
    ({"resourceType": "ValueSet", "status": "active", "url": "ValueSet/khoa"},
     "ValueSet.url"),
    ({"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": "#khoa"}]}}, "ValueSet.compose.include[0].system"),
])
def test_a_relative_system_is_refused(resource, expression):
    """A Coding's or Identifier's system is an absolute URI (the HL7 validator's
    TERMINOLOGY_TX_SYSTEM_RELATIVE), as is what R4 defines as one; `urn:oid:` and
    `urn:uuid:` are."""
    assert found_of(resource) == {("value", expression)}
    validate_resource({**OBSERVATION, "code": {"coding": [
        {"system": "urn:oid:2.16.840.1.113883.6.1", "code": "718-7"}]}})


@pytest.mark.parametrize(("coding", "error"), [
    ({"code": "editableDropdown"}, False),
    ({"system": "http://hl7.org/fhir/questionnaire-item-control", "code": "editableDropdown"},
     True),
])
def test_an_extensible_binding_judges_a_coding_by_its_system(coding, error):
    """A Coding without a system was taken for a code of the value set's only system, an
    error naming a system the data never had (the HL7 validator's `q_val_fail`: warnings
    only); one of that system that it does not define stays an error."""
    item_control = {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl",
                    "valueCodeableConcept": {"coding": [coding]}}
    issues = validation_issues({"resourceType": "Questionnaire", "status": "draft", "item": [
        {"linkId": "1", "type": "choice", "text": "x", "extension": [item_control]}]})
    severities = {i.severity for i in issues if i.code == "code-invalid"}
    assert severities == ({"error", "warning"} if error else {"warning"}), issues
