"""The nesting of a Vietnamese administrative address (VN Core's
`extension-administrative-address`): a commune named under another province than its own is
a warning, wherever the Address is; units that nest, and partial addresses, are not."""

import pytest
from api.vn_core import VN_CORE_PATIENT, vn_core_patient

from fhir_server.conformance.admin_addresses import (
    ADMINISTRATIVE_ADDRESS,
    UNITS,
    address_issues,
)

HANOI, HCMC = "01", "79"
HOAN_KIEM = "00070"  # Phường Hoàn Kiếm, Hà Nội (2025-07-01)


def _address(**parts: str) -> dict:
    return {"text": "địa chỉ", "extension": [{"url": ADMINISTRATIVE_ADDRESS, "extension": [
        {"url": part, "valueCodeableConcept": {"coding": [{"system": UNITS, "code": code}]}}
        for part, code in parts.items()]}]}


@pytest.mark.parametrize(("parts", "warned"), [
    ({"state": HANOI, "ward": HOAN_KIEM}, False),
    ({"city": HANOI, "ward": HOAN_KIEM}, False),
    ({"ward": HOAN_KIEM}, False),
    ({"state": HCMC}, False),
    ({"state": HCMC, "ward": HOAN_KIEM}, True),
    ({"ward": HOAN_KIEM, "state": HCMC}, True),  # the order of the parts does not matter
])
def test_a_commune_outside_the_province_named_is_a_warning(parts, warned):
    issues = address_issues({"resourceType": "Patient", "address": [_address(**parts)]})
    assert [(i.severity, i.code, i.message_id) for i in issues] == (
        [("warning", "business-rule", "address-unit-outside")] if warned else [])
    if warned:
        assert "00070 (Phường Hoàn Kiếm)" in issues[0].diagnostics
        assert issues[0].expression[0].startswith("Patient.address[0].extension[0].extension[")


def test_addresses_anywhere_in_a_resource_are_checked():
    organization = {"resourceType": "Organization", "contact": [
        {"address": _address(state=HCMC, ward=HOAN_KIEM)}]}
    [found] = address_issues(organization)
    assert found.expression == ("Organization.contact[0].address.extension[0].extension[1]",)


def test_the_write_is_stored_and_the_client_warned(client):
    patient = {"resourceType": "Patient", "name": [{"text": "Nguyễn Thị Nhung"}],
               "address": [_address(state=HCMC, ward=HOAN_KIEM)]}
    response = client.post("/Patient", json=patient, headers={
        "Content-Type": "application/fhir+json", "Prefer": "return=OperationOutcome"})
    assert response.status_code == 201, response.text
    warnings = [i for i in response.json()["issue"] if i["severity"] == "warning"]
    assert [i["code"] for i in warnings] == ["business-rule"], warnings


def test_an_old_province_is_refused_with_the_unit_it_is_now_part_of(client):
    """`77` (Bà Rịa–Vũng Tàu) is a province of the list before 1 July 2025 (version
    2025-06-30), merged into `79`: the refusal names 79 and the ConceptMap that says so."""
    address = _address(state="77")
    coding = address["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]
    coding["version"] = "2025-06-30"
    patient = vn_core_patient(address=[{**address, "country": "VN"}])
    response = client.post("/Patient/$validate", json=patient,
                           params={"profile": VN_CORE_PATIENT},
                           headers={"Content-Type": "application/fhir+json"})
    issues = [i for i in response.json()["issue"] if "'77'" in i["diagnostics"]]
    assert len(issues) == 1, response.text
    assert "maps to 79" in issues[0]["diagnostics"]
    assert "vn-administrative-units-2025" in issues[0]["diagnostics"]


@pytest.mark.parametrize(("version", "refused"), [
    ("2025-06-30", True),  # 80 was Long An, merged into Tây Ninh (now 80)
    ("2025-07-01", False),
    ("1.0", False),  # the guide's stub of the code system: no codes, says nothing of them
    (None, False),
])
def test_a_code_is_read_in_the_version_the_coding_names(client, version, refused):
    address = _address(state="80")
    coding = address["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]
    if version:
        coding["version"] = version
    patient = vn_core_patient(address=[{**address, "country": "VN"}])
    response = client.post("/Patient/$validate", json=patient,
                           params={"profile": VN_CORE_PATIENT},
                           headers={"Content-Type": "application/fhir+json"})
    errors = [i for i in response.json()["issue"]
              if i["severity"] == "error" and "'80'" in i["diagnostics"]]
    assert len(errors) == refused, response.text
    if refused:
        assert errors[0]["code"] == "code-invalid"
        assert "version 2025-06-30" in errors[0]["diagnostics"]
        assert "version 2025-07-01" in errors[0]["diagnostics"]


@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "unversioned"])
@pytest.mark.parametrize("marked", [{"use": "old"}, {"period": {"end": "2025-06-30"}}])
def test_a_past_address_keeps_its_old_units_with_a_warning(client, marked, versioned):
    """An address the Patient marks as no longer in use keeps the units it had (rewriting it
    into today's would falsify it): the old province is a warning there, an error in a
    current address."""
    old = _address(state="77")
    if versioned:
        old["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["version"] = (
            "2025-06-30")
    current = {**_address(state=HANOI, ward=HOAN_KIEM), "country": "VN"}
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=OperationOutcome"}
    past = vn_core_patient(address=[current, {**old, "country": "VN", **marked}])
    past["meta"] = {"profile": [VN_CORE_PATIENT]}
    response = client.post("/Patient", json=past, headers=headers)
    assert response.status_code == 201, response.text
    about = [i for i in response.json()["issue"] if "'77'" in i["diagnostics"]]
    assert all(i["severity"] == "warning" for i in about), about
    [kept] = [i for i in about if "no longer in use" in i["diagnostics"]]
    assert kept["expression"][0].startswith("Patient.address[1].extension[0]"), kept
    still = vn_core_patient(address=[current, {**old, "country": "VN"}])
    still["meta"] = {"profile": [VN_CORE_PATIENT]}
    assert client.post("/Patient", json=still, headers=headers).status_code == 422
    # A code of no list, past or present, is no unit of a past address either.
    invented = _address(state="ZZ")
    made_up = vn_core_patient(address=[current, {**invented, "country": "VN", **marked}])
    made_up["meta"] = {"profile": [VN_CORE_PATIENT]}
    assert client.post("/Patient", json=made_up, headers=headers).status_code == 422


def test_a_district_in_a_current_address_is_advised_away(client):
    """Since 1 July 2025 there is no district level: its successor is a province, and the
    advice is to leave the part out, not to put the province's code in it."""
    address = {**_address(state=HANOI, ward=HOAN_KIEM, district="001"), "country": "VN"}
    response = client.post("/Patient/$validate", json=vn_core_patient(address=[address]),
                           params={"profile": VN_CORE_PATIENT},
                           headers={"Content-Type": "application/fhir+json"})
    [district] = [i for i in response.json()["issue"] if "district" in i["diagnostics"]]
    assert "leave the district part out" in district["diagnostics"], district
    assert "maps to" not in district["diagnostics"]
