"""Displays of codes whose code system the server holds in full: a display that is none of
the code's (its own, or a designation in any language) is a warning, as the HL7 validator
gives it; the write is not refused for a wrong name of a right code."""

import pytest

from fhir_server.conformance.validation import validation_issues

MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
ADDRESS_UNITS = "http://fhir.ehealth.gov.vn/core/CodeSystem/vn-core-administrative-address"


@pytest.mark.parametrize(("coding", "warned"), [
    ({"system": MARITAL, "code": "M", "display": "Married"}, False),
    ({"system": MARITAL, "code": "M", "display": "  MARRIED "}, False),  # case and spaces
    ({"system": MARITAL, "code": "M", "display": "Divorced"}, True),
    ({"system": MARITAL, "code": "M"}, False),
    ({"system": "http://example.org/local", "code": "M", "display": "x"}, False),  # not held
    ({"system": ADDRESS_UNITS, "code": "79", "display": "Thành phố Hồ Chí Minh"}, False),
    ({"system": ADDRESS_UNITS, "code": "79", "display": "Thành phố Hà Nội"}, True),
])
def test_a_wrong_display_of_a_held_code_is_a_warning(coding, warned):
    issues = validation_issues({"resourceType": "Basic", "code": {"coding": [coding]}})
    assert [(i.severity, i.message_id, i.expression) for i in issues] == (
        [("warning", "wrong-display", ("Basic.code.coding[0].display",))] if warned else [])


@pytest.mark.parametrize(("system", "found"), [
    ("http://hl7.org/fhir/ValueSet/marital-status", "warning"),  # the value set of MARITAL
    ("http://hl7.org/fhir/ValueSet/administrative-gender", "warning"),
    (MARITAL, None), ("http://loinc.org", None), ("http://example.org/local", None),
])
def test_a_value_set_named_as_a_codings_system_is_a_warning(system, found):
    """The HL7 validator's Terminology_TX_System_ValueSet: a common mistake, which passed
    silently (a warning: VN Core's Observation profiles require one in `category`)."""
    issues = validation_issues({"resourceType": "Basic", "code": {"coding": [
        {"system": system, "code": "M"}]}})
    assert [(i.severity, i.message_id, i.expression) for i in issues] == (
        [(found, "system-is-value-set", ("Basic.code.coding[0].system",))] if found else [])

