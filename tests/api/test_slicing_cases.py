"""Slicing as HL7's validator test cases (FHIR/fhir-test-cases, validator/) have it: each
profile, a differential as the case writes it, is registered for one test, and a resource
claiming it is written through the API: stored when the HL7 validator finds no error, 422
when a value really matches no slice of a closed slicing or a slice goes short
(http://hl7.org/fhir/R4/profiling.html#slicing)."""

import copy

from api.helpers import FHIR_HEADERS
from conformance.profile_builders import registered

BASE = "http://example.org/fhir/StructureDefinition/"
CORE = "http://hl7.org/fhir/StructureDefinition/"
DAR = CORE + "data-absent-reason"
RANGE_MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"
RACE = "http://terminology.hl7.org/CodeSystem/v3-Race"


_KINDS = {"Coding": "complex-type", "string": "primitive-type"}


def _profile(name: str, type_name: str, *elements: dict) -> dict:
    return {"resourceType": "StructureDefinition", "url": BASE + name, "name": name,
            "status": "draft", "kind": _KINDS.get(type_name, "resource"), "abstract": False,
            "type": type_name, "baseDefinition": CORE + type_name,
            "derivation": "constraint", "differential": {"element": list(elements)}}


def _element(path: str, **rules) -> dict:
    """A differential element given by its path alone, as some of HL7's cases write them."""
    return {"path": path, **rules}


def _sliced(path: str, *discriminators: tuple[str, str], rules: str = "closed") -> dict:
    return _element(path, slicing={"discriminator": [
        {"type": kind, "path": at} for kind, at in discriminators], "rules": rules})


def _written(client, resource: dict, url: str) -> tuple[int, list[str]]:
    """The status of a create of `resource` claiming `url`, and its error messages."""
    claimed = {**copy.deepcopy(resource), "meta": {"profile": [url]}}
    response = client.post(f"/{resource['resourceType']}", json=claimed, headers=FHIR_HEADERS)
    issues = response.json().get("issue", []) if response.status_code != 201 else []
    return response.status_code, [i["diagnostics"] for i in issues if i["severity"] == "error"]


def _validated(client, resource: dict, url: str) -> list[str]:
    """The errors of `$validate?profile=url`."""
    response = client.post(f"/{resource['resourceType']}/$validate?profile={url}",
                           json=resource, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    return [i["diagnostics"] for i in response.json()["issue"] if i["severity"] == "error"]


# slicing-kn-example: telecom sliced by value at system and use; `email` prohibits use.
TELECOM = _profile(
    "SlicingKn", "Patient",
    _sliced("Patient.telecom", ("value", "system"), ("value", "use")),
    _element("Patient.telecom", sliceName="homePhone", min=1, max="1"),
    _element("Patient.telecom.system", min=1, fixedCode="phone"),
    _element("Patient.telecom.use", min=1, fixedCode="home"),
    _element("Patient.telecom", sliceName="email", min=0, max="1"),
    _element("Patient.telecom.system", min=1, fixedCode="email"),
    _element("Patient.telecom.use", max="0"))
HOME = {"system": "phone", "value": "5551234567", "use": "home"}
EMAIL = {"system": "email", "value": "someone@acme.org"}


def test_a_slice_prohibiting_a_discriminator_takes_values_without_it(client):
    patient = {"resourceType": "Patient", "telecom": [HOME, EMAIL]}
    with registered(TELECOM) as [url]:
        assert _written(client, patient, url) == (201, [])
        assert _validated(client, patient, url) == []
        for other in ({**EMAIL, "use": "home"}, {"system": "sms", "value": "1"}):
            status, errors = _written(client, {**patient, "telecom": [HOME, other]}, url)
            assert status == 422 and "matches no slice" in errors[0], errors


# slice-by-polymorphic-type: payload sliced by type at the choice `content`.
PAYLOAD = _profile(
    "SliceByPolymorphicType", "Communication",
    _sliced("Communication.payload", ("type", "content")),
    _element("Communication.payload", sliceName="string", max="1"),
    _element("Communication.payload.content[x]", min=1, type=[{"code": "string"}]),
    _element("Communication.payload", sliceName="attachment", max="20"),
    _element("Communication.payload.content[x]", min=1, type=[{"code": "Attachment"}]))
COMMUNICATION = {"resourceType": "Communication", "status": "completed"}


def test_a_type_discriminator_through_a_choice_knows_primitive_types(client):
    payload = [{"contentString": "someString"}, {"contentAttachment": {"title": "a"}}]
    with registered(PAYLOAD) as [url]:
        assert _written(client, {**COMMUNICATION, "payload": payload}, url) == (201, [])
        status, errors = _written(client, {**COMMUNICATION, "payload": [
            {"contentReference": {"reference": "Patient/1"}}]}, url)
        assert status == 422 and "payload[0] matches no slice" in errors[0], errors


def _range(meaning: str, race: str | None = None) -> dict:
    found = {"type": {"coding": [{"system": RANGE_MEANING, "code": meaning}]},
             "low": {"value": 1}}
    return {**found, "appliesTo": [{"coding": [{"system": RACE, "code": race}]}]} if race \
        else found


def _range_slice(name: str, meaning: str, race: str | None = None) -> list[dict]:
    pattern = _range(meaning, race)
    return [_element("Observation.referenceRange", sliceName=name, min=1, max="1"),
            _element("Observation.referenceRange.type", min=1,
                     patternCodeableConcept=pattern["type"])] + ([
        _element("Observation.referenceRange.appliesTo", min=1,
                 patternCodeableConcept=pattern["appliesTo"][0])] if race else [])


# type-subtype-slicing: sliced by pattern at type and appliesTo; Slice3 leaves appliesTo open.
RANGES = _profile(
    "TypeSubtypeSlicing", "Observation",
    _sliced("Observation.referenceRange", ("pattern", "type"), ("pattern", "appliesTo"),
            rules="open"),
    *_range_slice("Slice1", "normal", "2036-2"), *_range_slice("Slice2", "normal", "2038-8"),
    *_range_slice("Slice3", "treatment"))
OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}


def test_a_discriminator_some_slices_leave_open_tells_the_others_apart(client):
    ranges = [_range("normal", "2036-2"), _range("normal", "2038-8"), _range("treatment")]
    with registered(RANGES) as [url]:
        assert _written(client, {**OBSERVATION, "referenceRange": ranges}, url) == (201, [])
        # type-subtype-slicing2: the normal ranges name no race, so no slice needing one.
        status, errors = _written(client, {**OBSERVATION, "referenceRange": [
            _range("normal"), _range("normal"), _range("treatment")]}, url)
        assert status == 422 and len(errors) == 2, errors
        assert all("fewer than it requires" in error for error in errors), errors


# profile-slicing-missing: category sliced by profile at coding and text, elements without ids.
CODING_2, CODING_3, TEXT_4, TEXT_5 = (
    _profile("SlicingCoding2", "Coding", {"id": "Coding.system", "path": "Coding.system",
                                          "fixedUri": "http://example.org/profile2"}),
    _profile("SlicingCoding3", "Coding", {"id": "Coding.system", "path": "Coding.system",
                                          "fixedUri": "http://example.org/profile3"}),
    _profile("SlicingText4", "string", {"id": "string", "path": "string",
                                        "fixedString": "Some Text"}),
    _profile("SlicingText5", "string", {"id": "string", "path": "string",
                                        "fixedString": "Some Text 2"}))
CATEGORIES = _profile(
    "ProfileSlicingMissing", "Observation",
    _sliced("Observation.category", ("profile", "coding"), ("profile", "text"), rules="open"),
    _element("Observation.category", sliceName="slice1", min=1),
    _element("Observation.category.coding", min=1, type=[
        {"code": "Coding", "profile": [CODING_2["url"]]}]),
    _element("Observation.category", sliceName="slice2", min=1),
    _element("Observation.category.coding", min=1, type=[
        {"code": "Coding", "profile": [CODING_3["url"]]}]),
    _element("Observation.category.text", type=[{"code": "string",
                                                 "profile": [TEXT_4["url"]]}]),
    _element("Observation.category", sliceName="slice3", min=1),
    _element("Observation.category.text", min=1, type=[{"code": "string",
                                                        "profile": [TEXT_5["url"]]}]))


def test_profile_slices_of_elements_given_by_path_leave_the_other_discriminator_open(client):
    category = [{"coding": [{"system": "http://example.org/profile2", "code": "code2"}]},
                {"coding": [{"system": "http://example.org/profile3", "code": "code3"}],
                 "text": "Some Text"},
                {"text": "Some Text 2"}, {"text": "something else"}]
    with registered(CODING_2, CODING_3, TEXT_4, TEXT_5, CATEGORIES) as urls:
        observation = {**OBSERVATION, "category": category}
        assert _written(client, observation, urls[-1]) == (201, [])
        status, errors = _written(client, {**observation, "category": category[:2]}, urls[-1])
        assert status == 422 and len(errors) == 1 and "slice3" in errors[0], errors


# mixed-type-slicing: payload sliced by type at content and at the resource it references.
REFERENCED = _profile(
    "MixedTypeSlicing", "Communication",
    _sliced("Communication.payload", ("type", "content"),
            ("type", "content.ofType(Reference).resolve()")),
    _element("Communication.payload", sliceName="String", max="1"),
    _element("Communication.payload.content[x]", type=[{"code": "string"}]),
    *[item for target in ("DocumentReference", "Task") for item in (
        _element("Communication.payload", sliceName=target),
        _element("Communication.payload.content[x]", type=[
            {"code": "Reference", "targetProfile": [CORE + target]}]))])


def test_a_type_discriminator_reads_the_type_a_reference_names(client):
    payload = [{"contentString": "x"}, {"contentReference": {"reference": "DocumentReference/1"}},
               {"contentReference": {"reference": "Task/task1"}},
               {"contentReference": {"type": "Task", "identifier": {"value": "t2"}}}]
    with registered(REFERENCED) as [url]:
        assert _written(client, {**COMMUNICATION, "payload": payload}, url) == (201, [])
        status, errors = _written(client, {**COMMUNICATION, "payload": [
            {"contentReference": {"reference": "Patient/1"}}]}, url)
        assert status == 422 and "payload[0] matches no slice" in errors[0], errors


# medstmt-ips: the extensions of effective[x], under an id that names a slice instead.
EFFECTIVE = _profile(
    "MedstmtIps", "MedicationStatement",
    {"id": "MedicationStatement.effective[x]", "path": "MedicationStatement.effective[x]",
     "min": 1},
    {"id": "MedicationStatement.effective[x]:data-absent-reason",
     "path": "MedicationStatement.effective[x].extension", "max": "1",
     "type": [{"code": "Extension", "profile": [DAR]}]})


def test_the_path_of_an_element_wins_over_an_id_that_contradicts_it(client):
    statement = {"resourceType": "MedicationStatement", "status": "active",
                 "medicationCodeableConcept": {"text": "simvastatin"},
                 "subject": {"reference": "Patient/1"}, "effectivePeriod": {"start": "2014"}}
    absent = {"url": DAR, "valueCode": "unknown"}
    with registered(EFFECTIVE) as [url]:
        assert _validated(client, statement, url) == []
        assert _written(client, statement, url) == (201, [])
        twice = {**statement, "effectivePeriod": {"extension": [absent, absent]}}
        assert any("max 1" in error for error in _validated(client, twice, url))
