"""Profile rules on single elements (http://hl7.org/fhir/R4/profiling.html,
http://hl7.org/fhir/R4/elementdefinition.html): for each kind, a conforming instance and a
non-conforming one with the exact issue (severity, code, expression, profile, element id)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from profile_builders import build, child, registered

from fhir_server.conformance.validation import validate_resource, validation_issues
from fhir_server.errors import InvalidResource

GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
MARITAL_VS = "http://hl7.org/fhir/ValueSet/marital-status"
MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}


def _found(resource: dict, url: str) -> list[tuple]:
    return [(i.severity, i.code, i.expression[0] if i.expression else None, i.profile,
             i.element_id) for i in validation_issues(resource, [url])]


def _one(definition: dict, good: dict, bad: dict) -> tuple:
    """The issue of `bad` against the profile (a base one, such as a code its system does
    not define, aside); `good` has none."""
    with registered(definition) as [url]:
        assert _found(good, url) == []
        [found] = [issue for issue in _found(bad, url) if issue[3] == url]
        return found


def test_min_cardinality():
    profile = build("Patient", {"Patient.birthDate": {"min": 1}})
    assert _one(profile, {"resourceType": "Patient", "birthDate": "1980"},
                {"resourceType": "Patient"}) == (
        "error", "required", "Patient.birthDate", profile["url"], "Patient.birthDate")


def test_max_cardinality_and_prohibited():
    profile = build("Patient", {"Patient.name": {"max": "1"}, "Patient.photo": {"max": "0"}})
    name = {"family": "Nguyễn"}
    assert _one(profile, {"resourceType": "Patient", "name": [name]},
                {"resourceType": "Patient", "name": [name, name]}) == (
        "error", "structure", "Patient.name", profile["url"], "Patient.name")
    with registered(profile) as [url]:
        [issue] = validation_issues({"resourceType": "Patient", "photo": [{"title": "x"}]},
                                    [url])
        assert (issue.expression, issue.element_id) == (("Patient.photo",), "Patient.photo")


def test_choice_restricted_to_fewer_types():
    profile = build("Observation", {"Observation.value[x]": {"type": [{"code": "Quantity"}]}})
    assert _one(profile, {**OBSERVATION, "valueQuantity": {"value": 1}},
                {**OBSERVATION, "valueString": "1"}) == (
        "error", "structure", "Observation.valueString", profile["url"],
        "Observation.value[x]")


def test_fixed_value_is_exact():
    profile = build("Patient", added=[child("Patient.identifier", "Identifier.system",
                                            fixedUri="urn:oid:1.2.3")])
    assert _one(profile, {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.3"}]},
                {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.4"}]}) == (
        "error", "value", "Patient.identifier[0].system", profile["url"],
        "Patient.identifier.system")


def test_pattern_value_is_contained():
    pattern = {"coding": [{"system": MARITAL, "code": "M"}]}
    profile = build("Patient", {"Patient.maritalStatus": {"patternCodeableConcept": pattern}})
    good = {"coding": [{"system": "http://x", "code": "y"},
                       {"system": MARITAL, "code": "M", "display": "Married"}], "text": "m"}
    assert _one(profile, {"resourceType": "Patient", "maritalStatus": good},
                {"resourceType": "Patient", "maritalStatus": {"coding": [
                    {"system": MARITAL, "code": "S"}]}}) == (
        "error", "value", "Patient.maritalStatus", profile["url"], "Patient.maritalStatus")


def test_fixed_complex_value_allows_nothing_more():
    fixed = {"coding": [{"system": MARITAL, "code": "M"}]}
    profile = build("Patient", {"Patient.maritalStatus": {"fixedCodeableConcept": fixed}})
    assert _one(profile, {"resourceType": "Patient", "maritalStatus": fixed},
                {"resourceType": "Patient", "maritalStatus": {**fixed, "text": "M"}})[4] == (
        "Patient.maritalStatus")


def _bound(strength: str, value_set: str = MARITAL_VS) -> dict:
    return build("Patient", {"Patient.maritalStatus": {
        "binding": {"strength": strength, "valueSet": value_set}}})


def _marital(system: str | None, code: str | None = None, text: str | None = None) -> dict:
    concept: dict = {"text": text} if text else {}
    if code:
        concept["coding"] = [{"system": system, "code": code}]
    return {"resourceType": "Patient", "maritalStatus": concept}


def test_required_binding():
    profile = _bound("required")
    assert _one(profile, _marital(MARITAL, "M"), _marital("http://other", "M")) == (
        "error", "code-invalid", "Patient.maritalStatus", profile["url"],
        "Patient.maritalStatus")


def test_extensible_binding_code_of_an_included_system_is_an_error():
    profile = _bound("extensible")
    assert _one(profile, _marital(MARITAL, "M"), _marital(MARITAL, "ZZ"))[:2] == (
        "error", "code-invalid")


@pytest.mark.parametrize("other", [_marital("http://other", "Z"), _marital(None, None, "x")])
def test_extensible_binding_other_system_or_text_is_a_warning(other: dict):
    profile = _bound("extensible")
    assert _one(profile, _marital(MARITAL, "M"), other)[:2] == ("warning", "code-invalid")
    with registered(profile) as [url]:
        validate_resource(other, [url])  # a warning does not refuse


def test_preferred_binding_is_not_checked():
    with registered(_bound("preferred")) as [url]:
        assert _found(_marital("http://other", "Z"), url) == []


def test_value_set_not_expandable_is_a_warning():
    profile = _bound("required", "http://example.org/ValueSet/unknown")
    assert _one(profile, {"resourceType": "Patient"}, _marital(MARITAL, "M"))[:2] == (
        "warning", "not-supported")


def test_binding_on_a_code_and_a_quantity():
    profile = build("Patient", {"Patient.gender": {"binding": {
        "strength": "required", "valueSet": "http://hl7.org/fhir/ValueSet/gender-identity"}}})
    found = _one(profile, {"resourceType": "Patient", "gender": "male"},
                 {"resourceType": "Patient", "gender": "unknown"})
    assert found[:3] == ("error", "code-invalid", "Patient.gender")
    ucum = build("Observation", {"Observation.value[x]": {"binding": {
        "strength": "required", "valueSet": "http://hl7.org/fhir/ValueSet/age-units"}}})
    found = _one(ucum, {**OBSERVATION, "valueQuantity": {"system": "http://unitsofmeasure.org",
                                                          "code": "a"}},
                 {**OBSERVATION, "valueQuantity": {"system": "http://unitsofmeasure.org",
                                                   "code": "kg"}})
    assert found[:3] == ("error", "code-invalid", "Observation.valueQuantity")


def test_max_length():
    profile = build("Patient", added=[child("Patient.name", "HumanName.family", maxLength=5)])
    assert _one(profile, {"resourceType": "Patient", "name": [{"family": "Lê"}]},
                {"resourceType": "Patient", "name": [{"family": "Nguyễn Văn"}]}) == (
        "error", "value", "Patient.name[0].family", profile["url"], "Patient.name.family")


def test_min_and_max_value():
    profile = build("Patient", {"Patient.birthDate": {"minValueDate": "1900-01-01"},
                                "Patient.multipleBirth[x]": {"maxValueInteger": 9}})
    assert _one(profile, {"resourceType": "Patient", "birthDate": "1980-02-01"},
                {"resourceType": "Patient", "birthDate": "1899-12-31"}) == (
        "error", "value", "Patient.birthDate", profile["url"], "Patient.birthDate")
    with registered(profile) as [url]:
        assert _found({"resourceType": "Patient", "multipleBirthInteger": 10}, url)[0][2] == (
            "Patient.multipleBirthInteger")
    quantity = build("Observation", {"Observation.value[x]": {
        "minValueQuantity": {"value": 0, "unit": "kg"}}})
    assert _one(quantity, {**OBSERVATION, "valueQuantity": {"value": 3}},
                {**OBSERVATION, "valueQuantity": {"value": -1}})[2] == "Observation.valueQuantity"


def test_invariants_error_and_warning():
    profile = build("Patient", {"Patient": {"constraint": [
        {"key": "vn-1", "severity": "error", "human": "a name", "expression": "name.exists()"},
        {"key": "vn-2", "severity": "warning", "human": "a birth date",
         "expression": "birthDate.exists()"}]}})
    with registered(profile) as [url]:
        assert _found({"resourceType": "Patient", "name": [{"text": "A"}], "birthDate": "1990"},
                      url) == []
        assert sorted(_found({"resourceType": "Patient"}, url)) == [
            ("error", "invariant", "Patient", url, "Patient"),
            ("warning", "invariant", "Patient", url, "Patient"),
        ]


def test_reference_target_types():
    profile = build("Observation", {"Observation.subject": {"type": [{
        "code": "Reference",
        "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Patient"]}]}})
    contained = {**OBSERVATION, "contained": [{"resourceType": "Group", "id": "g",
                                               "type": "person", "actual": True}],
                 "subject": {"reference": "#g"}}
    found = _one(profile, {**OBSERVATION, "subject": {"reference": "Patient/1"}},
                 {**OBSERVATION, "subject": {"reference": "http://x.org/fhir/Group/1"}})
    assert found == ("error", "structure", "Observation.subject", profile["url"],
                     "Observation.subject")
    with registered(profile) as [url]:
        assert _found(contained, url)[0][2] == "Observation.subject"
        assert _found({**OBSERVATION, "subject": {"reference": "urn:uuid:1"}}, url) == []


def test_data_type_profile_of_an_element():
    address = build("Address", {"Address.city": {"min": 1}})
    with registered(address) as [address_url]:
        patient = build("Patient", {"Patient.address": {"type": [
            {"code": "Address", "profile": [address_url]}]}})
        with registered(patient) as [url]:
            assert _found({"resourceType": "Patient", "address": [{"city": "Huế"}]}, url) == []
            assert _found({"resourceType": "Patient", "address": [{"city": "Huế"},
                                                                 {"text": "x"}]}, url) == [
                ("error", "required", "Patient.address[1].city", address_url, "Address.city")]


def test_errors_refuse_with_every_issue_warnings_kept():
    profile = build("Patient", {"Patient.birthDate": {"min": 1}})
    with registered(profile) as [url], pytest.raises(InvalidResource) as raised:
        validate_resource(_marital("http://other", "Z"), [url])
    assert [(i.severity, i.element_id) for i in raised.value.issues] == [
        ("error", "Patient.birthDate"), ("warning", "Patient.maritalStatus")]


def test_unknown_profile_is_an_error_naming_it():
    [issue] = validation_issues({"resourceType": "Patient"}, ["http://example.org/nope"])
    assert (issue.severity, issue.code, issue.profile) == (
        "error", "processing", "http://example.org/nope")


def test_profile_checks_wait_for_a_structurally_valid_resource():
    profile = build("Patient", {"Patient.birthDate": {"min": 1}})
    with registered(profile) as [url]:
        issues = validation_issues({"resourceType": "Patient", "foo": 1}, [url])
    assert [(i.code, i.profile) for i in issues] == [("structure", None)]


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12))
def test_max_length_property(family: str):
    profile = build("Patient", added=[child("Patient.name", "HumanName.family", maxLength=6)])
    with registered(profile) as [url]:
        found = _found({"resourceType": "Patient", "name": [{"family": family}]}, url)
    assert (found != []) == (len(family) > 6)


def test_invariant_variables_are_typed_resources():
    """fhirpath.html#variables: %resource is the resource holding the element, %rootResource
    the container of a contained one (HL7's contained-invariant case)."""
    checks = "%context.type().name = '{0}' and %resource.type().name = '{1}' and " \
             "%rootResource.type().name = 'Patient'"
    profile = build("Patient", {
        "Patient.generalPractitioner": {"constraint": [
            {"key": "t-1", "severity": "error", "human": "in the Patient",
             "expression": checks.format("Reference", "Patient")}]},
        "Patient.contained": {"constraint": [
            {"key": "t-2", "severity": "error", "human": "contained",
             "expression": checks.format("Practitioner", "Patient")}]}})
    patient = {"resourceType": "Patient", "generalPractitioner": [{"reference": "#p"}],
               "contained": [{"resourceType": "Practitioner", "id": "p"}]}
    with registered(profile) as [url]:
        assert _found(patient, url) == []
