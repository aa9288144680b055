"""Administrative units after 1 July 2025 over HTTP: `ConceptMap/$translate` turns a
pre-2025 province code into its new unit, and the current list validates codes."""

import pytest

UNITS = "http://fhir.ehealth.gov.vn/core/CodeSystem/vn-core-administrative-address"
UNITS_VS = "http://fhir.ehealth.gov.vn/core/ValueSet/vn-core-administrative-address"
MAP = "urn:fhir-exchange-server:ConceptMap/vn-administrative-units-2025"


def _parameters(body: dict) -> dict:
    return {p["name"]: p for p in body["parameter"] if p["name"] != "match"}


def _matches(body: dict) -> list[dict]:
    return [{part["name"]: part for part in p["part"]}
            for p in body["parameter"] if p["name"] == "match"]


@pytest.mark.parametrize(("old", "new"), [("02", "08"), ("77", "79")])
def test_a_merged_province_translates_to_its_new_province(client, old, new):
    """Hà Giang (02) became part of Tuyên Quang (08); Bà Rịa - Vũng Tàu (77) of Hồ Chí Minh
    City (79)."""
    response = client.get("/ConceptMap/$translate", params={
        "url": MAP, "system": UNITS, "code": old})
    assert response.status_code == 200, response.text
    body = response.json()
    assert _parameters(body)["result"]["valueBoolean"] is True
    [match] = _matches(body)
    assert match["concept"]["valueCoding"]["code"] == new
    assert match["equivalence"]["valueCode"] == "wider"


def test_the_current_list_has_34_provinces_and_validates_codes(client):
    expansion = client.get("/ValueSet/$expand", params={"url": UNITS_VS, "count": 0}).json()
    assert expansion["expansion"]["total"] > 3000  # provinces and their communes
    valid = client.get("/CodeSystem/$validate-code", params={"url": UNITS, "code": "79"}).json()
    assert _parameters(valid)["result"]["valueBoolean"] is True
    gone = client.get("/CodeSystem/$validate-code", params={"url": UNITS, "code": "02"}).json()
    assert _parameters(gone)["result"]["valueBoolean"] is False


@pytest.mark.parametrize(("date", "version", "provinces_code"), [
    ("2025-06-01", "2025-06-30", "77"), ("2025-06-30T23:00:00+07:00", "2025-06-30", "77"),
    ("2025-07-01", "2025-07-01", "79"), ("2026", "2025-07-01", "79"),
    ("1990-01-01", "2025-06-30", "77")])
def test_expand_on_a_date_uses_the_list_in_force_then(client, date, version, provinces_code):
    """valueset-operation-expand.html `date`: "use the value set / code system definitions as
    they were on the given date": the units of before the reform for a June 2025 encounter
    (before the first list held, the first one), and the date recorded in the expansion."""
    answer = client.get("/ValueSet/$expand", params={"url": UNITS_VS, "date": date,
                                                     "filter": provinces_code})
    assert answer.status_code == 200, answer.text
    expanded = answer.json()
    assert expanded["version"] == version
    assert {"name": "date", "valueDateTime": date} in expanded["expansion"]["parameter"]
    assert provinces_code in {c["code"] for c in expanded["expansion"]["contains"]}
    checked = client.get("/ValueSet/$validate-code", params={
        "url": UNITS_VS, "date": date, "system": UNITS, "code": "77"}).json()
    assert _parameters(checked)["result"]["valueBoolean"] is (version == "2025-06-30")


def test_a_date_that_is_no_date_time_is_400(client):
    answer = client.get("/ValueSet/$expand", params={"url": UNITS_VS, "date": "not-a-date"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["issue"][0]["expression"] == ["date"]


def test_a_code_of_the_version_named_is_not_called_unknown(client):
    """77 (Bà Rịa - Vũng Tàu) is a code of the list of before the reform: not in the current
    value set, but no "Unknown code"."""
    checked = client.get("/ValueSet/$validate-code", params={
        "url": UNITS_VS, "system": UNITS, "code": "77", "systemVersion": "2025-06-30"}).json()
    message = _parameters(checked)["message"]["valueString"]
    assert _parameters(checked)["result"]["valueBoolean"] is False
    assert "Unknown code" not in message and "version 2025-06-30" in message, message
