"""Vietnamese identifier systems: the alias table of the two VN Core guides and the format
rules of CCCD, CMND, BHYT, BHXH and Vietnamese passport values, checked on every
Identifier of a resource."""

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.conformance.identifier_formats import (
    BHYT_GROUP_CODES,
    PROVINCE_CODES,
    bhyt_problem,
)
from fhir_server.conformance.identifier_systems import (
    IDENTIFIER_SYSTEMS,
    aliases,
    canonical_system,
    identifier_issues,
)

MOH = "http://fhir.ehealth.gov.vn/core/sid/"
CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
BHYT = "http://fhir.hl7.org.vn/core/sid/bhyt"
BHXH = "http://fhir.hl7.org.vn/core/sid/bhxh"
CMND = MOH + "citizen_id"
VN_PASSPORT = "http://hl7.org/fhir/sid/passport-VNM"
VN_CORE_SOURCES = Path(__file__).resolve().parents[3] / "shared" / "fhir-packages" / (
    "vn-core-moh/resources")
PROVINCES_2 = sorted(code[1:] for code in PROVINCE_CODES)
# A card's issuer: a province, or the social insurance of the army (97) or the police (98).
CARD_ISSUERS = [*PROVINCES_2, "97", "98"]

BHYT_FORMS = ("in any of the three forms (a 12-digit personal identification number, a "
              "10-digit BHXH code, or a 15-character card: beneficiary group code, benefit "
              "level 1-5, province code, BHXH code)")
PERSONAL_ID = ("a personal identification number (12 digits: province, century and sex, "
               "birth year, serial; Circular 07/2016/TT-BCA)")


def _patient(system: str, value: object, **extra) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": value}],
            **extra}


# --- the alias table ---------------------------------------------------------------------

@pytest.mark.parametrize(("alias", "canonical"), [
    (MOH + "national_id", CCCD),
    (CCCD, CCCD),
    (MOH + "insurance_number", BHYT),
    (MOH + "driver_license_number", MOH + "driver-license-number"),
    (MOH + "provider-code", "http://fhir.hl7.org.vn/core/sid/ma-cskcb"),
    ("urn:oid:2.16.840.1.113883.4.330.704", VN_PASSPORT),
    (CMND, CMND),
])
def test_aliases_have_one_canonical_system(alias, canonical):
    assert canonical_system(alias) == canonical
    assert alias in aliases(canonical) and aliases(alias)[0] == canonical


def test_unknown_systems_are_unchanged():
    other = "http://benhvien-bachmai.vn/fhir/sid/mrn"
    assert canonical_system(other) == other and aliases(other) == (other,)
    # URIs are compared exactly: case and a trailing slash make another system.
    assert canonical_system(CCCD.upper()) == CCCD.upper()
    assert canonical_system(CCCD + "/") == CCCD + "/"


def test_citizen_id_is_the_old_identity_card_and_national_id_the_cccd():
    """The Ministry's guide names the CMND `citizen_id` (NamingSystem: "số CMTND", Patient
    slice SoCMT) and the CCCD `national_id` (slice TheCCCD): two systems, not aliases."""
    assert canonical_system(CMND) != canonical_system(MOH + "national_id")


def _uris(pattern: str, text: str) -> set[str]:
    return set(re.findall(pattern, text))


def test_every_ministry_naming_system_uri_is_in_the_table():
    known = {uri for entry in IDENTIFIER_SYSTEMS for uri in (entry.canonical, *entry.aliases)}
    naming_systems = {
        uri for path in VN_CORE_SOURCES.glob("NamingSystem.*.xml")
        for uri in _uris(r'<value value="(http://fhir\.ehealth\.gov\.vn/core/sid/[^"]+)"',
                         path.read_text(encoding="utf-8"))
    }
    profiles = {
        uri for name in ("Patient", "Practitioner", "Provider")
        for uri in _uris(r'fixedUri value="(http://fhir\.ehealth\.gov\.vn/core/sid/[^"]+)"',
                         (VN_CORE_SOURCES / f"StructureDefinition.VN-Core.{name}_v1.0.0.xml")
                         .read_text(encoding="utf-8"))
    }
    assert len(naming_systems) == 8 and len(profiles) == 10
    assert naming_systems | profiles <= known
    # The two spellings of the driving licence are one system.
    assert canonical_system(MOH + "driver_license_number") == canonical_system(
        MOH + "driver-license-number")


def test_no_uri_names_two_kinds():
    uris = [uri for entry in IDENTIFIER_SYSTEMS for uri in (entry.canonical, *entry.aliases)]
    assert len(uris) == len(set(uris))


@given(st.sampled_from(IDENTIFIER_SYSTEMS), st.data())
def test_every_alias_leads_to_its_canonical_system(entry, data):
    alias = data.draw(st.sampled_from((entry.canonical, *entry.aliases)))
    assert canonical_system(alias) == entry.canonical
    assert aliases(alias) == (entry.canonical, *entry.aliases)
    assert canonical_system(canonical_system(alias)) == entry.canonical


# --- format rules, with the exact message ----------------------------------------------

@pytest.mark.parametrize(("system", "value"), [
    (CCCD, "001085012345"), (MOH + "national_id", "079193000001"),
    (CMND, "123456789"), (CMND, "012345678901"),
    (BHYT, "001085012345"), (BHYT, "0123456789"), (BHYT, "DN4010123456789"),
    (MOH + "insurance_number", "TE1790000000123"), (BHYT, "HT3960123456789"),
    (BHXH, "0123456789"),
    (VN_PASSPORT, "C1234567"), ("urn:oid:2.16.840.1.113883.4.330.704", "N9876543"),
    (MOH + "passport_number", "X-99 foreign"),  # any country's passport: no rule
    ("http://benhvien-bachmai.vn/fhir/sid/mrn", "anything"),
])
def test_valid_values(system, value):
    assert identifier_issues(_patient(system, value)) == []


@pytest.mark.parametrize(("system", "value", "message"), [
    (CCCD, "099085012345",
     f"CCCD number '099085012345' at Patient.identifier[0].value is not {PERSONAL_ID}: 099 "
     "(digits 1-3) is not a province code"),
    (MOH + "national_id", "00108501234",
     f"CCCD number '00108501234' at Patient.identifier[0].value is not {PERSONAL_ID}: a "
     "personal identification number is exactly 12 ASCII digits"),
    (CMND, "12345678",
     "CMND number '12345678' at Patient.identifier[0].value is not an identity card number of "
     "9 or 12 digits: it has 8 digits"),
    (CMND, "12345678X",
     "CMND number '12345678X' at Patient.identifier[0].value is not an identity card number "
     "of 9 or 12 digits: it has 9 characters, not only digits"),
    (BHYT, "ZZ4010123456789",
     f"BHYT number 'ZZ4010123456789' at Patient.identifier[0].value is not {BHYT_FORMS}: 'ZZ' "
     "is not a beneficiary group code (Decision 1351/QĐ-BHXH)"),
    (BHYT, "DN6010123456789",
     f"BHYT number 'DN6010123456789' at Patient.identifier[0].value is not {BHYT_FORMS}: "
     "benefit level 6 (character 3) is not 1-5"),
    (MOH + "insurance_number", "DN4990123456789",
     f"BHYT number 'DN4990123456789' at Patient.identifier[0].value is not {BHYT_FORMS}: 99 "
     "(characters 4-5) is not a province code"),
    (BHYT, "DN401012345678X",
     f"BHYT number 'DN401012345678X' at Patient.identifier[0].value is not {BHYT_FORMS}: a "
     "15-character card is 2 letters and 13 digits"),
    (BHYT, "097085012345",
     f"BHYT number '097085012345' at Patient.identifier[0].value is not {BHYT_FORMS}: 097 "
     "(digits 1-3) is not a province code"),
    (BHYT, "012345678X",
     f"BHYT number '012345678X' at Patient.identifier[0].value is not {BHYT_FORMS}: it has "
     "10 characters, not only digits"),
    (BHYT, "DN40101234",
     f"BHYT number 'DN40101234' at Patient.identifier[0].value is not {BHYT_FORMS}: it has "
     "10 characters, not only digits"),
    (BHYT, "dn4797912345678",
     f"BHYT number 'dn4797912345678' at Patient.identifier[0].value is not {BHYT_FORMS}: "
     "'dn' is in lower case: group codes are written 'DN'"),
    (BHYT, "4010123456789",
     f"BHYT number '4010123456789' at Patient.identifier[0].value is not {BHYT_FORMS}: it has "
     "13 characters, not 10, 12 or 15"),
    (BHXH, "012345678",
     "BHXH code '012345678' at Patient.identifier[0].value is not a social insurance code of "
     "10 digits: it has 9 digits"),
    (VN_PASSPORT, "c1234567",
     "Vietnamese passport number 'c1234567' at Patient.identifier[0].value is not a "
     "Vietnamese passport number (one capital letter and 7 digits): 'c' (character 1) is not "
     "a capital letter"),
    (VN_PASSPORT, "C123456",
     "Vietnamese passport number 'C123456' at Patient.identifier[0].value is not a "
     "Vietnamese passport number (one capital letter and 7 digits): it has 7 characters, "
     "not 8"),
    (VN_PASSPORT, "CC123456",
     "Vietnamese passport number 'CC123456' at Patient.identifier[0].value is not a "
     "Vietnamese passport number (one capital letter and 7 digits): characters 2-8 are not "
     "all digits"),
])
def test_invalid_values_name_the_rule(system, value, message):
    issues = identifier_issues(_patient(system, value))
    assert [(i.diagnostics, i.code, i.severity, i.expression) for i in issues] == [
        (message, "value", "error", ("Patient.identifier[0].value",))]


def test_identifiers_anywhere_in_the_resource():
    """Nested Identifiers: of references, of an identifier's assigner, in extensions and
    in `_x` objects of primitives, of contained resources and of a Bundle's entries."""
    coverage = {
        "resourceType": "Coverage", "status": "active",
        "identifier": [{"system": BHYT, "value": "DN4010123456789"},
                       {"system": BHYT, "value": "XX4010123456789"}],
        "beneficiary": {"identifier": {"system": MOH + "national_id", "value": "1"}},
        "payor": [{"identifier": {
            "system": "http://fhir.hl7.org.vn/core/sid/mst", "value": "0100109106",
            "assigner": {"identifier": {"system": BHXH, "value": "12"}}}}],
    }
    patient = {
        "resourceType": "Patient",
        "contained": [coverage],
        "name": [{"family": "Lê", "extension": [
            {"url": "http://example.vn/x", "valueIdentifier": {"system": CMND, "value": "1"}}]}],
        "_birthDate": {"extension": [{"url": "http://example.vn/y", "valueReference": {
            "identifier": {"system": VN_PASSPORT, "value": "1"}}}]},
        "birthDate": "1990-01-01",
    }
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": patient}, {"resource": coverage}]}
    inner = ["contained[0].identifier[1].value", "contained[0].beneficiary.identifier.value",
             "contained[0].payor[0].identifier.assigner.identifier.value"]
    own = ["name[0].extension[0].valueIdentifier.value",
           "_birthDate.extension[0].valueReference.identifier.value"]
    assert [i.expression[0] for i in identifier_issues(patient)] == [
        *(f"Patient.{path}" for path in inner), *(f"Patient.{path}" for path in own)]
    assert [i.expression[0] for i in identifier_issues(coverage)] == [
        "Coverage.identifier[1].value", "Coverage.beneficiary.identifier.value",
        "Coverage.payor[0].identifier.assigner.identifier.value"]
    assert [i.expression[0] for i in identifier_issues(bundle)] == [
        *(f"Bundle.entry[0].resource.{path}" for path in inner + own),
        "Bundle.entry[1].resource.identifier[1].value",
        "Bundle.entry[1].resource.beneficiary.identifier.value",
        "Bundle.entry[1].resource.payor[0].identifier.assigner.identifier.value"]


@pytest.mark.parametrize("resource", [
    {"resourceType": "Practitioner", "identifier": [{"system": CCCD, "value": "bad"}]},
    {"resourceType": "Organization", "identifier": [{"system": BHXH, "value": "bad"}]},
    {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
     "subject": {"identifier": {"system": CCCD, "value": "bad"}}},
])
def test_any_resource_type(resource):
    assert len(identifier_issues(resource)) == 1


@pytest.mark.parametrize("resource", [
    _patient(CCCD, 1085012345),  # not a string: the structure validation reports it
    _patient(CCCD, None),
    {"resourceType": "Patient", "identifier": [{"system": CCCD}]},
    {"resourceType": "Patient", "identifier": "not an array", "name": [None, 3]},
    {"resourceType": "NotAType", "identifier": [{"system": CCCD, "value": "bad"}]},
    {"identifier": [{"system": CCCD, "value": "bad"}]},
])
def test_shapes_it_does_not_judge(resource):
    assert identifier_issues(resource) == []


# --- hypothesis over the rules ----------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=10, max_size=10)


@st.composite
def bhyt_cards(draw) -> str:
    group = draw(st.sampled_from(sorted(BHYT_GROUP_CODES)))
    level = draw(st.integers(1, 5))
    return f"{group}{level}{draw(st.sampled_from(CARD_ISSUERS))}{draw(digits)}"


@pytest.mark.parametrize("card", ["QN5971233124834", "CA5981234567890", "HT3790123456789"])
def test_cards_of_the_army_and_police_social_insurance_are_valid(card):
    assert bhyt_problem(card) is None


@given(bhyt_cards())
def test_every_well_formed_card_is_valid(card):
    assert bhyt_problem(card) is None
    assert identifier_issues(_patient(BHYT, card)) == []


@given(bhyt_cards(), st.integers(0, 14), st.characters(codec="utf-8"))
def test_a_changed_card_character_is_valid_only_if_still_well_formed(card, index, char):
    changed = card[:index] + char + card[index + 1:]
    well_formed = (changed[:2] in BHYT_GROUP_CODES and changed[2] in "12345"
                   and changed[3:5] in CARD_ISSUERS and re.fullmatch("[0-9]{10}", changed[5:]))
    assert (bhyt_problem(changed) is None) == bool(well_formed)


@given(digits)
def test_every_bhxh_code_is_a_valid_bhyt_number(code):
    assert identifier_issues(_patient(BHXH, code)) == []
    assert identifier_issues(_patient(MOH + "insurance_number", code)) == []


@given(st.text(max_size=20))
def test_any_text_is_judged_without_error(text):
    for entry in IDENTIFIER_SYSTEMS:
        issues = identifier_issues(_patient(entry.canonical, text))
        assert len(issues) <= 1
        if issues:
            assert issues[0].diagnostics.startswith(f"{entry.label} ")
            assert entry.rule is not None and entry.rule.problem(text) is not None


@given(st.from_regex(r"[0-9]{9}|[0-9]{12}", fullmatch=True))
def test_cmnd_numbers_of_9_or_12_digits(value):
    assert identifier_issues(_patient(CMND, value)) == []


@given(st.from_regex(r"[A-Z][0-9]{7}", fullmatch=True))
def test_vietnamese_passports(value):
    assert identifier_issues(_patient(VN_PASSPORT, value)) == []
    assert len(identifier_issues(_patient(VN_PASSPORT, value.lower()))) == 1
