"""The Ministry of Health's VN Core profiles (shipped package hl7.fhir.vn.core, snapshots
generated from its differentials): their own constraints on Patient, Encounter, Condition
and Observation, each with a conforming and a non-conforming instance."""

import copy

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome

from fhir_server.conformance.validation import validation_issues

VN = "http://fhir.ehealth.gov.vn/core/StructureDefinition/"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"

PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"use": "official", "system": "http://fhir.ehealth.gov.vn/core/sid/national_id",
                    "type": {"coding": [{"system": V2_0203, "code": "NI",
                                         "display": "National unique individual identifier"}]},
                    "value": "001085012345"}],
    "name": [{"text": "Nguyễn Văn An", "family": "Nguyễn", "given": ["Văn", "An"]}],
    "gender": "male", "birthDate": "1985-03-12",
}
ENCOUNTER = {
    "resourceType": "Encounter", "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
              "display": "ambulatory"},
    "subject": {"reference": "Patient/p1"},
    "diagnosis": [{"condition": {"reference": "Condition/c1"},
                   "use": {"coding": [{"system": ROLE, "code": "CC",
                                       "display": "Chief complaint"}],
                           "text": "Chief complaint"}}],
}
CONDITION = {
    "resourceType": "Condition",
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                              "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}],
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9"}]},
    "subject": {"reference": "Patient/p1"},
    "encounter": {"reference": "Encounter/e1"},
}
BIRTH_WEIGHT = {
    "resourceType": "Observation", "status": "final",
    # The profile's pattern names a ValueSet URL as the system: the instance follows it.
    "category": [{"coding": [{"system": "http://hl7.org/fhir/ValueSet/observation-category",
                              "code": "survey", "display": "Survey"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8339-4",
                         "display": "Birth weight Measured"}]},
    "subject": {"reference": "Patient/p1"},
    "valueQuantity": {"value": 3200, "unit": "g", "system": "http://unitsofmeasure.org",
                      "code": "g"},
}


def _errors(resource: dict, profile: str) -> list:
    return [i for i in validation_issues(resource, (VN + profile,)) if i.severity == "error"]


@pytest.mark.parametrize(("resource", "profile"), [
    (PATIENT, "vn-core-patient"),
    (ENCOUNTER, "vn-core-encounter"),
    (CONDITION, "vn-core-condition-encounter-diagnosis"),
    (BIRTH_WEIGHT, "observation-birth-weight"),
])
def test_conforming_instances_have_no_error(resource, profile):
    assert _errors(resource, profile) == []


def _broken(resource: dict, change) -> dict:
    copied = copy.deepcopy(resource)
    change(copied)
    return copied


def test_patient_name_text_is_required():
    [error] = _errors(_broken(PATIENT, lambda p: p["name"][0].pop("text")), "vn-core-patient")
    assert error.expression == ("Patient.name[0].text",)
    assert (error.profile, error.element_id) == (VN + "vn-core-patient", "Patient.name.text")


def test_patient_cccd_slice_fixes_use():
    patient = _broken(PATIENT, lambda p: p["identifier"][0].update(use="usual"))
    [error] = _errors(patient, "vn-core-patient")
    assert error.expression == ("Patient.identifier[0].use",)
    assert error.element_id == "Patient.identifier:TheCCCD.use"


def test_encounter_needs_its_chief_complaint_diagnosis():
    encounter = _broken(ENCOUNTER, lambda e: e["diagnosis"][0]["use"].update(
        coding=[{"system": ROLE, "code": "DD", "display": "Discharge diagnosis"}],
        text="Discharge diagnosis"))
    errors = _errors(encounter, "vn-core-encounter")
    assert [e.element_id for e in errors] == ["Encounter.diagnosis:ChiefComplaint_CDBenhChinh"]
    assert errors[0].code == "required"


def test_diagnoses_are_assigned_to_slices_by_the_discriminator_alone():
    """Sliced by use.coding.system and .code: two chief complaints with a rank and no
    display are that slice's (profiling.html#discriminator), which then finds them too
    many, ranked, and unlike its pattern; not "no chief complaint"."""
    diagnosis = {"condition": {"reference": "Condition/c1"}, "rank": 1,
                 "use": {"coding": [{"system": ROLE, "code": "CC"}]}}
    encounter = {**ENCOUNTER, "diagnosis": [diagnosis, diagnosis]}
    found = {(e.code, e.element_id.rpartition(":")[2], e.expression[0])
             for e in _errors(encounter, "vn-core-encounter")}
    assert found == {
        ("structure", "ChiefComplaint_CDBenhChinh", "Encounter.diagnosis"),
        *(("structure", "ChiefComplaint_CDBenhChinh.rank", f"Encounter.diagnosis[{i}].rank")
          for i in (0, 1)),
        *(("value", "ChiefComplaint_CDBenhChinh.use", f"Encounter.diagnosis[{i}].use")
          for i in (0, 1)),
    }


def test_encounter_without_any_diagnosis_lacks_its_chief_complaint():
    """The slice is 1..1 on an optional element: absent, it is still required."""
    errors = _errors(_broken(ENCOUNTER, lambda e: e.pop("diagnosis")), "vn-core-encounter")
    assert [(e.element_id, e.code) for e in errors] == [
        ("Encounter.diagnosis:ChiefComplaint_CDBenhChinh", "required")]


MEDICATION_REQUEST = {
    "resourceType": "MedicationRequest", "status": "active", "intent": "order",
    "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
    "requester": {"reference": "Practitioner/d1"},
    "performer": {"reference": "Organization/o1"},
}


@pytest.mark.parametrize("medication", [
    {"medicationReference": {"reference": "Medication/m1"}},
    {"medicationCodeableConcept": {"text": "Paracetamol 500 mg"}},
], ids=["reference", "codeable-concept"])
def test_medication_request_type_slices_take_either_type(medication):
    """medication[x] is 0..1 of one type, sliced by type with no min: each slice is optional
    (as the IG Publisher's snapshots make it), or no prescription could conform."""
    assert _errors({**MEDICATION_REQUEST, **medication}, "vn-core-medication-request") == []


def test_condition_needs_its_encounter_and_fixed_category():
    errors = _errors(_broken(CONDITION, lambda c: c.pop("encounter")),
                     "vn-core-condition-encounter-diagnosis")
    assert [e.expression for e in errors] == [("Condition.encounter",)]
    wrong = _broken(CONDITION, lambda c: c["category"][0]["coding"][0].update(
        code="problem-list-item", display="Problem List Item"))
    [error] = _errors(wrong, "vn-core-condition-encounter-diagnosis")
    assert error.element_id == "Condition.category" and error.code == "value"


def test_a_target_profile_of_the_base_type_is_the_profile_rule():
    """`Condition.encounter` is `Reference(Encounter)` in R4 and `Reference(vn-core-encounter)`
    in the profile: a reference to a Patient is the profile's error, not only the base's
    warning."""
    wrong = _broken(CONDITION, lambda c: c.update(encounter={"reference": "Patient/p1"}))
    [error] = _errors(wrong, "vn-core-condition-encounter-diagnosis")
    assert error.expression == ("Condition.encounter",) and error.code == "structure"
    assert error.profile == VN + "vn-core-condition-encounter-diagnosis"
    assert "allows only Encounter" in error.diagnostics


def test_birth_weight_fixes_status_and_value_type():
    preliminary = _broken(BIRTH_WEIGHT, lambda o: o.update(status="preliminary"))
    [error] = _errors(preliminary, "observation-birth-weight")
    assert error.expression == ("Observation.status",)
    as_text = _broken(BIRTH_WEIGHT, lambda o: (o.pop("valueQuantity"),
                                               o.update(valueString="3,2 kg")))
    assert any(e.element_id == "Observation.value[x]" for e in
               _errors(as_text, "observation-birth-weight"))


def test_a_slice_without_a_discriminator_takes_the_values_its_pattern_matches():
    """`Observation.code.coding:requireCoding` (a patternCoding, LOINC 8339-4) is a slice of
    no declared slicing: an adult's body weight (29463-7) passed as a birth weight, with a
    warning that the slices were not checked (probe BG)."""
    adult = _broken(BIRTH_WEIGHT, lambda o: o.update(code={"coding": [
        {"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]}))
    errors = _errors(adult, "observation-birth-weight")
    assert [e.expression for e in errors] == [("Observation.code.coding",)], errors
    assert "requireCoding" in errors[0].diagnostics


def test_a_broken_vn_core_profile_is_an_error_naming_why():
    [error] = _errors(BIRTH_WEIGHT, "observation-hepatitisB-virus-status")
    assert error.code == "processing"
    assert "valueCodeableConcept" in error.diagnostics


@pytest.mark.parametrize("system", ["http://benhvien.vn/ma-benh",
                                    "http://terminology.hl7.org/CodeSystem/icd10"])
def test_a_diagnosis_code_of_a_system_the_required_value_set_lacks_is_an_error(system):
    """`Condition.code:conditionCode`, the one slice of a single-valued element that declares
    no slicing, binds the diagnosis (MA_BENH) to vn-core-condition-code, ICD-10 or SNOMED CT:
    neither can be expanded here, but a code of another system is outside it all the same."""
    local = _broken(CONDITION, lambda c: c["code"]["coding"][0].update(system=system,
                                                                       code="THA"))
    [error] = _errors(local, "vn-core-condition-encounter-diagnosis")
    assert error.expression == ("Condition.code",) and error.code == "code-invalid"
    assert "takes codes of http://hl7.org/fhir/sid/icd-10, http://snomed.info/sct only" in (
        error.diagnostics)
    assert _errors(CONDITION, "vn-core-condition-encounter-diagnosis") == []


@pytest.mark.parametrize("code", [
    {"text": "Tăng huyết áp"},
    {"coding": [{"code": "I10"}]},
    {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10"}], "text": "Tăng huyết áp"},
], ids=["text-only", "no-system", "no-code"])
def test_a_diagnosis_without_a_code_of_the_value_set_is_an_error(code):
    """A required binding "SHALL be from the specified value set": text alone, or a coding
    without a system or a code, is none of its codes."""
    [error] = _errors(_broken(CONDITION, lambda c: c.update(code=code)),
                      "vn-core-condition-encounter-diagnosis")
    assert error.expression == ("Condition.code",) and error.code == "code-invalid"


def _diagnosis(code: str) -> dict:
    return _broken(CONDITION, lambda c: c["code"]["coding"][0].update(code=code))


@pytest.mark.parametrize("code", ["XYZ", "ung thư", "J18.9.9.9", "Z99.999"])
def test_a_diagnosis_that_cannot_be_an_icd_10_code_is_an_error(code):
    """vn-core-condition-code takes the whole of ICD-10, which is not held here: a code of
    it is not checked (a warning), but one without ICD-10's syntax is in no ICD-10, so not
    in the required value set (terminologies.html#required: "SHALL be one of the codes")."""
    [error] = _errors(_diagnosis(code), "vn-core-condition-encounter-diagnosis")
    assert error.expression == ("Condition.code",) and error.code == "code-invalid"
    assert f"'{code}' is not a code of ICD-10" in error.diagnostics


@pytest.mark.parametrize("code", ["A00", "J18.9", "U07.1", "S72.00", "M25.56", "W01.01"])
def test_a_diagnosis_of_icd_10_syntax_is_only_warned_of_as_not_checked(code):
    """Categories, subcategories and the fifth characters of WHO ICD-10 (sites in chapter
    XIII, open or closed fractures in XIX, activities in XX), as Vietnam codes them."""
    issues = validation_issues(_diagnosis(code), (VN + "vn-core-condition-encounter-diagnosis",))
    assert [(i.severity, i.expression) for i in issues if i.expression == ("Condition.code",)
            ] == [("warning", ("Condition.code",))]
    assert not [i for i in issues if i.severity == "error"]


def test_a_condition_claiming_the_profile_with_no_icd_10_code_is_not_stored(client):
    """Through a write, MA_BENH `XYZ` is refused (422) where J18.9 is stored."""
    claimed = _broken(CONDITION, lambda c: c.update(
        meta={"profile": [VN + "vn-core-condition-encounter-diagnosis"]}))
    refused = client.post("/Condition", json=_broken(
        claimed, lambda c: c["code"]["coding"][0].update(code="XYZ")), headers=FHIR_HEADERS)
    assert refused.status_code == 422, refused.text
    assert "'XYZ' is not a code of ICD-10" in assert_outcome(refused, 422)["issue"][0][
        "diagnostics"]
    assert client.post("/Condition", json=claimed, headers=FHIR_HEADERS).status_code == 201
