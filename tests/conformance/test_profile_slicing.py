"""Slicing (http://hl7.org/fhir/R4/profiling.html#slicing): values assigned to slices by each
kind of discriminator, the rules open/closed/openAtEnd, ordered slices, slice cardinality and
rules, extension slices told apart by url, and profiles whose slicing is in error."""

import copy
import json
from pathlib import Path

import pytest
from profile_builders import build, child, registered, slice_of

from fhir_server.conformance.validation import validation_issues

CCCD = "http://fhir.ehealth.gov.vn/core/sid/citizen_id"
BHYT = "http://fhir.ehealth.gov.vn/core/sid/insurance_number"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}


def _identifiers(rules: str = "open", ordered: bool = False,
                 discriminators: tuple = (("value", "system"),)) -> dict:
    slicing = {"discriminator": [{"type": t, "path": p} for t, p in discriminators],
               "rules": rules, "ordered": ordered}
    return build("Patient", {"Patient.identifier": {"slicing": slicing}}, added=[
        slice_of("Patient.identifier", "cccd", min=1, max="1"),
        child("Patient.identifier:cccd", "Identifier.system", min=1, fixedUri=CCCD),
        child("Patient.identifier:cccd", "Identifier.value", min=1),
        slice_of("Patient.identifier", "bhyt", min=0, max="1"),
        child("Patient.identifier:bhyt", "Identifier.system", min=1, fixedUri=BHYT),
    ])


def _patient(*systems: str, value: str | None = "001") -> dict:
    return {"resourceType": "Patient", "identifier": [
        {"system": system, **({"value": value} if value else {})} for system in systems]}


def _found(resource: dict, profile: dict) -> list[tuple]:
    with registered(profile) as [url]:
        issues = validation_issues(resource, [url])
    assert all(issue.profile == url for issue in issues)
    return [(i.severity, i.code, i.expression[0], i.element_id) for i in issues]


@pytest.mark.parametrize("rules", ["open", "closed", "openAtEnd"])
def test_values_of_the_slices_conform(rules: str):
    assert _found(_patient(CCCD, BHYT), _identifiers(rules)) == []


def test_open_slicing_takes_other_values():
    assert _found(_patient("urn:other", CCCD), _identifiers("open")) == []


def test_closed_slicing_refuses_other_values():
    assert _found(_patient(CCCD, "urn:other"), _identifiers("closed")) == [
        ("error", "structure", "Patient.identifier[1]", "Patient.identifier")]


def test_open_at_end_takes_other_values_last():
    assert _found(_patient(CCCD, "urn:other"), _identifiers("openAtEnd")) == []
    assert _found(_patient("urn:other", CCCD), _identifiers("openAtEnd")) == [
        ("error", "structure", "Patient.identifier[0]", "Patient.identifier")]


def test_ordered_slices():
    assert _found(_patient(CCCD, BHYT), _identifiers(ordered=True)) == []
    assert _found(_patient(BHYT, CCCD), _identifiers(ordered=True)) == [
        ("error", "structure", "Patient.identifier[1]", "Patient.identifier:cccd")]
    assert _found(_patient(BHYT, CCCD), _identifiers(ordered=False)) == []


def test_slice_cardinality():
    assert _found(_patient(BHYT), _identifiers()) == [
        ("error", "required", "Patient.identifier", "Patient.identifier:cccd")]
    assert _found(_patient(CCCD, CCCD), _identifiers()) == [
        ("error", "structure", "Patient.identifier", "Patient.identifier:cccd")]


def test_rules_of_a_slice_apply_to_its_values_only():
    assert _found(_patient(CCCD, value=None), _identifiers()) == [
        ("error", "required", "Patient.identifier[0].value", "Patient.identifier:cccd.value")]
    assert _found({"resourceType": "Patient", "identifier": [
        {"system": CCCD, "value": "1"}, {"system": BHYT}]}, _identifiers()) == []


def test_value_discriminator_without_a_value_is_a_profile_error():
    """VN Core's flaw: sliced by system and value, slices fix only the system."""
    found = _found(_patient(BHYT), _identifiers(discriminators=(("value", "system"),
                                                                 ("value", "value"))))
    assert sorted(found) == [
        ("error", "required", "Patient.identifier", "Patient.identifier:cccd"),
        ("warning", "processing", "Patient.identifier", "Patient.identifier"),
        ("warning", "processing", "Patient.identifier", "Patient.identifier"),
    ]  # the cccd slice, still told apart by system, is missing; one warning per slice


def test_a_discriminator_path_the_slices_lack_and_resolve_are_reported():
    for discriminators, code in ((("value", "nothing"),), "processing"), (
            (("profile", "assigner.resolve()"),), "not-supported"):
        found = _found(_patient(CCCD), _identifiers(discriminators=discriminators))
        assert ("warning", code, "Patient.identifier", "Patient.identifier") in found
        assert all(severity == "warning" for severity, *_ in found)


def test_pattern_discriminator():
    category = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                            "observation-category", "code": "laboratory"}]}
    profile = build("Observation", {"Observation.category": {"slicing": {
        "discriminator": [{"type": "pattern", "path": "$this"}], "rules": "open"}}},
        added=[slice_of("Observation.category", "lab", min=1, max="1",
                        patternCodeableConcept=category)])
    assert _found({**OBSERVATION, "category": [{"text": "x"}, category]}, profile) == []
    assert _found({**OBSERVATION, "category": [{"text": "x"}]}, profile) == [
        ("error", "required", "Observation.category", "Observation.category:lab")]


def test_type_discriminator_on_a_choice():
    profile = build("Observation", {"Observation.value[x]": {"slicing": {
        "discriminator": [{"type": "type", "path": "$this"}], "rules": "closed"}}},
        added=[slice_of("Observation.value[x]", "valueString", type=[{"code": "string"}],
                        maxLength=3)])
    assert _found({**OBSERVATION, "valueString": "abc"}, profile) == []
    assert _found({**OBSERVATION, "valueString": "abcd"}, profile) == [
        ("error", "value", "Observation.valueString", "Observation.value[x]:valueString")]
    assert _found({**OBSERVATION, "valueBoolean": True}, profile) == [
        ("error", "structure", "Observation.valueBoolean", "Observation.value[x]")]


def test_exists_discriminator():
    profile = build("Patient", {"Patient.telecom": {"slicing": {
        "discriminator": [{"type": "exists", "path": "period"}], "rules": "open"}}},
        added=[slice_of("Patient.telecom", "dated", max="1"),
               child("Patient.telecom:dated", "ContactPoint.period", min=1)])
    dated = {"system": "phone", "value": "1", "period": {"start": "2020"}}
    assert _found({"resourceType": "Patient", "telecom": [dated, {"system": "sms"}]},
                  profile) == []
    assert _found({"resourceType": "Patient", "telecom": [dated, dated]}, profile) == [
        ("error", "structure", "Patient.telecom", "Patient.telecom:dated")]


def test_profile_discriminator():
    address = build("Address", {"Address.city": {"min": 1}})
    with registered(address) as [address_url]:
        profile = build("Patient", {"Patient.address": {"slicing": {
            "discriminator": [{"type": "profile", "path": "$this"}], "rules": "closed"}}},
            added=[slice_of("Patient.address", "withCity", type=[
                {"code": "Address", "profile": [address_url]}])])
        assert _found({"resourceType": "Patient", "address": [{"city": "Huế"}]},
                      profile) == []
        assert _found({"resourceType": "Patient", "address": [{"city": "Huế"},
                                                             {"text": "x"}]}, profile) == [
            ("error", "structure", "Patient.address[1]", "Patient.address")]


def test_extension_slices_are_told_apart_by_url():
    profile = build("Patient", {"Patient.extension": {"slicing": {
        "discriminator": [{"type": "value", "path": "url"}], "rules": "open"}}},
        added=[slice_of("Patient.extension", "birthPlace", min=1, max="1", type=[
            {"code": "Extension", "profile": [BIRTH_PLACE]}])])
    place = {"url": BIRTH_PLACE, "valueAddress": {"city": "Hà Nội"}}
    other = {"url": "http://example.org/x", "valueString": "y"}
    assert _found({"resourceType": "Patient", "extension": [other, place]}, profile) == []
    assert _found({"resourceType": "Patient", "extension": [other]}, profile) == [
        ("error", "required", "Patient.extension", "Patient.extension:birthPlace")]


BP = "http://hl7.org/fhir/StructureDefinition/bp"


def _official(name: str) -> dict:
    path = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples-all" / name
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_discriminator_valued_in_a_reslice_assigns_the_slices():
    """R4's `bp` slices `component` by `code.coding.code` and `code.coding.system`, whose
    values sit in each slice's own coding slice (`component:SystolicBP.code.coding:SBPCode`):
    the official blood pressure example conforms, and one with two diastolic components and
    no systolic does not (it was taken, the slicing reported "in error" and skipped)."""
    example = _official("Observation-blood-pressure.json")
    assert [i for i in validation_issues(example, [BP]) if i.severity == "error"] == []
    diastolic = example["component"][1]
    broken = {**example, "component": [diastolic, copy.deepcopy(diastolic)]}
    errors = [i.diagnostics for i in validation_issues(broken, [BP]) if i.severity == "error"]
    assert any("SystolicBP" in message for message in errors), errors
    assert any("DiastolicBP" in message for message in errors), errors
