"""`Observation/$lastn` (R4 observation-operation-lastn): per subject and code, the `max` most
recent matches (default 1), ties with the last one kept; codes sharing a coding are one group,
transitively; text-only codes grouped by their text; a subject and a category or code
parameter are required.

Data set: patient Mai's glucose, measured as LOINC 2339-0 on 1-3 March, as LOINC plus the
hospital's own code on 4 March, and only by the hospital's code on 5 March (one group through
the 4 March reading); two heart rates taken at the same minute; two finger-stick readings
with a text-only code; her husband Quang's glucose.
"""

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome
from search.helpers import load, ref
from security.helpers import fhir_client

LOINC = "http://loinc.org"
LOCAL = "http://benhvien-bachmai.vn/fhir/CodeSystem/xet-nghiem"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _reading(patient: str, category: str, code: dict, when: str, value: float) -> dict:
    return {"resourceType": "Observation", "status": "final", "subject": ref(patient),
            "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
            "code": code, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": "mmol/L"}}


def _coded(*codings: tuple[str, str]) -> dict:
    return {"coding": [{"system": system, "code": code} for system, code in codings]}


GLUCOSE = _coded((LOINC, "2339-0"))


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    data = {
        "mai": {"resourceType": "Patient", "name": [{"family": "Đỗ", "given": ["Mai"]}]},
        "quang": {"resourceType": "Patient", "name": [{"family": "Vũ", "given": ["Quang"]}]},
        "quang_glucose": _reading("quang", "laboratory", GLUCOSE, "2024-03-09T08:00:00Z", 6),
        "hr_a": _reading("mai", "vital-signs", _coded((LOINC, "8867-4")),
                         "2024-03-02T07:00:00Z", 80),
        "hr_b": _reading("mai", "vital-signs", _coded((LOINC, "8867-4")),
                         "2024-03-02T07:00:00Z", 82),
        "stick_1": _reading("mai", "laboratory", {"text": "Đường huyết mao mạch"},
                            "2024-03-01T12:00:00Z", 7),
        "stick_2": _reading("mai", "laboratory", {"text": "Đường huyết mao mạch"},
                            "2024-03-02T12:00:00Z", 8),
    }
    for day in (1, 2, 3):
        data[f"glucose_{day}"] = _reading("mai", "laboratory", GLUCOSE,
                                          f"2024-03-0{day}T08:00:00Z", 5 + day)
    data["glucose_4"] = _reading("mai", "laboratory", _coded((LOINC, "2339-0"), (LOCAL, "GLU")),
                                 "2024-03-04T08:00:00Z", 9)
    data["glucose_5"] = _reading("mai", "laboratory", _coded((LOCAL, "GLU")),
                                 "2024-03-05T08:00:00Z", 10)
    return load(client, data)


def _lastn(http, **params) -> list[str]:
    response = http.get("/Observation/$lastn", params=params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    assert bundle["total"] == len(bundle.get("entry", []))
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def _named(ids: dict[str, str], *keys: str) -> set[str]:
    return {ids[key] for key in keys}


def test_the_most_recent_of_each_code_of_the_patient(client, ids):
    found = _lastn(client, patient=ids["mai"], category="laboratory")
    assert set(found) == _named(ids, "glucose_5", "stick_2")
    assert ids["quang_glucose"] not in found


def test_max_takes_the_newest_of_each_group_newest_first(client, ids):
    found = _lastn(client, patient=ids["mai"], category="laboratory", max="3")
    glucose = [i for i in found if i in _named(ids, *(f"glucose_{d}" for d in range(1, 6)))]
    assert glucose == [ids["glucose_5"], ids["glucose_4"], ids["glucose_3"]]
    assert set(found) - set(glucose) == _named(ids, "stick_1", "stick_2")


def test_readings_tied_with_the_last_one_kept_are_all_returned(client, ids):
    found = _lastn(client, subject=f"Patient/{ids['mai']}", category="vital-signs")
    assert set(found) == _named(ids, "hr_a", "hr_b")


def test_summary_and_elements_shape_the_answer_as_a_search_s(client, ids):
    """$lastn "uses the normal search parameters defined for the Observation resource"."""
    params = {"patient": ids["mai"], "category": "laboratory"}
    counted = client.get("/Observation/$lastn", params={**params, "_summary": "count"})
    assert counted.status_code == 200, counted.text
    assert counted.json()["total"] == 2 and "entry" not in counted.json()
    subset = client.get("/Observation/$lastn", params={**params, "_elements": "code"}).json()
    for entry in subset["entry"]:
        assert "valueQuantity" not in entry["resource"] and "code" in entry["resource"]
        assert "SUBSETTED" in {tag["code"] for tag in entry["resource"]["meta"]["tag"]}
    assert "_elements=code" in subset["link"][0]["url"]


def test_a_code_parameter_may_replace_the_category_and_other_criteria_filter(client, ids):
    assert _lastn(client, patient=ids["mai"], code=f"{LOINC}|2339-0", max="2") == [
        ids["glucose_4"], ids["glucose_3"]]
    assert _lastn(client, patient=ids["mai"], code=f"{LOINC}|2339-0",
                  date="le2024-03-02") == [ids["glucose_2"]]
    posted = client.post("/Observation/$lastn", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [
            {"name": "patient", "valueString": ids["quang"]},
            {"name": "category", "valueString": "laboratory"}]})
    assert posted.status_code == 200, posted.text
    assert [e["resource"]["id"] for e in posted.json()["entry"]] == [ids["quang_glucose"]]


@pytest.mark.parametrize("params", [
    {"category": "laboratory"},  # no subject
    {"patient": "x"},  # no category or code
    {"patient": "x", "category": "laboratory", "max": "0"},
    {"patient": "x", "category": "laboratory", "max": "two"},
])
def test_an_incomplete_or_malformed_request_is_400(client, params):
    assert_outcome(client.get("/Observation/$lastn", params=params), 400)


def test_it_needs_search_scope_on_observation(server, issuer, ids):
    with fhir_client(server.base, issuer.token("user/Observation.r")) as http:
        response = http.get("/Observation/$lastn",
                            params={"patient": ids["mai"], "category": "laboratory"})
    assert_outcome(response, 403)


def test_one_subject_however_its_reference_is_written(client, server):
    """A reading of the patient referred to by this server's URL of her, or by a version of
    her, is hers as the search found it: `max=1` is her one newest reading of the code."""
    patient = client.post("/Patient", headers=FHIR_HEADERS, json={
        "resourceType": "Patient", "name": [{"family": "Lý", "given": ["Hoa"]}]}).json()["id"]
    spellings = [f"Patient/{patient}", f"{server.base}/Patient/{patient}",
                 f"Patient/{patient}/_history/1"]
    created = []
    for day, reference in enumerate(spellings, start=1):
        reading = _reading("x", "vital-signs", _coded((LOINC, "39156-5")),
                           f"2024-0{4 - day}-01T08:00:00Z", 20 + day)
        reading["subject"] = {"reference": reference}
        response = client.post("/Observation", headers=FHIR_HEADERS, json=reading)
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])
    assert _lastn(client, patient=patient, code=f"{LOINC}|39156-5") == [created[0]]
    assert _lastn(client, patient=patient, code=f"{LOINC}|39156-5", max="2") == created[:2]


@pytest.mark.parametrize("parameter", [("_include", "Observation:subject"),
                                       ("_revinclude", "Provenance:target"),
                                       ("_sort", "-date")])
def test_a_result_parameter_it_does_not_apply_is_400_when_strict(client, ids, parameter):
    """Left out of the self link when lenient, as a search says what it ignored; an error
    with `Prefer: handling=strict` (search.html#errors)."""
    params = {"patient": ids["mai"], "category": "laboratory", parameter[0]: parameter[1]}
    lenient = client.get("/Observation/$lastn", params=params)
    assert lenient.status_code == 200, lenient.text
    assert parameter[0] not in lenient.json()["link"][0]["url"]
    assert {e["resource"]["resourceType"] for e in lenient.json()["entry"]} == {"Observation"}
    strict = client.get("/Observation/$lastn", params=params,
                        headers={"Prefer": "handling=strict"})
    assert_outcome(strict, 400)
    assert parameter[0] in strict.json()["issue"][0]["diagnostics"]
