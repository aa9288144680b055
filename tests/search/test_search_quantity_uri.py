"""Quantity search on Encounter `length` (a Duration) and uri search on DocumentReference
`location`, `_profile` and `_source` (http://hl7.org/fhir/R4/search.html#quantity, #uri).

Data set: encounters lasting 15, 30, 45 and 120 min (UCUM), 2 h (UCUM), 30 "min" written as a
unit only (no system, no code), and one without length; documents whose attachment URLs
form a small tree under one host, another host, an OID, and one without a URL; patients
with two profiles / one / one with a version / none and three meta.source values.

A search in UCUM units compares values in base units ("the server SHOULD compare in
canonical units"): 2 h is found as 120 min and as 7200 s; without a system, `||unit` compares
the values as written.
"""

import pytest
from search.helpers import ACT_CODE, UCUM, assert_bad_parameter, expected, found, load, ordered_ids

VN_CORE = "http://fhir.hl7.org.vn/core/StructureDefinition/vn-core-patient"
RESEARCH = "http://example.org/fhir/StructureDefinition/research-patient"
FILES = "http://files.bachmai.vn/docs"


def _encounter(length: dict | None) -> dict:
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": ACT_CODE, "code": "AMB"}}
    return encounter | ({"length": length} if length else {})


def _ucum(value: float, code: str) -> dict:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def _document(url: str | None) -> dict:
    attachment = {"contentType": "application/pdf"}
    attachment |= {"url": url} if url else {"data": "JVBERi0xLjQK"}
    return {"resourceType": "DocumentReference", "status": "current",
            "content": [{"attachment": attachment}]}


ENCOUNTERS = {
    "l15": _encounter(_ucum(15, "min")),
    "l30": _encounter(_ucum(30, "min")),
    "l45": _encounter(_ucum(45, "min")),
    "l120": _encounter(_ucum(120, "min")),
    "l2h": _encounter(_ucum(2, "h")),
    "l30_unit_only": _encounter({"value": 30, "unit": "min"}),
    "l_none": _encounter(None),
}
DOCUMENTS = {
    "u_xray": _document(f"{FILES}/2024/xray-001.pdf"),
    "u_ct": _document(f"{FILES}/2024/ct-002.pdf"),
    "u_old": _document(f"{FILES}/2023/xray-009.pdf"),
    "u_root": _document(FILES),
    "u_other": _document("https://pacs.choray.vn/studies/1.2.840.10008"),
    "u_oid": _document("urn:oid:1.2.840.10008.1"),
    "u_none": _document(None),
}
PATIENTS = {
    "pp_both": {"resourceType": "Patient", "meta": {"profile": [VN_CORE, RESEARCH],
                                                    "source": "http://his.bachmai.vn/fhir#a1b2"}},
    "pp_vn": {"resourceType": "Patient", "meta": {"profile": [VN_CORE],
                                                  "source": "http://his.choray.vn"}},
    "pp_none": {"resourceType": "Patient", "gender": "unknown"},
    "pp_versioned": {"resourceType": "Patient", "meta": {"profile": [f"{RESEARCH}|2.0"],
                                                         "source": "http://his.hue.vn"}},
}
THIRTY = {"l30", "l30_unit_only"}


def _condition(**onset: dict) -> dict:
    return {"resourceType": "Condition", "subject": {"display": "Nguyễn Văn An"}} | {
        f"onset{kind}": value for kind, value in onset.items()}


def _years(low: float | None, high: float | None) -> dict:
    return {end: _ucum(value, "a") for end, value in (("low", low), ("high", high))
            if value is not None}


def _value_set(ages: dict) -> dict:
    return {"resourceType": "ValueSet", "status": "active", "useContext": [{
        "code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                 "code": "age"},
        "valueRange": ages}]}


# Quantity parameters whose values may be Ranges (`Condition.onset.as(Age) |
# Condition.onset.as(Range)`): "the target is explicitly a range" (search.html#prefix).
ONSETS = {
    "age15": _condition(Age=_ucum(15, "a")),
    "range10_20": _condition(Range=_years(10, 20)),
    "from50": _condition(Range=_years(50, None)),
    "upto5": _condition(Range=_years(None, 5)),
}
VALUE_SETS = {"vs_adult": _value_set(_years(18, 65)), "vs_child": _value_set(_years(0, 12))}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, ENCOUNTERS | DOCUMENTS | PATIENTS | ONSETS | VALUE_SETS)


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("30", THIRTY),
        ("eq30", THIRTY),
        ("30.0", THIRTY),
        ("3e1", THIRTY),
        ("2", {"l2h"}),
        ("31", set()),
        ("ne30", {"l15", "l45", "l120", "l2h"}),
        ("gt20", {"l30", "l30_unit_only", "l45", "l120"}),
        ("ge45", {"l45", "l120"}),
        ("lt20", {"l15", "l2h"}),
        ("le15", {"l15", "l2h"}),
        ("lt1", set()),
        ("ap30", THIRTY),
        (f"30|{UCUM}|min", {"l30"}),
        (f"le30|{UCUM}|min", {"l15", "l30"}),
        (f"lt40|{UCUM}|min", {"l15", "l30"}),
        (f"30|{UCUM}|h", set()),
        (f"120|{UCUM}|min", {"l120", "l2h"}),
        (f"2|{UCUM}|h", {"l120", "l2h"}),
        (f"7200|{UCUM}|s", {"l120", "l2h"}),
        (f"1800|{UCUM}|s", {"l30"}),
        (f"ge1.5|{UCUM}|h", {"l120", "l2h"}),
        (f"lt0.5|{UCUM}|h", {"l15"}),
        (f"ap2|{UCUM}|h", {"l120", "l2h"}),
        (f"30|{UCUM}|kg", set()),
        ("30|http://example.org/units|min", set()),
        ("30||min", THIRTY),
        ("2||h", {"l2h"}),
        ("30||h", set()),
        ("gt100||min", {"l120"}),
        ("15,45", {"l15", "l45"}),
    ],
)
def test_length(client, ids, value, keys):
    assert found(client, "/Encounter", {"length": value}) == expected(ids, keys)


def test_length_missing_and_and(client, ids):
    assert found(client, "/Encounter", {"length:missing": "true"}) == expected(ids, {"l_none"})
    assert found(client, "/Encounter", [("length", "gt20"), ("length", "lt100")]) == expected(
        ids, {"l30", "l30_unit_only", "l45"})


@pytest.mark.parametrize("count", ["50", "2"])
def test_sort_orders_in_base_units_as_search_compares(client, ids, count):
    """Values in base units, as searches compare them: 2 h is 120 min (7,200 s), after
    45 min (it sorted before 15 min, as the 2 written); a length in no UCUM unit (30 with
    the unit `min` alone) by its value as written, among the seconds; none first ascending,
    last descending."""
    same = sorted([ids["l120"], ids["l2h"]])  # one value: then by id
    shorter = [ids[key] for key in ("l_none", "l30_unit_only", "l15", "l30", "l45")]
    assert ordered_ids(client, "/Encounter", {"_sort": "length", "_count": count}) == (
        shorter + same)
    assert ordered_ids(client, "/Encounter", {"_sort": "-length", "_count": count}) == (
        same + shorter[::-1])


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        (f"15|{UCUM}|a", {"age15"}),  # [14.5, 15.5) contains no range
        (f"gt15|{UCUM}|a", {"range10_20", "from50"}),  # part of it above 15
        (f"ge20|{UCUM}|a", {"range10_20", "from50"}),
        (f"lt12|{UCUM}|a", {"range10_20", "upto5"}),
        (f"sa20|{UCUM}|a", {"from50"}),  # all of it above 20
        (f"eb10|{UCUM}|a", {"upto5"}),
        (f"ne15|{UCUM}|a", {"range10_20", "from50", "upto5"}),
        (f"gt180|{UCUM}|mo", {"range10_20", "from50"}),  # in base units: 15 a is 180 mo
        ("gt15", {"range10_20", "from50"}),  # as written
    ],
)
def test_ranges_are_compared_as_ranges(client, ids, value, keys):
    assert found(client, "/Condition", {"onset-age": value}) == expected(ids, keys)


def test_a_range_is_a_value_of_its_parameter(client, ids):
    assert found(client, "/Condition", {"onset-age:missing": "true"}) == set()
    assert found(client, "/Condition", {"onset-age:missing": "false"}) == expected(ids, ONSETS)
    assert found(client, "/ValueSet", {"context-quantity": f"lt10|{UCUM}|a"}) == expected(
        ids, {"vs_child"})
    assert found(client, "/ValueSet", {"context-type-quantity": f"age$gt30|{UCUM}|a"}) == (
        expected(ids, {"vs_adult"}))


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"location": f"{FILES}/2024/xray-001.pdf"}, {"u_xray"}),
        ({"location": f"{FILES}/2024/XRAY-001.pdf"}, set()),
        ({"location": f"{FILES}/2024/xray-001"}, set()),
        ({"location": f"{FILES}/2024"}, set()),
        ({"location": FILES}, {"u_root"}),
        ({"location": f"{FILES}/2024/xray-001.pdf,urn:oid:1.2.840.10008.1"},
         {"u_xray", "u_oid"}),
        ({"location:below": f"{FILES}/2024"}, {"u_xray", "u_ct"}),
        ({"location:below": FILES}, {"u_xray", "u_ct", "u_old", "u_root"}),
        ({"location:below": "https://pacs.choray.vn"}, {"u_other"}),
        ({"location:above": f"{FILES}/2024/xray-001.pdf"}, {"u_xray", "u_root"}),
        ({"location:above": f"{FILES}/2023/xray-009.pdf"}, {"u_old", "u_root"}),
        ({"location:above": f"{FILES}/2024/mri-003.pdf"}, {"u_root"}),
        ({"location": "urn:oid:1.2.840.10008.1"}, {"u_oid"}),
        ({"location:missing": "true"}, {"u_none"}),
    ],
)
def test_location_uri(client, ids, params, keys):
    assert found(client, "/DocumentReference", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"_profile": VN_CORE}, {"pp_both", "pp_vn"}),
        # A canonical without a version is every version of it, as canonical references
        # are found (search.html#versions); one with a version is that version only.
        ({"_profile": RESEARCH}, {"pp_both", "pp_versioned"}),
        ({"_profile": f"{RESEARCH}|2.0"}, {"pp_versioned"}),
        ({"_profile": f"{RESEARCH}|1.0"}, set()),
        ({"_profile": VN_CORE.rsplit("-", 1)[0]}, set()),
        ({"_profile": f"{RESEARCH},{VN_CORE}"}, {"pp_both", "pp_vn", "pp_versioned"}),
        ([("_profile", RESEARCH), ("_profile", VN_CORE)], {"pp_both"}),
        ({"_profile:missing": "true"}, {"pp_none"}),
        ({"_source": "http://his.bachmai.vn/fhir#a1b2"}, {"pp_both"}),
        ({"_source": "http://his.choray.vn"}, {"pp_vn"}),
        ({"_source": "http://his.bachmai.vn/fhir"}, set()),
        ({"_source:below": "http://his.bachmai.vn"}, {"pp_both"}),
        ({"_source:missing": "true"}, {"pp_none"}),
    ],
)
def test_profile_and_source(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize(
    "value",
    ["abc", "gt", "gtabc", f"30|{UCUM}", f"30|{UCUM}|min|extra", f"|{UCUM}|min",
     "3O", "1e", "--30", "xx30",
     # Beyond what a resource holds, and exponents that overflowed the range arithmetic (500).
     "1e400", "1e-7000", "1e999999999", "ap1e-999999999", f"gt1e999999999|{UCUM}|min"],
)
def test_a_malformed_quantity_is_a_400_naming_the_parameter(client, ids, value):
    assert_bad_parameter(client.get("/Encounter", params={"length": value}), "length")


CURRENCIES = "urn:iso:std:iso:4217"


@pytest.fixture(scope="module")
def invoices(client) -> dict[str, str]:
    """Invoices of 40.37 in two currencies, and one of 40.37 VND and 55 EUR."""
    def invoice(net: str, gross: dict | None = None) -> dict:
        return {"resourceType": "Invoice", "status": "issued",
                "totalNet": {"value": 40.37, "currency": net},
                **({"totalGross": gross} if gross else {})}

    return load(client, {"eur": invoice("EUR"), "usd": invoice("USD"),
                         "vnd": invoice("VND", {"value": 55, "currency": "EUR"})})


@pytest.mark.parametrize(("params", "keys"), [
    ({"totalnet": "40.37"}, {"eur", "usd", "vnd"}),
    ({"totalnet": f"40.37|{CURRENCIES}|EUR"}, {"eur"}),
    ({"totalnet": "40.37||USD"}, {"usd"}),
    ({"totalnet": f"40.37|{CURRENCIES}|JPY"}, set()),
    ({"totalnet": f"ge40|{CURRENCIES}|VND"}, {"vnd"}),
    ({"totalgross": f"55|{CURRENCIES}|EUR"}, {"vnd"}),
])
def test_money_is_searched_by_its_currency(client, invoices, params, keys):
    """Money is a quantity whose system is ISO 4217 and whose code is the currency
    (MoneyQuantity; search.html#quantity), as HAPI indexes it."""
    assert found(client, "/Invoice", params) == expected(invoices, keys)
