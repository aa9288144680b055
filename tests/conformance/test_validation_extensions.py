"""validate_resource on extensions (http://hl7.org/fhir/R4/extensibility.html) and on the
form of references: each rule on a body that breaks it, with the issue's code and FHIRPath
expression."""

import pytest
from validation_helpers import BIRTH_PLACE, EXTENSION, OBSERVATION, found_of, issues_of

from fhir_server.conformance.validation import validate_resource, validation_issues

# --- extensions (http://hl7.org/fhir/R4/extensibility.html) ---------------------------

@pytest.mark.parametrize(
    ("extension", "found"),
    [
        ({"url": EXTENSION}, ("invariant", "Patient.extension[0]")),
        ({"url": EXTENSION, "valueString": "a", "extension": [{"url": "b", "valueCode": "c"}]},
         ("invariant", "Patient.extension[0]")),
        ({"url": EXTENSION, "valueString": "a", "valueCode": "b"},
         ("structure", "Patient.extension[0].valueCode")),
        ({"url": BIRTH_PLACE, "valueString": "Hà Nội"},
         ("structure", "Patient.extension[0].valueString")),
        ({"url": BIRTH_PLACE, "extension": [{"url": "city", "valueString": "Huế"}]},
         ("structure", "Patient.extension[0].extension")),
        ({"url": 3, "valueString": "a"}, ("value", "Patient.extension[0].url")),
    ],
    ids=["no-value", "value-and-extensions", "two-values", "wrong-value-type",
         "nested-in-a-simple-extension", "url-not-a-string"],
)
def test_extensions(extension, found):
    assert found_of({"resourceType": "Patient", "extension": [extension]}) == {found}


def test_defined_extension_with_its_value_type():
    validate_resource({"resourceType": "Patient", "extension": [
        {"url": BIRTH_PLACE, "valueAddress": {"city": "Hà Nội"}}]})


def test_complex_extension_takes_no_value():
    url = "http://hl7.org/fhir/StructureDefinition/patient-nationality"
    [issue] = issues_of({"resourceType": "Patient", "extension": [{"url": url,
                                                                "valueCode": "VN"}]})
    assert issue.expression == ("Patient.extension[0].valueCode",)
    assert "nested extensions" in issue.diagnostics


NATIONALITY = "http://hl7.org/fhir/StructureDefinition/patient-nationality"
VIETNAM = {"coding": [{"system": "urn:iso:std:iso:3166", "code": "VN"}]}


@pytest.mark.parametrize(
    ("parts", "found"),
    [
        ([{"url": "code", "valueString": "VN"}],
         ("structure", "Patient.extension[0].extension[0].valueString")),
        ([{"url": "period", "valueCodeableConcept": VIETNAM}],
         ("structure", "Patient.extension[0].extension[0].valueCodeableConcept")),
        ([{"url": "code", "valueCodeableConcept": VIETNAM}] * 2,
         ("structure", "Patient.extension[0].extension")),
    ],
    ids=["string-for-codeable-concept", "codeable-concept-for-period", "code-twice"],
)
def test_the_parts_of_a_complex_extension_follow_its_definition(parts, found):
    """patient-nationality defines `code` (0..1 CodeableConcept) and `period` (0..1 Period):
    its parts are checked as a simple extension's value is."""
    assert found_of({"resourceType": "Patient",
                     "extension": [{"url": NATIONALITY, "extension": parts}]}) == {found}


def test_a_complex_extension_with_its_parts_and_others():
    validate_resource({"resourceType": "Patient", "extension": [{"url": NATIONALITY, "extension": [
        {"url": "code", "valueCodeableConcept": VIETNAM},
        {"url": "period", "valuePeriod": {"start": "2020-01-01"}},
        {"url": "http://example.org/not-a-part", "valueString": "open slicing"}]}]})


BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
CITIZENSHIP = "http://hl7.org/fhir/StructureDefinition/patient-citizenship"


@pytest.mark.parametrize(("patient", "again"), [
    ({"extension": [{"url": EXTENSION, "valueString": "a"},
                    {"url": BIRTH_PLACE, "valueAddress": {"city": "Huế"}},
                    {"url": BIRTH_PLACE, "valueAddress": {"city": "Hà Nội"}}]},
     "Patient.extension[2]"),
    ({"birthDate": "1990-05-05", "_birthDate": {"extension": [
        {"url": BIRTH_TIME, "valueDateTime": "1990-05-05T08:00:00+07:00"}] * 2}},
     "Patient._birthDate.extension[1]"),
], ids=["birthPlace", "birthTime-on-a-primitive"])
def test_an_extension_defined_once_is_refused_again_on_one_element(patient, again):
    """defining-extensions.html#cardinality: "If the Extension maximum cardinality is 1, then
    the extension is only allowed once on any element on which it appears"."""
    assert found_of({"resourceType": "Patient", **patient}) == {("structure", again)}


def test_an_extension_defined_once_may_be_on_each_element_and_one_of_many_repeated():
    citizenship = {"url": CITIZENSHIP, "extension": [{"url": "code", "valueCodeableConcept": {
        "coding": [{"system": "urn:iso:std:iso:3166", "code": "VN"}]}}]}
    own_prefix = {"url": "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix",
                  "valueString": "van"}
    validate_resource({"resourceType": "Patient", "extension": [citizenship, citizenship],
                       "name": [{"family": "Berg", "_family": {"extension": [own_prefix]}},
                                {"family": "Dijk", "_family": {"extension": [own_prefix]}}]})


def _text_link(htmlid: str) -> dict:
    return {"url": "http://hl7.org/fhir/StructureDefinition/textLink", "extension": [
        {"url": "htmlid", "valueString": htmlid},
        {"url": "data", "valueUri": f"https://fhir.example.com/Condition/{htmlid}"}]}


WORK_GROUP = "http://hl7.org/fhir/StructureDefinition/structuredefinition-wg"


@pytest.mark.parametrize(("resource", "again"), [
    ({"resourceType": "Patient", "text": {
        "status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">a</div>',
        "extension": [_text_link("a"), _text_link("b")]}}, "Patient.text.extension[1]"),
    ({"resourceType": "CodeSystem", "status": "active", "content": "not-present",
      "extension": [{"url": WORK_GROUP, "valueCode": "inm"},
                    {"url": WORK_GROUP, "valueCode": "oo"}]}, "CodeSystem.extension[1]"),
], ids=["textLink-as-ips-2.0.0", "wg-as-tho-7.0.1"])
def test_a_repeat_hl7_packages_make_of_an_extension_defined_once_is_a_warning(resource, again):
    """textLink's and structuredefinition-wg's roots have max 1, but IPS 2.0.0's own example
    gives a narrative one textLink per linked entry, and THO's v2-0027 names two work groups
    (known-issues.json)."""
    issues = validation_issues(resource)
    assert [(i.severity, i.expression) for i in issues] == [("warning", (again,))], issues


@pytest.mark.parametrize(("url", "severity"), [
    ("http://hl7.org/fhir/StructureDefinition/patient-nationality", "error"),
    ("http://hl7.org/fhir/StructureDefinition/hla-genotyping-results-glstring", "warning"),
])
def test_a_part_of_a_relative_url_the_definition_does_not_define(url, severity):
    """An error, but for the glstring R4's own example Bundle-hla-1 sends with `uri` for its
    part `url` (known-issues.json)."""
    resource = {"resourceType": "Basic", "code": {"text": "HLA"}, "extension": [
        {"url": url, "extension": [{"url": "uri", "valueUri": "https://e.vn/gl"}]}]}
    issues = [i for i in validation_issues(resource) if i.message_id != "extension-context"]
    assert [(i.severity, i.expression) for i in issues] == [
        (severity, ("Basic.extension[0].extension[0].url",))], issues


def test_extension_out_of_its_context_is_only_a_warning():
    misplaced = {**OBSERVATION, "extension": [
        {"url": BIRTH_PLACE, "valueAddress": {"city": "Huế"}}]}
    validate_resource(misplaced)
    issues = issues_of({**misplaced, "foo": 1})
    assert [(i.severity, i.expression) for i in issues] == [
        ("error", ("Observation.foo",)), ("warning", ("Observation.extension[0]",))]


def test_modifier_extensions_are_extensions():
    assert found_of({"resourceType": "Patient", "modifierExtension": [{"url": EXTENSION}]}) == {
        ("invariant", "Patient.modifierExtension[0]")}


@pytest.mark.parametrize(("reference", "malformed"), [
    ("Practitioner/a b", True), ("Foo/1", True), ("Practitioner/" + "a" * 65, True),
    ("Practitioner/bs-01", False), ("Practitioner/bs-01/_history/2", False),
    ("https://benhvien.vn/fhir/Practitioner/bs-01", False), ("urn:uuid:" + "0" * 32, False),
    ("Practitioner?identifier=http://benhvien.vn/sid|01", False),
])
def test_a_relative_reference_names_a_type_and_an_id(reference, malformed):
    """references.html#literal: a relative reference is [type]/[id]; anything else is
    worth a warning (the HL7 validator's), not a refusal."""
    issues = validation_issues({"resourceType": "Patient", "generalPractitioner": [
        {"reference": reference}]})
    warned = [(i.severity, i.expression) for i in issues if "relative reference" in
              i.diagnostics]
    assert warned == ([("warning", ("Patient.generalPractitioner[0].reference",))]
                      if malformed else [])


DO_NOT_PERFORM = "http://hl7.org/fhir/StructureDefinition/request-doNotPerform"
ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def test_an_extension_value_keeps_to_the_extensions_required_binding():
    """data-absent-reason binds its valueCode (required) to its value set: the element
    Extension.value[x] itself has no binding."""
    def birth_date_absent(code: str) -> dict:
        return {"resourceType": "Patient", "_birthDate": {"extension": [
            {"url": ABSENT_REASON, "valueCode": code}]}}
    validate_resource(birth_date_absent("unknown"))
    assert found_of(birth_date_absent("khong-ro")) == {
        ("code-invalid", "Patient._birthDate.extension[0].valueCode")}


def test_a_modifier_extension_not_known_is_a_warning():
    """It may reverse the meaning of what holds it, and nothing here knows how; a warning,
    as R4's own Basic/referral example carries three of them."""
    unknown = {"url": "http://benhvien.vn/fhir/StructureDefinition/khong-dung",
               "valueBoolean": True}
    validate_resource({"resourceType": "Patient", "modifierExtension": [unknown]})
    [issue] = issues_of({"resourceType": "Patient", "modifierExtension": [unknown], "foo": 1}
                      )[1:]
    assert (issue.severity, issue.code, issue.expression) == (
        "warning", "extension", ("Patient.modifierExtension[0]",))


@pytest.mark.parametrize(("key", "url", "value", "said"), [
    ("modifierExtension", BIRTH_PLACE, {"valueAddress": {"city": "Huế"}}, "is not defined"),
    ("extension", DO_NOT_PERFORM, {"valueBoolean": True}, "is defined as a modifier"),
])
def test_an_extension_is_a_modifier_exactly_when_defined_so(key, url, value, said):
    """extensibility.html#modifierExtension: a modifier extension goes in modifierExtension,
    and only one does."""
    holder = {"resourceType": "NutritionOrder", "status": "active", "intent": "order",
              "patient": {"reference": "Patient/p"}, "dateTime": "2025-07-01",
              key: [{"url": url, **value}]}
    [issue] = [i for i in issues_of(holder) if i.severity == "error"]
    assert (issue.code, issue.expression) == ("structure", (f"NutritionOrder.{key}[0]",))
    assert said in issue.diagnostics


def test_a_guide_whose_profile_places_its_modifier_extension_as_plain_is_not_refused():
    """VN Core's ethnicity extension is a modifier by its definition, while VN Core's Patient
    profile slices Patient.extension with it: the guide contradicts itself, and a hospital's
    write is not refused for that. The extension is taken where the profile puts it, with a
    warning naming the contradiction (R4's own modifier extensions stay errors, above)."""
    race = "http://fhir.ehealth.gov.vn/core/StructureDefinition/extension-race"
    kinh = {"coding": [{"system": "http://fhir.ehealth.gov.vn/core/CodeSystem/vn-core-race",
                        "code": "01", "display": "Kinh"}]}
    patient = {"resourceType": "Patient",
               "extension": [{"url": race, "valueCodeableConcept": kinh}]}
    issues = validation_issues(patient)
    assert not [i for i in issues if i.severity in ("error", "fatal")], issues
    [flaw] = [i for i in issues if i.message_id == "extension-modifier-flawed"]
    assert (flaw.severity, flaw.code, flaw.expression) == (
        "warning", "processing", ("Patient.extension[0]",))
    # Its extensible binding holds: a code of the ethnicity system the value set lacks.
    kinh["coding"][0].update(code="77", display="Không có")
    [error] = [i for i in validation_issues(patient) if i.severity == "error"]
    assert (error.code, error.expression) == (
        "code-invalid", ("Patient.extension[0].valueCodeableConcept",))


def test_an_unknown_extension_of_the_core_namespace_is_a_warning():
    """Every extension of http://hl7.org/fhir/StructureDefinition/ is held here: one not
    found is misspelled (a warning, stored all the same); another namespace's is anyone's."""
    misspelled = "http://hl7.org/fhir/StructureDefinition/patient-birthPlac"
    found = [(i.severity, i.code, i.expression) for i in validation_issues(
        {"resourceType": "Patient", "extension": [{"url": misspelled, "valueString": "x"}]})]
    assert found == [("warning", "extension", ("Patient.extension[0].url",))]
    assert validation_issues({"resourceType": "Patient", "extension": [
        {"url": EXTENSION, "valueString": "x"}]}) == []


@pytest.mark.parametrize(("resource", "refused"), [
    ({"resourceType": "Patient", "extension": [{"url": "something", "valueString": "x"}]},
     "Patient.extension[0].url"),
    ({"resourceType": "Patient", "_birthDate": {"extension": [
        {"url": "gio-sinh", "valueString": "x"}]}}, "Patient._birthDate.extension[0].url"),
    # A complex extension's parts are named relatively to it.
    ({"resourceType": "Patient", "extension": [{"url": "http://example.org/ext/dia-chi",
                                                "extension": [{"url": "tinh",
                                                               "valueString": "79"}]}]}, None),
])
def test_an_extension_is_named_by_an_absolute_url(resource, refused):
    """The HL7 validator's `patient-extension-bad`: `url="something"` was stored silently."""
    errors = [i.expression[0] for i in validation_issues(resource) if i.severity == "error"]
    assert errors == ([refused] if refused else []), errors
