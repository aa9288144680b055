"""Messages in English and Vietnamese from one catalog, and how an issue names the profile
rule that failed in an OperationOutcome (operationoutcome-message-id and
operationoutcome-authority of the HL7 extensions pack)."""

import string

import pytest
from profile_builders import build, registered

from fhir_server.conformance.messages import MESSAGES, issue
from fhir_server.conformance.validation import validation_issues
from fhir_server.errors import AUTHORITY, MESSAGE_ID, Issue

VIETNAMESE_LETTERS = set("ăâđêôơưáàảãạếềểễệóòỏõọốồổỗộớờởỡợíìỉĩịúùủũụứừửữựýỳỷỹỵ")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("message_id", sorted(MESSAGES))
def test_every_message_has_both_languages_with_the_same_fields(message_id: str):
    english, vietnamese = MESSAGES[message_id]
    assert _fields(english) == _fields(vietnamese)
    assert VIETNAMESE_LETTERS & set(vietnamese.lower())  # written with diacritics


def test_a_profile_issue_in_vietnamese_and_in_fhir():
    profile = build("Patient", {"Patient.birthDate": {"min": 1}})
    with registered(profile) as [url]:
        [issue] = validation_issues({"resourceType": "Patient"}, [url])
    english, vietnamese = issue.to_fhir(), issue.to_fhir("vi-VN")
    assert english["diagnostics"] == (
        f"Missing Patient.birthDate: the profile requires it (min 1) (profile {url}, element "
        "Patient.birthDate)")
    assert vietnamese["diagnostics"] == (
        "Thiếu Patient.birthDate: hồ sơ (profile) bắt buộc phần tử này (tối thiểu 1) (hồ sơ "
        f"(profile) {url}, phần tử Patient.birthDate)")
    assert english["extension"] == vietnamese["extension"] == [
        {"url": MESSAGE_ID, "valueString": "profile-missing"},
        {"url": AUTHORITY, "valueUri": f"{url}#Patient.birthDate"},
    ]
    assert english["expression"] == ["Patient.birthDate"]


def test_base_messages_keep_their_english_and_have_vietnamese():
    [issue] = validation_issues({"resourceType": "Patient", "birthDate": "2020-13-01"})
    assert issue.diagnostics.startswith("Invalid date '2020-13-01' at Patient.birthDate: ")
    assert issue.to_fhir("vi")["diagnostics"] == (
        "Giá trị date '2020-13-01' tại Patient.birthDate không hợp lệ: cần có dạng YYYY, "
        "YYYY-MM hoặc YYYY-MM-DD")
    assert issue.message_id == "invalid-primitive"
    [unknown] = validation_issues({"resourceType": "Patient", "foo": 1})
    assert unknown.to_fhir("en")["diagnostics"] == "Unknown element 'foo' at Patient"
    assert unknown.to_fhir("vi")["diagnostics"] == "Phần tử 'foo' tại Patient không xác định"


def test_an_issue_without_a_translation_stays_english():
    assert Issue("plain").to_fhir("vi") == {"severity": "error", "code": "invalid",
                                            "diagnostics": "plain"}


def test_a_catalog_issue_has_both_languages_and_its_id():
    made = issue("validate.ok", "informational", severity="information")
    assert made.to_fhir("vi")["diagnostics"] == "Không phát hiện vấn đề nào khi kiểm tra hợp lệ"
    assert made.to_fhir("en")["diagnostics"] == "No issues detected during validation"
    assert made.message_id == "validate.ok"
