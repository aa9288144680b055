"""Token search (http://hl7.org/fhir/R4/search.html#token): `code`, `system|code`, `|code`,
`system|` on code, Coding, CodeableConcept, Identifier, ContactPoint and boolean elements;
the modifiers :not, :text, :of-type, :missing, :in and :not-in; `_id`, `_tag`, `_security`.

Data set: five Patients that differ in identifiers (one shared value under two systems, one
without a system), gender (one without), active (one without), telecom, language, deceased
(boolean false, boolean true, dateTime, absent), tags and security labels; five Encounters
whose class is inside v3-ActEncounterCode (one only through the is-a hierarchy) or outside.
"""

import pytest
from api.helpers import BHYT, CCCD
from search.helpers import (
    ACT_CODE,
    GENDER,
    V2_0203,
    assert_bad_parameter,
    expected,
    found,
    load,
)

BM_MRN = "http://benhvien-bachmai.vn/fhir/sid/mrn"
OID_SYSTEM = "urn:oid:2.16.840.1.113883.2.24.1.1"
BCP47 = "urn:ietf:bcp:47"
TAGS = "http://fhir.hl7.org.vn/core/CodeSystem/tags"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
VN_CLASS = "http://fhir.hl7.org.vn/core/CodeSystem/encounter-class"
VN_ENCOUNTER_TYPE = "http://fhir.hl7.org.vn/core/CodeSystem/encounter-type"
ACT_ENCOUNTER = "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode"
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"


def _type(code: str, text: str | None = None) -> dict:
    concept: dict = {"coding": [{"system": V2_0203, "code": code}]}
    return concept | ({"text": text} if text else {})


PATIENTS = {
    "t1": {
        "resourceType": "Patient",
        "meta": {"tag": [{"system": TAGS, "code": "import-2024"}],
                 "security": [{"system": CONFIDENTIALITY, "code": "R"}]},
        "identifier": [
            {"system": CCCD, "value": "001085000001", "type": _type("NI", "Căn cước công dân")},
            {"system": BHYT, "value": "DN4010123456789", "type": _type("SB")},
        ],
        "active": True, "gender": "female", "deceasedBoolean": False,
        "telecom": [{"system": "phone", "value": "0912345678", "use": "mobile"},
                    {"system": "email", "value": "lan.nguyen@example.vn"}],
        "communication": [{"language": {"coding": [
            {"system": BCP47, "code": "vi", "display": "Tiếng Việt"}]}}],
        "address": [{"use": "home", "city": "Hà Nội"}],
    },
    "t2": {
        "resourceType": "Patient",
        "identifier": [{"system": CCCD, "value": "001085000002"},
                       {"system": BM_MRN, "value": "BM-0002", "type": _type("MR")}],
        "active": False, "gender": "male", "deceasedDateTime": "2023-05-01T08:00:00+07:00",
        "telecom": [{"system": "phone", "value": "0987654321"},
                    {"system": "email", "value": "hung@example.vn"}],
        "communication": [{"language": {"coding": [{"system": BCP47, "code": "en"}],
                                        "text": "Tiếng Anh"}}],
        "address": [{"use": "work", "city": "Huế"}],
    },
    "t3": {
        "resourceType": "Patient",
        "identifier": [{"value": "NOSYS-3"}],
        "active": True, "gender": "other", "deceasedBoolean": True,
        "telecom": [{"system": "phone", "value": "0912345678"}],
        "communication": [{"language": {"coding": [
            {"system": BCP47, "code": "fr", "display": "French"}]}}],
    },
    "t4": {
        "resourceType": "Patient",
        "meta": {"tag": [{"system": TAGS, "code": "import-2023"}]},
        "identifier": [{"system": CCCD, "value": "001085000004"}],
    },
    "t5": {
        "resourceType": "Patient",
        "identifier": [{"system": OID_SYSTEM, "value": "001085000001"}],
        "active": True, "gender": "female",
        "telecom": [{"system": "email", "value": "t5@example.vn"}],
    },
}


def _encounter(status: str, system: str, code: str, **extra) -> dict:
    return {"resourceType": "Encounter", "status": status,
            "class": {"system": system, "code": code}, **extra}


ENCOUNTERS = {
    "amb": _encounter("finished", ACT_CODE, "AMB", type=[{"coding": [
        {"system": VN_ENCOUNTER_TYPE, "code": "KHAM", "display": "Khám bệnh"}]}]),
    "imp": _encounter("in-progress", ACT_CODE, "IMP"),
    "acute": _encounter("finished", ACT_CODE, "ACUTE"),
    "vn": _encounter("cancelled", VN_CLASS, "NGOAITRU"),
    "emer": _encounter("finished", ACT_CODE, "EMER", reasonCode=[{"text": "Đau ngực"}]),
}
ALL_PATIENTS = set(PATIENTS)


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, PATIENTS | ENCOUNTERS)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"identifier": "001085000001"}, {"t1", "t5"}),
        ({"identifier": f"{CCCD}|001085000001"}, {"t1"}),
        ({"identifier": f"{OID_SYSTEM}|001085000001"}, {"t5"}),
        ({"identifier": f"{BHYT}|001085000001"}, set()),
        ({"identifier": "|NOSYS-3"}, {"t3"}),
        ({"identifier": "NOSYS-3"}, {"t3"}),
        ({"identifier": "|001085000001"}, set()),
        ({"identifier": f"{CCCD}|"}, {"t1", "t2", "t4"}),
        ({"identifier": f"{BM_MRN}|"}, {"t2"}),
        ({"identifier": f"{CCCD}|001085000002,{BHYT}|DN4010123456789"}, {"t1", "t2"}),
        ({"identifier": "00108500000"}, set()),
        ({"identifier:of-type": f"{V2_0203}|MR|BM-0002"}, {"t2"}),
        ({"identifier:of-type": f"{V2_0203}|NI|001085000001"}, {"t1"}),
        ({"identifier:of-type": f"{V2_0203}|MR|001085000001"}, set()),
        ({"identifier:of-type": f"{V2_0203}|SB|DN4010123456789"}, {"t1"}),
        ({"identifier:text": "can cuoc"}, {"t1"}),
        ({"identifier:missing": "true"}, set()),
    ],
)
def test_identifier(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"gender": "female"}, {"t1", "t5"}),
        ({"gender": f"{GENDER}|female"}, {"t1", "t5"}),
        ({"gender": "male,other"}, {"t2", "t3"}),
        ({"gender": "unknown"}, set()),
        ({"gender:not": "male"}, {"t1", "t3", "t4", "t5"}),
        ({"gender:not": "female"}, {"t2", "t3", "t4"}),
        ({"gender:missing": "true"}, {"t4"}),
        ({"gender:missing": "false"}, {"t1", "t2", "t3", "t5"}),
        ({"gender:in": GENDER_VS}, {"t1", "t2", "t3", "t5"}),
        ({"active": "true"}, {"t1", "t3", "t5"}),
        ({"active": "false"}, {"t2"}),
        ({"active:not": "true"}, {"t2", "t4"}),
        ({"active:missing": "true"}, {"t4"}),
        # deceased = "Patient.deceased.exists() and Patient.deceased != false".
        ({"deceased": "true"}, {"t2", "t3"}),
        ({"deceased": "false"}, {"t1", "t4", "t5"}),
        ({"address-use": "home"}, {"t1"}),
        ({"address-use": "home,work"}, {"t1", "t2"}),
    ],
)
def test_code_and_boolean(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"phone": "0912345678"}, {"t1", "t3"}),
        ({"phone": "0987654321"}, {"t2"}),
        ({"phone": "hung@example.vn"}, set()),
        ({"email": "hung@example.vn"}, {"t2"}),
        ({"email": "0912345678"}, set()),
        ({"email": "lan.nguyen@example.vn,t5@example.vn"}, {"t1", "t5"}),
        ({"telecom": "0987654321"}, {"t2"}),
        ({"telecom": "t5@example.vn"}, {"t5"}),
        ({"phone:missing": "true"}, {"t4", "t5"}),
        ({"email:missing": "true"}, {"t3", "t4"}),
        ({"telecom:missing": "false"}, {"t1", "t2", "t3", "t5"}),
    ],
)
def test_contact_points(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"language": "vi"}, {"t1"}),
        ({"language": f"{BCP47}|en"}, {"t2"}),
        ({"language": f"{BCP47}|"}, {"t1", "t2", "t3"}),
        ({"language": "|vi"}, set()),
        ({"language:not": "vi"}, {"t2", "t3", "t4", "t5"}),
        ({"language:text": "tieng"}, {"t1", "t2"}),
        ({"language:text": "TIẾNG VIỆT"}, {"t1"}),
        ({"language:text": "french"}, {"t3"}),
        ({"language:text": "english"}, set()),
        # Combining marks alone fold to nothing: no text, ignored as `language:text=` is (as
        # the prefix '' they matched every language with a text).
        ({"language:text": "\u0301"}, ALL_PATIENTS),
        ({"language:text": "\u0301,french"}, {"t3"}),
    ],
)
def test_codeable_concept_and_text(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"_tag": f"{TAGS}|import-2024"}, {"t1"}),
        ({"_tag": "import-2023"}, {"t4"}),
        ({"_tag": f"{TAGS}|"}, {"t1", "t4"}),
        ({"_tag:not": f"{TAGS}|import-2024"}, ALL_PATIENTS - {"t1"}),
        ({"_tag:missing": "true"}, {"t2", "t3", "t5"}),
        ({"_security": f"{CONFIDENTIALITY}|R"}, {"t1"}),
        ({"_security": "R"}, {"t1"}),
        ({"_security": f"{CONFIDENTIALITY}|N"}, set()),
        ({"_id": "{t1}"}, {"t1"}),
        ({"_id": "{t1},{t3}"}, {"t1", "t3"}),
        ({"_id:not": "{t1}"}, ALL_PATIENTS - {"t1"}),
    ],
)
def test_meta_and_id(client, ids, params, keys):
    params = {name: value.format(**ids) for name, value in params.items()}
    assert found(client, "/Patient", params) == expected(ids, keys)


def test_id_matching_is_case_sensitive(client, ids):
    swapped = ids["t1"].swapcase()
    if swapped != ids["t1"]:
        assert found(client, "/Patient", {"_id": swapped}) == set()


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"class": "AMB"}, {"amb"}),
        ({"class": f"{ACT_CODE}|IMP"}, {"imp"}),
        ({"class": f"{ACT_CODE}|"}, {"amb", "imp", "acute", "emer"}),
        ({"class": f"{VN_CLASS}|NGOAITRU"}, {"vn"}),
        ({"class:in": ACT_ENCOUNTER}, {"amb", "imp", "acute", "emer"}),
        ({"class:not-in": ACT_ENCOUNTER}, {"vn"}),
        ({"class:not": "AMB"}, {"imp", "acute", "vn", "emer"}),
        ({"status": "finished"}, {"amb", "acute", "emer"}),
        ({"status": "finished,cancelled"}, {"amb", "acute", "emer", "vn"}),
        ({"status:not": "finished"}, {"imp", "vn"}),
        ({"status:in": "http://hl7.org/fhir/ValueSet/encounter-status"},
         {"amb", "imp", "acute", "vn", "emer"}),
        ({"type": f"{VN_ENCOUNTER_TYPE}|KHAM"}, {"amb"}),
        ({"type:text": "kham"}, {"amb"}),
        ({"type:missing": "true"}, {"imp", "acute", "vn", "emer"}),
        ({"reason-code:text": "dau nguc"}, {"emer"}),
        ({"reason-code:text": "ĐAU"}, {"emer"}),
    ],
)
def test_encounter_tokens_and_value_sets(client, ids, params, keys):
    assert found(client, "/Encounter", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/Encounter", "class:in", "http://example.org/fhir/ValueSet/does-not-exist"),
        ("/Encounter", "class:not-in", "http://example.org/fhir/ValueSet/does-not-exist"),
        ("/Patient", "gender:in", "http://hl7.org/fhir/ValueSet/no-such-value-set"),
        ("/Patient", "identifier:of-type", f"{V2_0203}|MR"),
        # "All 3 parts must be present": a type without its code, or no value, is no search.
        ("/Patient", "identifier:of-type", f"{V2_0203}|MR|"),
        ("/Patient", "identifier:of-type", f"{V2_0203}||BM-0002"),
        ("/Patient", "identifier:of-type", "||"),
        # `:of-type` reads an Identifier's type: a code or a CodeableConcept has none.
        ("/Patient", "gender:of-type", f"{V2_0203}|MR|female"),
        ("/Encounter", "class:of-type", f"{V2_0203}|MR|AMB"),
        ("/Patient", "active:missing", "maybe"),
        # Token modifiers that mean nothing on an id were ignored: _id:text=x searched _id=x.
        ("/Patient", "_id:text", "t1"),
        ("/Patient", "_id:below", "t"),
        ("/Patient", "_id:of-type", f"{V2_0203}|MR|t1"),
        ("/Patient", "_id:in", GENDER_VS),
    ],
)
def test_an_unusable_token_value_is_a_400_naming_the_parameter(client, ids, path, name, value):
    response = client.get(path, params={name: value})
    assert_bad_parameter(response, name.split(":")[0])


# Identifiers whose values hold the characters the spec lets clients escape.
ESCAPED_SYSTEM = "http://benhvien-bachmai.vn/fhir/sid/escaped"
ESCAPED = {
    "a|b": ESCAPED_SYSTEM, "c|d": None, "e,f": ESCAPED_SYSTEM, "g$h": None,
    "back\\slash": ESCAPED_SYSTEM, "k\\|l": None,
}


@pytest.fixture(scope="module")
def escaped_ids(client) -> dict[str, str]:
    return load(client, {value: {"resourceType": "Basic", "code": {"text": f"mã {value}"},
                                 "identifier": [{"value": value} | (
                                     {"system": system} if system else {})]}
                         for value, system in ESCAPED.items()})


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        # `\|` in a code without a system is the code `c|d`, not system `c` and code `d`.
        ("c\\|d", {"c|d"}),
        ("|c\\|d", {"c|d"}),
        (f"{ESCAPED_SYSTEM}|e\\,f", {"e,f"}),
        (f"c\\|d,{ESCAPED_SYSTEM}|e\\,f", {"c|d", "e,f"}),
        ("g\\$h", {"g$h"}),
        (f"{ESCAPED_SYSTEM}|back\\\\slash", {"back\\slash"}),
        ("k\\\\\\|l", {"k\\|l"}),
        ("k\\|l", set()),
        (f"{ESCAPED_SYSTEM}|a\\|b", {"a|b"}),
    ],
)
def test_escaped_separators_in_a_token_value(client, escaped_ids, value, keys):
    """`\\,` `\\|` `\\$` `\\\\` stand for the characters themselves in every part of a value
    (http://hl7.org/fhir/R4/search.html#escaping)."""
    assert found(client, "/Basic", {"identifier": value}) == expected(escaped_ids, keys)


@pytest.mark.parametrize(
    ("value", "keys"), [("mã e\\,f", {"e,f"}), ("mã c\\|d", {"c|d"}), ("mã g$h", {"g$h"})]
)
def test_escaped_separators_in_token_text(client, escaped_ids, value, keys):
    assert found(client, "/Basic", {"code:text": value}) == expected(escaped_ids, keys)


# Codings in the case a code system writes its code and in another (search.html#token: "Match
# is case sensitive unless the underlying semantics ... indicate that the token should be
# interpreted case-insensitively (see, e.g. CodeSystem.caseSensitive)"). The v2 tables say
# nothing of case, so codes are accepted in any case ($validate-code takes `lab` as v2-0074's
# `LAB`); observation-category says its codes are case sensitive.
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CASES = {
    f"{system}|{code}": {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": system, "code": code}]}}
    for system, code in ((V2_0074, "LAB"), (V2_0074, "lab"), (V2_0074, "HM"),
                         (OBSERVATION_CATEGORY, "laboratory"), (OBSERVATION_CATEGORY, "Laboratory"))
}


@pytest.fixture(scope="module")
def case_ids(client) -> dict[str, str]:
    return load(client, CASES)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"code": f"{V2_0074}|LAB"}, {f"{V2_0074}|LAB", f"{V2_0074}|lab"}),
        ({"code": f"{V2_0074}|lab"}, {f"{V2_0074}|LAB", f"{V2_0074}|lab"}),
        ({"code": f"{V2_0074}|Lab,{V2_0074}|hm"}, {f"{V2_0074}|LAB", f"{V2_0074}|lab",
                                                  f"{V2_0074}|HM"}),
        ({"code:below": f"{V2_0074}|lab"}, {f"{V2_0074}|LAB", f"{V2_0074}|lab"}),
        # A code system saying its codes are case sensitive is searched so.
        ({"code": f"{OBSERVATION_CATEGORY}|laboratory"}, {f"{OBSERVATION_CATEGORY}|laboratory"}),
        ({"code": f"{OBSERVATION_CATEGORY}|LABORATORY"}, set()),
        # Without a system, the code is as written.
        ({"code": "lab"}, {f"{V2_0074}|lab"}),
    ],
)
def test_a_code_system_that_is_not_case_sensitive_is_searched_in_any_case(
        client, case_ids, params, keys):
    ids = ",".join(case_ids.values())
    assert found(client, "/Observation", params | {"_id": ids}) == expected(case_ids, keys)
    if "code" in params:  # :not finds what the code does not, case alike
        assert found(client, "/Observation", {"code:not": params["code"], "_id": ids}) == (
            expected(case_ids, set(CASES) - keys))
