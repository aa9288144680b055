"""Identifier formats on write: a malformed value in a known Vietnamese system is a 422
naming the rule, and nothing is stored; the three BHYT forms in use since 2025 are taken."""

import uuid

import pytest
from api.bundle_helpers import post_entry, submit, transaction
from api.helpers import BHYT, CCCD, create, created, new_patient, search_ids, unique_cccd

MOH_BHYT = "http://fhir.ehealth.gov.vn/core/sid/insurance_number"
BHXH = "http://fhir.hl7.org.vn/core/sid/bhxh"


def _with_bhyt(value: str, system: str = BHYT) -> dict:
    patient = new_patient()
    patient["identifier"].append({"system": system, "value": value})
    return patient


@pytest.mark.parametrize("value", [
    "DN4010123456789",  # the card: group, benefit level, province, BHXH code
    "0101234567",  # the 10-digit BHXH code
    "001085012345",  # the CCCD number
])
def test_the_three_bhyt_forms_are_stored(client, value):
    assert create(client, _with_bhyt(value)).status_code == 201


def test_a_bhyt_card_and_its_bhxh_code_find_each_other(client):
    """A card stored as DN4 79 + code was not found by its holder's 10-digit BHXH code, which
    since 2025 is a BHYT number of its own (probe BG); nor a code by the card."""
    code = str(uuid.uuid4().int)[:10]
    card = created(client, _with_bhyt(f"DN479{code}", MOH_BHYT))
    by_code = created(client, _with_bhyt(code))
    assert set(search_ids(client, "Patient", identifier=f"{BHYT}|{code}")) == {
        card["id"], by_code["id"]}
    assert set(search_ids(client, "Patient", identifier=f"{MOH_BHYT}|HT379{code}")) == {
        card["id"], by_code["id"]}
    # The 10-digit BHYT number is that BHXH code (probe CF).
    assert set(search_ids(client, "Patient", identifier=f"{BHXH}|{code}")) == {
        card["id"], by_code["id"]}
    assert set(search_ids(client, "Patient", identifier=f"{BHYT}|DN479{code}")) == {
        card["id"], by_code["id"]}


@pytest.mark.parametrize(("system", "value"), [
    (BHYT, "ZZ4010123456789"), (MOH_BHYT, "DN9010123456789"), (BHYT, "12345"),
    (CCCD, "999085012345"), (CCCD, "00108501234"),
])
def test_a_malformed_value_is_422_naming_the_rule(client, system, value):
    patient = _with_bhyt(value, system) if system != CCCD else new_patient(value)
    response = create(client, patient)
    assert response.status_code == 422, response.text
    [issue] = [i for i in response.json()["issue"] if i["severity"] == "error"]
    assert issue["expression"][0].startswith("Patient.identifier[")
    assert value in issue["diagnostics"]
    found = client.get("/Patient", params={"identifier": value, "_summary": "count"}).json()
    assert found["total"] == 0


def test_a_transaction_with_one_malformed_identifier_stores_nothing(client):
    good, bad = new_patient(), _with_bhyt("XX0000")
    response = submit(client, transaction(post_entry(good), post_entry(bad)))
    assert response.status_code == 422, response.text
    value = good["identifier"][0]["value"]
    assert client.get("/Patient", params={"identifier": value, "_summary": "count"}
                      ).json()["total"] == 0


def test_vietnamese_message_for_a_malformed_cccd(client):
    response = create(client, new_patient("999085012345"), **{"Accept-Language": "vi"})
    assert response.status_code == 422
    english = create(client, new_patient("999085012345")).json()["issue"][0]["diagnostics"]
    assert response.json()["issue"][0]["diagnostics"] != english


@pytest.mark.parametrize(("value", "vietnamese"), [
    ("999085012345", "999 (chữ số 1-3) không phải là mã tỉnh"),
    ("001885012345", "năm chưa tới"),  # century code 8: born in 2385
    ("DN6790123456789", "mức hưởng 6 (ký tự 3) không thuộc 1-5"),
    ("ZZ4790123456789", "'ZZ' không phải là mã đối tượng"),
    ("12345", "có 5 ký tự, không phải 10, 12 hay 15"),
])
def test_what_is_wrong_with_a_number_is_said_in_vietnamese_too(client, value, vietnamese):
    """The whole message, the rule the value breaks included, in the client's language."""
    system = CCCD if len(value) == 12 and value.isdigit() else BHYT
    response = create(client, new_patient(value, system=system), **{"Accept-Language": "vi"})
    assert response.status_code == 422, response.text
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert vietnamese in diagnostics, diagnostics
    # The kind of number named in Vietnamese too, not as "CCCD number".
    assert "number" not in diagnostics, diagnostics
    assert ("số định danh cá nhân (CCCD)" if system == CCCD else "số thẻ BHYT") in diagnostics


def test_a_refused_transaction_says_so_in_vietnamese(client):
    """Its entries' issues kept their Vietnamese through being placed in the Bundle (a
    batch's entry outcomes had it; the transaction's OperationOutcome was English)."""
    response = submit(client, transaction(post_entry(new_patient()),
                                          post_entry(_with_bhyt("XX1"))),
                      **{"Accept-Language": "vi"})
    assert response.status_code == 422, response.text
    issue = response.json()["issue"][0]
    assert issue["diagnostics"].startswith("Bundle.entry[1] (POST Patient): ")
    assert "số thẻ BHYT" in issue["diagnostics"], issue
    assert issue["expression"][0].startswith("Bundle.entry[1].resource.identifier["), issue


def test_a_new_patient_cccd_helper_value_is_well_formed(client):
    assert create(client, new_patient(unique_cccd())).status_code == 201


@pytest.mark.parametrize(("gender", "born", "warned"), [
    ("male", "1985-03-12", set()),
    ("female", "1985-03-12", {"personal-id-sex"}),
    ("male", "1958-03-12", {"personal-id-birth-year"}),
    ("female", "2085", {"personal-id-sex", "personal-id-birth-year"}),
    ("unknown", None, set()),
])
def test_a_personal_id_disagreeing_with_the_patient_is_a_warning(client, gender, born,
                                                                  warned):
    """Its 4th digit gives the sex and century, the 5th and 6th the birth year: a number
    that disagrees has one of them mistyped. Stored, with a warning saying which."""
    value = "001085" + unique_cccd()[6:]  # a man born in 1985
    patient = new_patient(value, gender=gender, birthDate=born)
    if born is None:
        del patient["birthDate"]
    response = create(client, patient, Prefer="return=OperationOutcome")
    assert response.status_code == 201, response.text
    warnings = [i for i in response.json()["issue"] if i["severity"] == "warning"]
    assert {message_id(i) for i in warnings} == warned, warnings
    assert all(i["code"] == "business-rule" and i["expression"] == [
        "Patient.identifier[0].value"] for i in warnings), warnings
    vietnamese = create(client, {**patient, "identifier": [
        {"system": CCCD, "value": "001085" + unique_cccd()[6:]}]},
        Prefer="return=OperationOutcome", **{"Accept-Language": "vi"}).json()["issue"]
    assert all("Số định danh cá nhân" in i["diagnostics"] for i in vietnamese
               if i["severity"] == "warning")


def message_id(issue: dict) -> str:
    return next(e["valueString"] for e in issue["extension"] if e["url"].endswith("message-id"))
