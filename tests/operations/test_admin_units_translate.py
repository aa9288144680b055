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
