"""Input at the edges (issue 14, "No 500 for bad input"): valid FHIR at the ends of the
calendar is stored and found; lone surrogates, wrong JSON types in Bundle requests, nulls,
absurd version ids and nesting beyond reason are a 4xx OperationOutcome, never a 500; the
CapabilityStatement offers only what is allowed. (What MongoDB cannot store:
test_document_limits.py.)"""

import base64
import json
import uuid

import pytest
from helpers import (
    FHIR_HEADERS,
    JSON_PATCH,
    assert_outcome,
    create,
    created,
    new_patient,
    search_ids,
)

# ---------------------------------------------------------------- calendar edges

EARLIEST_START = "0001-01-01T00:00:00+14:00"  # before year 1 in UTC


@pytest.fixture(scope="module")
def last_day(client) -> str:
    return created(client, new_patient(birthDate="9999-12-31"))["id"]


@pytest.fixture(scope="module")
def first_moment(client) -> str:
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB"},
                 "period": {"start": EARLIEST_START, "end": "0001-01-01T12:00:00Z"}}
    return created(client, encounter)["id"]


@pytest.mark.parametrize("value", ["9999-12-31", "eq9999", "eq9999-12", "ge9999-12-31",
                                   "sa9999-12-30", "ap9999-12-31"])
def test_the_last_day_of_the_calendar_is_stored_and_found(client, last_day, value):
    assert client.get(f"/Patient/{last_day}").json()["birthDate"] == "9999-12-31"
    assert last_day in search_ids(client, "Patient", birthdate=value)


@pytest.mark.parametrize("value", ["ge0001-01-01", "lt0001-01-02", "eq0001", "le0001-01-01",
                                   "eb0002", "ap0001-01-01"])
def test_a_start_before_year_one_in_utc_is_stored_and_found(client, first_moment, value):
    stored = client.get(f"/Encounter/{first_moment}").json()
    assert stored["period"]["start"] == EARLIEST_START
    assert first_moment in search_ids(client, "Encounter", date=value)


@pytest.mark.parametrize("value", [
    "0001-01-01T00:00:00+14:00", "lt0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "gt9999-12-31T23:59:59-12:00", "ne0001", "gt9999", "sa9999-12-31", "eb0001-01-01",
    "ap0001", "ap9999-12-31T23:59:59.999Z",
])
def test_search_values_at_the_calendar_edges_are_answered(client, last_day, value):
    response = client.get("/Patient", params={"birthdate": value})
    assert response.status_code == 200, response.text
    response = client.get("/Encounter", params={"date": value})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("value", ["0000-01-01", "10000-01-01", "2024-13-01", "2024-02-30"])
def test_dates_outside_the_calendar_are_400(client, value):
    assert_outcome(client.get("/Patient", params={"birthdate": value}), 400)
    assert_outcome(create(client, new_patient(birthDate=value)), 400, expression="birthDate")


# ---------------------------------------------------------------- huge UCUM powers

@pytest.mark.parametrize("code", ["10*400", "10*1000000000"])
def test_a_unit_of_a_huge_power_is_stored_and_searched_as_written(client, code):
    """`10*1000000000` froze the server (pint computed the power exactly on the event
    loop), `10*400` was a 500: such a unit is compared by its code."""
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "valueQuantity": {"value": 5, "system": "http://unitsofmeasure.org",
                                     "code": code}}
    stored = created(client, observation)
    found = search_ids(client, "Observation",
                       **{"value-quantity": f"5|http://unitsofmeasure.org|{code}"})
    assert stored["id"] in found


# ---------------------------------------------------------------- control characters

@pytest.mark.parametrize("escape", ["\\u0000", "\\u0007", "\\b", "\\u001f", "\\ufffe",
                                    "\\uffff"])
def test_a_control_character_in_a_string_is_400(client, escape):
    """datatypes.html#string: nothing below U+0020 but tab, LF and CR, which XML could not
    carry, nor U+FFFE and U+FFFF (stored, they made every XML search page and history
    holding the resource 406)."""
    body = '{"resourceType": "Patient", "name": [{"family": "a' + escape + 'b"}]}'
    response = client.post("/Patient", content=body, headers=FHIR_HEADERS)
    assert_outcome(response, 400, expression="Patient.name[0].family")


def test_tab_newline_and_carriage_return_are_text(client):
    patient = created(client, new_patient(name=[{"text": "Nguyễn\tVăn\r\nAn"}]))
    response = client.get(f"/Patient/{patient['id']}", params={"_format": "xml"})
    assert response.status_code == 200, response.text
    assert client.get(f"/Patient/{patient['id']}").json()["name"][0]["text"] == (
        "Nguyễn\tVăn\r\nAn")


# ---------------------------------------------------------------- lone surrogates

def test_a_lone_surrogate_in_a_body_is_400(client):
    body = '{"resourceType": "Patient", "name": [{"family": "\\ud800"}]}'
    response = client.post("/Patient", content=body, headers=FHIR_HEADERS)
    assert_outcome(response, 400)


@pytest.mark.parametrize("body", [
    b'{"resourceType": "Patient", "name": [{"family": "a\xed\xa0\x80b"}]}',  # U+D800 encoded
    b'{"resourceType": "Patient", "\xed\xbf\xbf": true}',
    '{"resourceType": "Patient", "active": true}'.encode("utf-16"),
    '{"resourceType": "Patient", "active": true}'.encode("utf-32"),
])
def test_a_body_that_is_no_utf_8_is_400(client, body):
    """FHIR JSON is UTF-8: a surrogate encoded in it (no UTF-8) was read as a lone surrogate
    and failed at signing with 500; UTF-16 and UTF-32 were read as JSON."""
    assert_outcome(client.post("/Patient", content=body, headers=FHIR_HEADERS), 400)
    assert_outcome(client.post("/Patient/$validate", content=body, headers=FHIR_HEADERS), 400)


def test_a_lone_surrogate_in_a_key_is_400(client):
    body = '{"resourceType": "Patient", "\\udfff": true}'
    response = client.post("/Patient", content=body, headers=FHIR_HEADERS)
    assert_outcome(response, 400)


def test_a_lone_surrogate_in_a_bundle_is_400(client):
    body = ('{"resourceType": "Bundle", "type": "batch", "entry": [{"request": '
            '{"method": "GET", "url": "Patient?name=\\ud800"}}]}')
    response = client.post("", content=body, headers=FHIR_HEADERS)
    assert_outcome(response, 400, expression="entry[0].request.url")


def test_a_lone_surrogate_in_a_json_patch_in_a_bundle_is_400(client):
    patient = created(client, new_patient())
    operations = b'[{"op": "replace", "path": "/active", "value": "\\udc00"}]'
    binary = {"resourceType": "Binary", "contentType": JSON_PATCH,
              "data": base64.b64encode(operations).decode()}
    bundle = _bundle({"resource": binary,
                      "request": {"method": "PATCH", "url": f"Patient/{patient['id']}"}},
                     kind="transaction")
    assert_outcome(client.post("", json=bundle, headers=FHIR_HEADERS), 400,
                   expression="Bundle.entry[0]")
    assert client.get(f"/Patient/{patient['id']}").json() == patient


@pytest.mark.parametrize("path", ["/Patient?name=%ED%A0%80", "/Patient?%ED%A0%80=x",
                                  "/Patient/%ED%A0%80", "/Patient/%ED%A0%80/_history/1",
                                  "/Patient?_id=%ED%A0%80", "/Patient?identifier=%ED%A0%80|x"])
def test_a_lone_surrogate_in_the_url_is_400(client, path):
    assert_outcome(client.get(path), 400)


def test_a_lone_surrogate_in_a_search_form_is_400(client):
    response = client.post("/Patient/_search", content=b"name=%ED%A0%80",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_outcome(response, 400)


# ---------------------------------------------------------------- Bundle entry requests

def _bundle(*entries: object, kind: str = "batch") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


_PATIENT = {"resourceType": "Patient", "active": True}


@pytest.mark.parametrize("entry", [
    {"request": {"method": 5, "url": []}},
    {"request": {"method": [], "url": "Patient"}},
    {"request": {"method": {}, "url": "Patient"}},
    {"request": {"method": "GET", "url": {}}},
    {"request": "x"},
    {"request": None},
    5,
    "entry",
    None,
    [],
    {"fullUrl": {}, "resource": _PATIENT, "request": {"method": "POST", "url": "Patient"}},
    {"fullUrl": 7, "resource": _PATIENT, "request": {"method": "POST", "url": "Patient"}},
    {"resource": _PATIENT, "request": {"method": "POST", "url": "Patient", "ifNoneExist": []}},
    {"resource": {**_PATIENT, "id": "a"},
     "request": {"method": "PUT", "url": "Patient/a", "ifMatch": 3}},
    {"resource": {**_PATIENT, "id": "a"},
     "request": {"method": "PUT", "url": "Patient/a", "ifMatch": "W/\"²\""}},
    {"request": {"method": "GET", "url": "Patient", "ifNoneMatch": {}}},
])
@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_wrong_json_types_in_an_entry_are_400_naming_it(client, entry, kind):
    """A transaction fails as a whole; a batch answers the one entry with 400."""
    response = client.post("", json=_bundle({"request": {"method": "GET", "url": "Patient"}},
                                            entry, kind=kind), headers=FHIR_HEADERS)
    if kind == "transaction":
        assert_outcome(response, 400, expression="Bundle.entry[1]")
        return
    assert response.status_code == 200, response.text
    first, second = response.json()["entry"]
    assert first["response"]["status"].startswith("200")
    assert second["response"]["status"].startswith("400"), second
    where = [e for i in second["response"]["outcome"]["issue"] for e in i.get("expression", [])]
    assert any(e.startswith("Bundle.entry[1]") for e in where), second


@pytest.mark.parametrize("entries", [{}, "x", 5, None])
def test_entries_that_are_not_a_list_are_400(client, entries):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    assert_outcome(client.post("", json=bundle, headers=FHIR_HEADERS), 400)


# ---------------------------------------------------------------- nesting

def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [100, 5000, 100000])
def test_a_json_patch_nested_thousands_deep_is_400(client, depth):
    patient = created(client, new_patient())
    operations = [{"op": "add", "path": "/extension", "value": _nested(depth)}]
    body = json.dumps(operations) if depth < 900 else (
        '[{"op": "add", "path": "/extension", "value": ' + '{"a":' * depth + '"x"'
        + "}" * depth + "}]")
    response = client.patch(f"/Patient/{patient['id']}", content=body,
                            headers={"Content-Type": JSON_PATCH})
    assert_outcome(response, 400)
    assert client.get(f"/Patient/{patient['id']}").json() == patient


def test_a_json_patch_nested_deep_inside_a_bundle_is_400(client):
    patient = created(client, new_patient())
    operations = ('[{"op": "add", "path": "/extension", "value": ' + '[' * 5000 + ']' * 5000
                  + "}]")
    binary = {"resourceType": "Binary", "contentType": JSON_PATCH,
              "data": base64.b64encode(operations.encode()).decode()}
    bundle = _bundle({"resource": binary,
                      "request": {"method": "PATCH", "url": f"Patient/{patient['id']}"}},
                     kind="transaction")
    response = client.post("", json=bundle, headers=FHIR_HEADERS)
    assert_outcome(response, 400)
    assert client.get(f"/Patient/{patient['id']}").json() == patient


# ---------------------------------------------------------------- nulls

@pytest.mark.parametrize("extra, where", [
    ({"meta": None}, "Patient.meta"),
    ({"active": None}, "Patient.active"),
    ({"name": None}, "Patient.name"),
    ({"name": [None]}, "Patient.name"),
    ({"name": [{"family": None}]}, "Patient.name"),
    ({"name": [{"given": ["An", None]}]}, "Patient.name"),
    ({"meta": {"profile": None}}, "Patient.meta"),
    ({"id": None}, "Patient.id"),
    ({"contained": [None]}, "Patient.contained"),
    ({"extension": [{"url": "http://e.vn/x", "valueString": None}]}, "Patient.extension"),
])
def test_nulls_are_400_with_their_path(client, extra, where):
    response = client.post("/Patient", json={**new_patient(), **extra}, headers=FHIR_HEADERS)
    assert_outcome(response, 400, expression=where)


def test_a_null_meta_in_an_update_is_400(client):
    patient = created(client, new_patient())
    response = client.put(f"/Patient/{patient['id']}", json={**patient, "meta": None},
                          headers=FHIR_HEADERS)
    assert_outcome(response, 400, expression="Patient.meta")


def test_a_null_resource_in_a_bundle_entry_is_400(client):
    bundle = _bundle({"resource": None, "request": {"method": "POST", "url": "Patient"}},
                     kind="transaction")
    assert_outcome(client.post("", json=bundle, headers=FHIR_HEADERS), 400,
                   expression="Bundle.entry[0]")


def test_null_validate_parameters_are_400(client):
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "resource",
                                                               "resource": None}]}
    response = client.post("/Patient/$validate", json=parameters, headers=FHIR_HEADERS)
    assert_outcome(response, 400, expression="Parameters.parameter[0]")


# ---------------------------------------------------------------- version ids

HUGE = "99999999999999999999999"


@pytest.mark.parametrize("etag", [f'W/"{HUGE}"', f'"{HUGE}"', 'W/"-1"', 'W/"0x1"', 'W/"1.0"'])
def test_an_if_match_beyond_64_bits_is_412_or_400(client, etag):
    patient = created(client, new_patient())
    response = client.put(f"/Patient/{patient['id']}", json=patient,
                          headers={**FHIR_HEADERS, "If-Match": etag})
    assert response.status_code in (400, 412), response.text
    assert_outcome(response, response.status_code)
    response = client.patch(f"/Patient/{patient['id']}", json=[],
                            headers={"Content-Type": JSON_PATCH, "If-Match": etag})
    assert response.status_code in (400, 412), response.text
    response = client.delete(f"/Patient/{patient['id']}", headers={"If-Match": etag})
    assert response.status_code in (400, 412), response.text
    assert client.get(f"/Patient/{patient['id']}").json() == patient


@pytest.mark.parametrize("count", ["²", "١٠"])
def test_unicode_digits_in_number_parameters_are_answered(client, count):
    """"²" is a digit to Python's isdigit() but no number; "١٠" is Arabic-Indic ten."""
    response = client.get("/Patient", params={"_count": count})
    assert response.status_code in (200, 400), response.text


@pytest.mark.parametrize("vid", ["99999999999999999999", "9223372036854775808", "-1",
                                 "0", "%C2%B2"])
def test_a_version_beyond_64_bits_is_404_or_400(client, vid):
    patient = created(client, new_patient())
    response = client.get(f"/Patient/{patient['id']}/_history/{vid}")
    assert response.status_code in (400, 404), response.text
    assert_outcome(response, response.status_code)


@pytest.mark.parametrize("vid", [HUGE, "²", "1.0"])
def test_a_version_beyond_64_bits_in_a_bundle_is_answered(client, vid):
    patient = created(client, new_patient())
    bundle = _bundle({"request": {"method": "GET",
                                  "url": f"Patient/{patient['id']}/_history/{vid}"}})
    response = client.post("", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["response"]["status"].startswith("404")


# ---------------------------------------------------------------- CapabilityStatement

def _interactions(client, resource_type: str) -> set[str]:
    statement = client.get("/metadata").json()
    [entry] = [r for r in statement["rest"][0]["resource"] if r["type"] == resource_type]
    return {i["code"] for i in entry["interaction"]}


def test_provenance_advertises_what_it_answers(client):
    """Append-only: no patch or delete; `update` creates only (a loader keeping another
    server's ids PUTs them), which its documentation says, and an existing one is 405."""
    advertised = _interactions(client, "Provenance")
    assert {"read", "create", "search-type", "update"} <= advertised
    assert not advertised & {"patch", "delete"}
    rest = client.get("/metadata").json()["rest"][0]
    [provenance_type] = [r for r in rest["resource"] if r["type"] == "Provenance"]
    [update] = [i for i in provenance_type["interaction"] if i["code"] == "update"]
    assert "Creates only" in update["documentation"]
    assert provenance_type["updateCreate"] is True
    target = created(client, new_patient())
    [provenance] = client.get("/Provenance", params={"target": f"Patient/{target['id']}"}
                              ).json()["entry"]
    response = client.put(f"/Provenance/{provenance['resource']['id']}",
                          json=provenance["resource"], headers=FHIR_HEADERS)
    assert response.status_code in (400, 405), response.text


def test_a_provenance_created_by_put_shows_put_in_its_history(client):
    """Provenance keeps no history documents (one version each): its history entry still
    says how it was made (it said POST for a PUT)."""
    target = created(client, new_patient())
    provenance_id = f"prov-{uuid.uuid4()}"
    provenance = {"resourceType": "Provenance", "id": provenance_id,
                  "target": [{"reference": f"Patient/{target['id']}"}],
                  "recorded": "2025-07-01T08:00:00+07:00",
                  "agent": [{"who": {"display": "Khoa Nội"}}]}
    response = client.put(f"/Provenance/{provenance_id}", json=provenance, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    [entry] = client.get(f"/Provenance/{provenance_id}/_history").json()["entry"]
    assert entry["request"] == {"method": "PUT", "url": f"Provenance/{provenance_id}"}
    assert entry["response"]["status"] == "201 Created"


def test_audit_events_advertise_reading_only(client):
    advertised = _interactions(client, "AuditEvent")
    assert "read" in advertised and "search-type" in advertised
    assert not advertised & {"create", "update", "patch", "delete"}
    response = client.post("/AuditEvent", json={"resourceType": "AuditEvent"},
                           headers=FHIR_HEADERS)
    assert response.status_code in (400, 405), response.text


# ---------------------------------------------------------------- result parameters

@pytest.mark.parametrize("params", [
    {"_elements": ""}, {"_elements": ","}, {"_elements": "."}, {"_elements": "name.family"},
    {"_elements": "Patient.name"}, {"_elements": "*"}, {"_elements": "meta,meta,id"},
    {"_elements": "\x00"}, {"_elements": "ạ" * 500}, {"_summary": "count", "_elements": "id"},
    {"_summary": "text"}, {"_summary": "data"}, {"_summary": "false"}, {"_summary": "x"},
    {"_summary": "true", "_elements": "name"}, {"_count": "99999999999999999999"},
    {"_count": "-1"}, {"_count": "1e3"}, {"_count": "0"}, {"_sort": "-"}, {"_sort": ",,"},
    {"_sort": "-_lastUpdated,birthdate,-name"}, {"_sort": "_score"}, {"_total": "accurate"},
    {"_cursor": "x"}, {"_cursor": "\\ud800"}, {"_include": "*"}, {"_include": "Patient:*"},
    {"_revinclude": "*:*"}, {"_include:iterate": "Patient:general-practitioner:Practitioner"},
])
def test_result_parameters_at_their_edges_are_answered(client, last_day, params):
    for path in ("/Patient", f"/Patient/{last_day}", f"/Patient/{last_day}/_history/1"):
        response = client.get(path, params=params)
        assert response.status_code < 500, (path, params, response.text)
        if response.status_code >= 400:
            assert_outcome(response, response.status_code)


@pytest.mark.parametrize("path, params", [
    ("/Patient/_history", {"_since": "0001-01-01T00:00:00+14:00"}),
    ("/Patient/_history", {"_since": "9999-12-31T23:59:59-14:00"}),
    ("/_history", {"_at": "9999"}),
    ("/Patient", {"_lastUpdated": "ap0001"}),
    ("/Patient", {"_lastUpdated": "sa9999-12-31T23:59:59-14:00"}),
    ("/Patient", {"_has:Observation:subject:_has:Provenance:target:agent": "x"}),
    ("/Encounter", {"subject:Patient.organization.partof.partof.partof.name": "x"}),
    ("/Patient/{id}/$everything", {"_since": "0001-01-01T00:00:00+14:00"}),
    ("/Patient/{id}/$everything", {"start": "0001", "end": "9999-12-31T23:59:59-14:00"}),
    ("/Patient/{id}/$everything", {"_count": "99999999999999999999"}),
    ("/$export", {"_since": "0001-01-01T00:00:00+14:00"}),
    ("/$export", {"_typeFilter": "Patient?birthdate=ge9999-12-31T23:59:59-14:00"}),
    ("/ValueSet/$expand", {"url": "http://hl7.org/fhir/ValueSet/administrative-gender",
                           "count": "99999999999999999999", "offset": "-1"}),
    ("/ValueSet/$expand", {"url": "http://hl7.org/fhir/ValueSet/administrative-gender",
                           "filter": "\x00ạ" * 100}),
    ("/CodeSystem/$validate-code", {"url": "http://hl7.org/fhir/administrative-gender",
                                    "code": "", "display": "ạ" * 5000}),
    ("/ConceptMap/$translate", {"code": "x", "system": "", "target": "\x00"}),
])
def test_queries_of_operations_and_history_at_the_edges_are_answered(client, last_day, path,
                                                                      params):
    response = client.get(path.format(id=last_day), params=params,
                          headers={"Prefer": "respond-async"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_outcome(response, response.status_code)

