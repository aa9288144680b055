"""Number search, and the precision of numbers on quantities
(http://hl7.org/fhir/R4/search.html#number, #prefix): a search value stands for the range its
significant figures imply (`0.5` is [0.45, 0.55)), and `sa`/`eb` find targets wholly above or
below that range. `RiskAssessment.prediction.probability` is a decimal or a Range: a Range
is compared as a range ("the target is explicitly a range"), an open end infinite.
"""

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from search.helpers import (
    OTHER_DIGITS,
    UCUM,
    assert_bad_parameter,
    expected,
    found,
    load,
    ordered_ids,
)

TAG = f"urn:test|{uuid.uuid4().hex}"
_META = {"tag": [{"system": "urn:test", "code": TAG.partition("|")[2]}]}


def _risk(**probability) -> dict:
    prediction = [{f"probability{kind}": value for kind, value in probability.items()}]
    return {"resourceType": "RiskAssessment", "meta": _META, "status": "final",
            "subject": {"reference": "Patient/p1"}} | ({"prediction": prediction}
                                                       if probability else {})


def _ends(low: float | None, high: float | None) -> dict:
    """A probability Range: its ends are percentages (ras-1)."""
    return {end: {"value": value, "system": UCUM, "code": "%"}
            for end, value in (("low", low), ("high", high)) if value is not None}


def _weight(value: float) -> dict:
    return {"resourceType": "Observation", "meta": _META, "status": "final",
            "code": {"text": "weight"},
            "valueQuantity": {"value": value, "system": UCUM, "code": "kg", "unit": "kg"}}


RISKS = {
    "p0.3": _risk(Decimal=0.3),
    "p0.52": _risk(Decimal=0.52),
    "p0.7": _risk(Decimal=0.7),
    "r0.4-0.8": _risk(Range=_ends(0.4, 0.8)),
    "r0.9-": _risk(Range=_ends(0.9, None)),
    "none": _risk(),
}
WEIGHTS = {f"w{value}": _weight(value) for value in (99.4, 99.7, 100, 100.2, 100.6)}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, RISKS | WEIGHTS)


@pytest.mark.parametrize(("value", "keys"), [
    ("0.5", {"p0.52"}),  # [0.45, 0.55) holds 0.52, not a Range reaching beyond it
    ("0.52", {"p0.52"}),
    ("gt0.5", {"p0.52", "p0.7", "r0.4-0.8", "r0.9-"}),
    ("ge0.8", {"r0.4-0.8", "r0.9-"}),
    ("lt0.5", {"p0.3", "r0.4-0.8"}),
    ("sa0.5", {"p0.7", "r0.9-"}),  # 0.52 is in 0.5's range, the Range reaches below it
    ("eb0.5", {"p0.3"}),
    ("ne0.7", {"p0.3", "p0.52", "r0.4-0.8", "r0.9-"}),
    ("0.3,0.7", {"p0.3", "p0.7"}),
])
def test_probability_decimal_or_range(client, ids, value, keys):
    assert found(client, "/RiskAssessment", {"probability": value, "_tag": TAG}) == (
        expected(ids, keys))


def test_a_range_is_a_value_for_missing_and_sort(client, ids):
    assert found(client, "/RiskAssessment", {"probability:missing": "true", "_tag": TAG}) == (
        expected(ids, {"none"}))
    assert found(client, "/RiskAssessment", {"probability:missing": "false", "_tag": TAG}) == (
        expected(ids, set(RISKS) - {"none"}))
    # Ascending by the least value (a Range's low end), descending by the greatest (its
    # high end); none first ascending, as MongoDB orders a missing value.
    ascending = ["none", "p0.3", "r0.4-0.8", "p0.52", "p0.7", "r0.9-"]
    descending = ["r0.9-", "r0.4-0.8", "p0.7", "p0.52", "p0.3", "none"]
    for sort, order in (("probability", ascending), ("-probability", descending)):
        assert ordered_ids(client, "/RiskAssessment", {"_sort": sort, "_tag": TAG}) == [
            ids[key] for key in order], sort


@pytest.mark.parametrize(("value", "keys"), [
    ("100", {"w99.7", "w100", "w100.2"}),  # [99.5, 100.5)
    ("sa100", {"w100.6"}),
    ("eb100", {"w99.4"}),
    ("gt100", {"w100.2", "w100.6"}),
    ("lt100", {"w99.4", "w99.7"}),
    (f"sa100|{UCUM}|kg", {"w100.6"}),
    (f"eb100000|{UCUM}|g", {"w99.4", "w99.7"}),  # [99,999.5, 100,000.5) g
])
def test_quantity_prefixes_use_the_precision_of_the_value(client, ids, value, keys):
    assert found(client, "/Observation", {"value-quantity": value, "_tag": TAG}) == (
        expected(ids, keys))



@pytest.mark.parametrize(("path", "name", "value"), [
    ("/Observation", "value-quantity", "1_0_0"),
    ("/Observation", "value-quantity", "\u0661\u0660\u0660"),  # Arabic-Indic 100
    ("/Observation", "value-quantity", "\uff11\uff10\uff10"),  # full-width 100
    ("/Observation", "value-quantity", f"gt\u0661\u0660\u0660|{UCUM}|kg"),
    ("/Observation", "value-quantity", "1e\u0662"),
    ("/RiskAssessment", "probability", "0.\u0665"),
    ("/Observation", "code-value-quantity", "weight$\uff11\uff10\uff10"),
    ("/Location", "near", "\u0661\u0660|106.7"),
    ("/Location", "near", "10.8|106.7|\u0665|km"),
])
def test_a_number_not_in_ascii_digits_is_a_400(client, path, name, value):
    """FHIR's decimal is written in ASCII digits (datatypes.html): `1_0_0`, `١٠٠` and `１００`
    were read as 100, as Python's Decimal reads them, where `abc` is a 400."""
    assert_bad_parameter(client.get(path, params={name: value}), name)


@settings(max_examples=40, deadline=None)
@given(digits=st.lists(OTHER_DIGITS | st.sampled_from("0123456789"), min_size=1, max_size=6),
       other=OTHER_DIGITS, spot=st.integers(0, 6),
       where=st.sampled_from([("/Observation", "value-quantity", "{}"),
                              ("/Observation", "value-quantity", "gt1.{}|kg"),
                              ("/RiskAssessment", "probability", "ge{}"),
                              ("/Location", "near", "10|{}"),
                              ("/Patient", "_count", "{}")]))
def test_any_number_with_a_digit_of_another_script_is_a_400(client, digits, other, spot, where):
    digits.insert(min(spot, len(digits)), other)
    path, name, template = where
    assert_bad_parameter(client.get(path, params={name: template.format("".join(digits))}),
                         name)


# A zero whose exponent no Decimal128 holds, and other numbers a write refuses (beyond a
# double, or not held exactly): no resource holds them.
ZERO_BEYOND = "0e-99999999"


@pytest.mark.parametrize(("path", "name", "value"), [
    ("/Observation", "value-quantity", ZERO_BEYOND),
    ("/Observation", "value-quantity", "0e99999999"),
    ("/Observation", "value-quantity", f"gt0E-7000|{UCUM}|kg"),
    ("/Observation", "value-quantity", "1e-7000"),
    ("/Observation", "value-quantity", "1e400"),
    ("/RiskAssessment", "probability", ZERO_BEYOND),
    ("/Patient", "age", ZERO_BEYOND),
    ("/ChargeItem", "factor-override", ZERO_BEYOND),
    ("/Observation", "code-value-quantity", f"http://loinc.org|1${ZERO_BEYOND}"),
    ("/Location", "near", f"{ZERO_BEYOND}|106.7"),
])
def test_a_number_no_resource_holds_is_a_400_naming_the_parameter(client, path, name, value):
    """`0e-99999999` passed the parser and failed the arithmetic of its range: a 500. A
    number a write refuses is refused by search alike."""
    outcome = assert_bad_parameter(client.get(path, params={name: value}), name)
    assert "beyond the range of numbers" in outcome["issue"][0]["diagnostics"], outcome


def test_a_number_no_resource_holds_is_a_400_wherever_a_search_is_made(client):
    """Each of these was a 500 (a transaction's whole Bundle, a batch's entry)."""
    query = f"value-quantity={ZERO_BEYOND}"
    observation = _weight(70)
    answers = {
        "_search": client.post("/Observation/_search", data={"value-quantity": ZERO_BEYOND}),
        "$lastn": client.get("/Observation/$lastn", params={"value-quantity": ZERO_BEYOND}),
        "$export": client.get("/$export", params={"_typeFilter": f"Observation?{query}"},
                              headers={"Prefer": "respond-async"}),
        "If-None-Exist": client.post("/Observation", json=observation,
                                     headers={"If-None-Exist": query}),
        "conditional update": client.put(f"/Observation?{query}", json=observation),
        "conditional delete": client.delete(f"/Observation?{query}"),
        "transaction": client.post("", json=_bundle("transaction", {
            "request": {"method": "GET", "url": f"Observation?{query}"}})),
        "conditional reference": client.post("", json=_bundle("transaction", {
            "resource": {**_risk(Decimal=0.5), "basis": [{"reference": f"Observation?{query}"}]},
            "request": {"method": "POST", "url": "RiskAssessment"}})),
    }
    for label, response in answers.items():
        assert response.status_code == 400, (label, response.status_code, response.text)
        assert response.json()["resourceType"] == "OperationOutcome", label
    batch = client.post("", json=_bundle("batch", {
        "request": {"method": "GET", "url": f"Observation?{query}"}}))
    assert batch.status_code == 200, batch.text
    assert batch.json()["entry"][0]["response"]["status"].startswith("400"), batch.text


def _bundle(kind: str, *entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}
