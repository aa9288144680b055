"""UCUM units in base units (conformance/units.py), by which quantity search compares values
(http://hl7.org/fhir/R4/search.html#quantity)."""

import math
import random
import subprocess
import sys
import threading
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.conformance import unit_reading, units
from fhir_server.conformance.units import UCUM, base_form, is_ucum
from fhir_server.search.types.number import compile_number, compile_range


@pytest.mark.parametrize(("code", "value", "same_as"), [
    ("mg", 5400, ("g", 5.4)),
    ("g", 1, ("kg", 0.001)),
    ("[lb_av]", 1, ("g", 453.59237)),
    ("mg/dL", 100, ("g/L", 1)),
    ("mmol/L", 5.5, ("umol/mL", 5.5)),
    ("Cel", 37, ("K", 310.15)),
    ("[degF]", 98.6, ("Cel", 37)),
    ("mm[Hg]", 760, ("kPa", 101.32472)),  # UCUM's m[Hg] is 133.3220 kPa, not 1 atm/760
    ("{beats}/min", 60, ("/s", 1)),
    ("10*9/L", 4.5, ("10*3/uL", 4.5)),
    ("%", 50, ("1", 0.5)),
    # A number in the unit is part of it: 100 mg per 24 hours is 100 mg a day, not an hour.
    ("mg/(24.h)", 100, ("mg/d", 100)),
    ("mg/(24.h)", 100, ("g/d", 0.1)),
    ("10.mg", 1, ("mg", 10)),
    # Where pint's definitions were not UCUM's (the UCUM functional tests, probe BF).
    ("[Cal]", 1, ("kcal", 1)),
    ("'", 60, ("deg", 1)),
    ("g%", 14, ("g/dL", 14)),
    ("[iU]", 5, ("[IU]", 5)),
    ("Bq", 2, ("/s", 2)),
    ("G", 1, ("T", 0.0001)),
    ("[LPF]", 1, ("1", 100)),
    ("{score}", 5, ("1", 5)),
    ("{}", 5, ("1", 5)),  # an empty annotation is unity too (UCUM's grammar takes it)
    ("[cft_i]", 1, ("[in_i]3", 1728)),
    ("/[pi].A/m", 1, ("A/m", 1 / math.pi)),
])
def test_commensurable_units_give_one_value(code, value, same_as):
    mine, theirs = base_form(code), base_form(same_as[0])
    assert mine is not None and theirs is not None
    assert mine.key == theirs.key
    assert math.isclose(mine.to_base(value), theirs.to_base(same_as[1]), rel_tol=1e-6)


@pytest.mark.parametrize(("one", "other"), [
    ("mg", "mL"), ("[IU]/L", "/L"), ("[IU]/L", "[arb'U]/L"), ("mmol/L", "mg/dL"), ("h", "m"),
    ("G", "Oe"), ("'", "s"),
])
def test_units_of_other_kinds_stay_apart(one, other):
    first, second = base_form(one), base_form(other)
    assert first is not None and second is not None
    assert first.key != second.key


@pytest.mark.parametrize("code", ["[pH]", "dB", "B[SPL]", "not-a-unit", "mg/", ""])
def test_logarithmic_and_unknown_units_have_no_base_form(code):
    assert base_form(code) is None


@given(st.decimals(min_value=-10**9, max_value=10**9, allow_nan=False, places=3))
def test_the_same_amount_in_milligrams_and_grams_is_one_number(amount):
    """Rounded to 12 significant digits, so that `ge` and `le` hold at equality across
    units."""
    milligrams, grams = base_form("mg"), base_form("g")
    assert milligrams is not None and grams is not None
    assert milligrams.to_base(float(amount)) == grams.to_base(float(amount / 1000))


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e300"),
                   max_value=Decimal("1e300")), st.sampled_from([None, "mg", "Cel", "[lb_av]"]))
def test_a_searched_number_s_range_holds_the_number_itself(number, code):
    """Whatever its digits (more than a double or the base units' 12 hold), `eq` matches
    the value as indexed, which is rounded alike."""
    base = base_form(code) if code else None
    scale = base.to_base if base else float
    condition = compile_number("eq", number, scale)["v"]
    indexed = scale(float(number))
    assert condition["$gte"] <= indexed < condition["$lt"]


@pytest.mark.parametrize(("code", "valid"), [
    ("mg", True), ("mL/h", True), ("10*3/uL", True), ("{# of fetuses}", True),
    ("%{Negative Control}", True), ("[pH]", None),
    ("mcg", False), ("mEq", False), ("ml/hr", False), ("TAB", False), ("", False),
])
def test_ucum_expressions_are_read_by_the_grammar(code, valid):
    assert is_ucum(code) is valid


@pytest.mark.parametrize(("code", "status", "result"), [
    ("mg/dL", 200, True), ("mcg", 200, False), ("[pH]", 200, True)])
def test_validate_code_on_ucum_reads_the_grammar(client, code, status, result):
    """UCUM is held as its grammar (it was 404 'not known to this server')."""
    response = client.get("/CodeSystem/$validate-code", params={
        "url": UCUM, "code": code})
    assert response.status_code == status, response.text
    [found] = [p["valueBoolean"] for p in response.json()["parameter"] if p["name"] == "result"]
    assert found is result


def test_a_quantity_in_no_ucum_unit_is_stored_with_a_warning(client):
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "B12"},
                   "valueQuantity": {"value": 500, "system": UCUM, "code": "mcg"}}
    response = client.post("/Observation", json=observation, headers={
        "Content-Type": "application/fhir+json", "Prefer": "return=OperationOutcome"})
    assert response.status_code == 201, response.text
    [warning] = [i for i in response.json()["issue"] if "UCUM" in i["diagnostics"]]
    assert warning["severity"] == "warning"
    assert warning["expression"] == ["Observation.valueQuantity.code"]


@pytest.mark.parametrize(("kind", "element", "resource"), [
    ("Age", "Condition.onsetAge", {"resourceType": "Condition", "code": {"text": "x"},
                                   "subject": {"reference": "Patient/1"}}),
    ("Duration", "Encounter.length", {"resourceType": "Encounter", "status": "finished",
                                      "class": {"system": "http://terminology.hl7.org/"
                                                "CodeSystem/v3-ActCode", "code": "AMB"}}),
])
def test_an_age_or_duration_is_in_units_of_time(client, kind, element, resource):
    """Age and Duration "SHALL be an expression of time" (age-1, drt-1; R4's maxValueSet
    all-time-units): an onset at 65 mg or an encounter 30 mg long is 400 at the code, as
    the HL7 validator refuses it; stored, no search of ages or lengths in time found it.
    Any unit of time is one (`a`, `10.min`), and so is a code this server cannot read (its
    own warning says so)."""
    key = element.rsplit(".", 1)[1]
    for code, status in (("mg", 400), ("a", 201), ("10.min", 201), ("[ppm]", 400),
                         ("years", 201)):
        body = {**resource, key: {"value": 65, "unit": code, "system": UCUM, "code": code}}
        response = client.post(f"/{resource['resourceType']}", json=body,
                               headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == status, (code, response.text)
        if status == 400:
            [error] = [i for i in response.json()["issue"] if i["severity"] == "error"]
            assert error["expression"] == [f"{element}.code"], error
            assert kind in error["diagnostics"] and "time" in error["diagnostics"], error


def test_a_distance_is_in_units_of_length(client):
    """Distance "SHALL be an expression of length" (dis-1; R4's maxValueSet
    all-distance-units), as an Age one of time."""
    for code, status in (("kg", 400), ("km", 201), ("[mi_i]", 201), ("s", 400)):
        body = {"resourceType": "Observation", "status": "final", "code": {"text": "walk"},
                "extension": [{"url": "http://example.org/fhir/StructureDefinition/walked",
                               "valueDistance": {"value": 2, "system": UCUM, "code": code}}]}
        response = client.post("/Observation", json=body,
                               headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == status, (code, response.text)
        if status == 400:
            [error] = [i for i in response.json()["issue"] if i["severity"] == "error"]
            assert error["expression"][0].endswith(".code"), error
            assert "Distance" in error["diagnostics"] and "length" in error["diagnostics"]


_CONCURRENT_FIRST_USE = """
import sys, threading
from fhir_server.conformance.units import base_form, is_ucum
codes = ["mg", "g", "kg", "Cel", "K", "[degF]", "[lb_av]", "mmol/L", "mm[Hg]", "kPa", "%",
         "/s", "{beats}/min", "10*9/L", "10*3/uL", "mg/dL", "g/L"]
start = threading.Barrier(6)
def read(shift):
    start.wait()
    for code in codes[shift:] + codes[:shift]:
        base_form(code), is_ucum(code)
threads = [threading.Thread(target=read, args=(shift,)) for shift in range(6)]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
print(sorted(code for code in codes if base_form(code) is None or is_ucum(code) is not True))
"""


def test_threads_reading_units_at_once_in_a_new_process_all_get_them():
    """ucumvert and pint are not thread-safe: threads making the registry and reading codes
    at once (the event loop and the threads large resources are indexed in) made each
    other's codes fail, and the failures stayed cached (`mg` no UCUM unit) until restart."""
    ran = subprocess.run([sys.executable, "-c", _CONCURRENT_FIRST_USE], capture_output=True,
                         text=True, timeout=120, check=True)
    assert ran.stdout.strip() == "[]", ran.stdout + ran.stderr


@pytest.mark.parametrize("code", ["10*400", "10*308", "10^999", "10*1000000000", "kg99999",
                                  "10*999.m"])
def test_a_power_no_float_holds_has_no_base_form(code):
    """pint computes powers exactly: `10*1000000000` held the event loop (and every client)
    for hours, `10*400` overflowed a float into a 500. Such a code is compared as written."""
    assert base_form(code) is None


def test_annotations_and_length_bound_what_reading_units_costs():
    """Codes that differ only in their annotations are one unit, read once: a search of
    1,200 made-up annotations froze every client for seconds while each was parsed. A code
    longer than any unit (annotations left out) is no UCUM unit, and is not parsed."""
    assert base_form("kg.m2/s3{a}").key == base_form("kg.m2/s3{một ghi chú}").key
    before = len(units._READ)
    for n in range(200):
        assert base_form(f"mg/dL{{mẫu {n}}}").key == base_form("mg/dL").key
    assert len(units._READ) <= before + 1
    assert base_form("m." * 700 + "m") is None
    assert is_ucum("m." * 700 + "m") is False
    assert is_ucum("mg{" + "x" * 500 + "}") is True  # a long annotation is still one unit


def _reading_recorded(monkeypatch) -> list[str]:
    """The codes read (by base form or UCUM check) elsewhere than in the units thread: on
    the event loop, or in a thread every request shares (six writes waiting there to read
    units held all of them for 40 s)."""
    elsewhere: list[str] = []

    def recorded(read):
        def reading(code):
            if not threading.current_thread().name.startswith("ucum"):
                elsewhere.append(code)
            return read(code)
        return reading

    monkeypatch.setattr(units, "_base_form", recorded(units._base_form))
    monkeypatch.setattr(units, "_is_ucum", recorded(units._is_ucum))
    return elsewhere


def _made_up(count: int, salt: int) -> list[str]:
    return [f"m{n + 2}/s{n % 7 + 2}.g{salt}" for n in range(count)]


def test_a_request_s_searches_read_a_bounded_number_of_codes_off_the_loop(client, monkeypatch):
    """Reading a code costs up to 50 ms: 416 made-up codes in one search held every client
    for 8.6 s, and 32 per search in a batch of 20 searches, 14.6 s. A request's searches read
    at most 32 codes not read before, in the units thread; the others are compared as
    written; codes read before are used whatever their number."""
    known = ["mg", "g", "kg"]  # read by any earlier test or here
    for code in known:
        base_form(code)
    on_loop = _reading_recorded(monkeypatch)
    salt = random.randrange(100, 999)
    values = [f"1|{UCUM}|{code}" for code in (*known, *_made_up(40, salt))]
    before = len(units._READ)
    response = client.get("/Observation", params={"value-quantity": ",".join(values)})
    assert response.status_code == 200, response.text
    assert len(units._READ) - before <= unit_reading.MOST_NEW_CODES_PER_SEARCH
    searches = [{"request": {"method": "GET", "url": "Observation?value-quantity=" + ",".join(
        f"1|{UCUM}|{code}" for code in _made_up(30, salt + 1000 * n))}} for n in range(1, 4)]
    before = len(units._READ)
    batch = client.post("", json={"resourceType": "Bundle", "type": "batch",
                                  "entry": searches},
                        headers={"Content-Type": "application/fhir+json"})
    assert batch.status_code == 200, batch.text
    assert len(units._READ) - before <= unit_reading.MOST_NEW_CODES_PER_SEARCH
    assert on_loop == []


def test_a_write_reads_codes_not_read_before_off_the_event_loop(client, monkeypatch):
    """Reading a code costs up to 50 ms: a 64 KB write of 295 made-up codes held every
    client for 14 s while its validation and index read them on the event loop. The work
    meeting one is done again in the units thread, and the code's base form is indexed."""
    on_loop = _reading_recorded(monkeypatch)
    hours = random.randrange(100, 999)  # a code no earlier test read
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "rate"},
                   "valueQuantity": {"value": 1, "system": UCUM, "code": f"mg/({hours}.h)"}}
    response = client.post("/Observation", json=observation,
                           headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201, response.text
    assert on_loop == []
    found = client.get("/Observation", params={
        "value-quantity": f"1000|{UCUM}|ug/({hours}.h)", "_id": response.json()["id"]})
    assert len(found.json().get("entry", [])) == 1


def test_a_request_reads_a_bounded_number_of_codes_not_read_before(monkeypatch):
    """Past MOST_NEW_CODES_PER_REQUEST new codes in one request, the others have no base
    form and are not checked: made-up codes cost bounded time."""
    read = []
    monkeypatch.setattr(units, "_base_form", lambda code: read.append(code) or None)
    most = unit_reading.MOST_NEW_CODES_PER_REQUEST
    made_up = [f"m{n % 90 + 2}/s{n // 90 + 2}.kg{{x}}.mol" for n in range(most + 40)]
    with unit_reading.new_codes_counted():
        for code in made_up:
            base_form(code)
    assert len(read) == most


def _holds(condition: dict, entry: dict) -> bool:
    """A MongoDB filter of compile_number/compile_range, evaluated on one entry."""
    if "$or" in condition:
        return any(_holds(part, entry) for part in condition["$or"])
    operators = {"$gt": float.__gt__, "$gte": float.__ge__, "$lt": float.__lt__,
                 "$lte": float.__le__}
    return all(operators[op](entry[name], bound) for name, spec in condition.items()
               for op, bound in spec.items())


@given(value=st.floats(min_value=-1e6, max_value=1e6),
       searched=st.decimals(min_value=-10**6, max_value=10**6, places=3, allow_nan=False),
       prefix=st.sampled_from(["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]))
def test_a_point_is_the_range_of_one_value(value, searched, prefix):
    """Range entries (`Condition.onset.as(Range)`) are compared as ranges, and a point of
    such a parameter is the range [v, v]: every prefix treats it as the point it is."""
    point = compile_number(prefix, searched)
    as_range = compile_range(prefix, searched)
    assert _holds(point, {"v": value}) == _holds(as_range, {"lo": value, "hi": value})


@pytest.mark.parametrize(("stored", "searched"), [
    ((14, "g%"), f"14|{UCUM}|g/dL"),
    ((1, "[Cal]"), f"1|{UCUM}|kcal"),
    ((2, "Bq"), f"2|{UCUM}|/s"),
])
def test_a_search_finds_a_quantity_in_the_unit_ucum_defines_it_by(client, stored, searched):
    """pint took `g%` for a mass, `[Cal]` for 4.184 J and `Bq` for no frequency: these were
    never found (probe BF, the UCUM functional tests)."""
    value, code = stored
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "valueQuantity": {"value": value, "system": UCUM, "code": code}}
    created = client.post("/Observation", json=observation,
                          headers={"Content-Type": "application/fhir+json"})
    assert created.status_code == 201, created.text
    found = client.get("/Observation", params={"value-quantity": searched,
                                               "_id": created.json()["id"]})
    assert len(found.json().get("entry", [])) == 1, found.text


@pytest.mark.parametrize("code", ["0", "00", "(0)", "0{a}", "0.mg"])
def test_a_unit_of_zero_has_no_base_form(code):
    """Its factor 0 made every value in it 0 (and 0 × infinity NaN): `0|UCUM|1` found
    values of any size (probe BH)."""
    assert base_form(code) is None


def test_a_value_beyond_a_float_in_base_units_is_compared_as_written(client):
    """1.7e308 kg is 1.7e311 g: it was indexed as infinity, and no search found it."""
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "valueQuantity": {"value": 1.7e308, "system": UCUM, "code": "kg"}}
    created = client.post("/Observation", json=observation,
                          headers={"Content-Type": "application/fhir+json"})
    assert created.status_code == 201, created.text
    for searched in (f"gt1e308|{UCUM}|kg", f"1.7e308|{UCUM}|kg"):
        found = client.get("/Observation", params={"value-quantity": searched,
                                                   "_id": created.json()["id"]})
        assert len(found.json().get("entry", [])) == 1, (searched, found.text)


@given(value=st.floats(allow_nan=False, allow_infinity=False).filter(bool),
       code=st.sampled_from(["ug", "pg", "fm", "mg/dL", "Ym", "10*9/L"]))
def test_a_number_not_zero_is_not_zero_in_base_units(value, code):
    """1e-320 ug is 1e-329 g, below the smallest double: it was 0 in g, which `gt0|UCUM|ug`
    missed; it is the smallest double of its sign, as such numbers are indexed as written."""
    converted = base_form(code).to_base(value)
    assert converted != 0 and math.copysign(1, converted) == math.copysign(1, value)


@pytest.mark.parametrize(("value", "code", "found_by", "missed_by"), [
    (1e300, "Ym", ["gt0|Ym", "gt1|Ym", "ge1|km", "ne5|Ym", "1e300|Ym", "gt1e308|m"],
     ["lt1|Ym", "lt1e308|m", "1e299|Ym"]),
    (-1e300, "Ym", ["lt0|Ym", "lt-1|km", "ne5|Ym"], ["gt0|Ym", "ge-1e308|m"]),
    (1e-320, "ug", ["gt0|ug", "gt0|g", "1e-320|ug", "lt1|ug", "0|g"], ["le0|ug", "lt0|g"]),
    (-1e-320, "ug", ["lt0|ug", "lt0|g"], ["ge0|g"]),
])
def test_a_value_beyond_a_double_in_base_units_is_found_in_ucum_units(client, value, code,
                                                                     found_by, missed_by):
    """1e300 Ym is 1e324 m: it had no entry in base units, and no search in UCUM units found
    it; it is indexed there as the largest double of its sign (1e-320 ug, 1e-329 g, as the
    smallest, not 0), so comparisons with finite values hold."""
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "valueQuantity": {"value": value, "system": UCUM, "code": code}}
    created = client.post("/Observation", json=observation,
                          headers={"Content-Type": "application/fhir+json"})
    assert created.status_code == 201, created.text
    for searched, total in [*((s, 1) for s in found_by), *((s, 0) for s in missed_by)]:
        number, unit = searched.split("|")
        found = client.get("/Observation", params={"value-quantity": f"{number}|{UCUM}|{unit}",
                                                   "_id": created.json()["id"]})
        assert len(found.json().get("entry", [])) == total, (searched, found.text)
