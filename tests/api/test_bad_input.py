"""Bad input gets a 4xx OperationOutcome saying what and where, and changes nothing."""

import gzip
import json

import pytest
from bundle_helpers import submit, transaction
from helpers import (
    FHIR_HEADERS,
    assert_outcome,
    created,
    new_patient,
    type_snapshot,
    unique_cccd,
)

ENCOUNTER = {
    "resourceType": "Encounter",
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
              "display": "ambulatory"},
}


@pytest.fixture
def unchanged(client):
    """Asserts, after the test, that no Patient or Encounter version was written."""
    created(client, new_patient())  # so that there is something to compare
    before = {t: type_snapshot(client, t) for t in ("Patient", "Encounter")}
    yield
    after = {t: type_snapshot(client, t) for t in ("Patient", "Encounter")}
    assert after == before


def _post(client, path: str, content: bytes | str, content_type: str = "application/fhir+json"):
    return client.post(path, content=content, headers={"Content-Type": content_type})


def test_malformed_json_is_400(client, unchanged):
    assert_outcome(_post(client, "/Patient", '{"resourceType": "Patient", "active": tru'), 400)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_no_json(client, unchanged, constant):
    """RFC 8259 §6: JSON has no NaN or Infinity (Python's json reads them; it was a 400 naming
    an invalid decimal 'nan' the client never sent)."""
    body = '{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, ' \
           f'"valueQuantity": {{"value": {constant}}}}}'
    outcome = assert_outcome(_post(client, "/Observation", body), 400)
    assert "not valid JSON" in outcome["issue"][0]["diagnostics"]


def test_empty_body_is_400(client, unchanged):
    assert_outcome(_post(client, "/Patient", b""), 400)


def test_invalid_utf8_is_400(client, unchanged):
    assert_outcome(_post(client, "/Patient", b'{"resourceType":"Patient","gender":"\xff"}'), 400)


@pytest.mark.parametrize("content_type, body", [
    ("application/fhir+json", b'{"resourceType":"Patient","name":[{"family":"Nguy\xe9n"}]}'),
    ("application/fhir+xml",
     b'<Patient xmlns="http://hl7.org/fhir"><name><family value="Nguy\xe9n"/></name></Patient>'),
])
def test_a_latin1_body_is_400_saying_the_byte_is_not_utf8(client, unchanged, content_type,
                                                          body):
    # The English message ended in "byte 49 is not", the words that say what it is not cut.
    diagnostics = assert_outcome(_post(client, "/Patient", body, content_type),
                                 400)["issue"][0]["diagnostics"]
    assert diagnostics.endswith("is not UTF-8"), diagnostics


def test_a_json_array_body_is_400(client, unchanged):
    assert_outcome(_post(client, "/Patient", json.dumps([new_patient()])), 400)


def test_a_json_string_body_is_400(client, unchanged):
    assert_outcome(_post(client, "/Patient", '"Nguyễn Văn An"'), 400)


@pytest.mark.parametrize("body", [
    '{"resourceType":"Patient","gender":"male","gender":"female"}',
    '{"resourceType":"Patient","name":[{"family":"Nguyễn","family":"Trần"}]}',
    '{"resourceType":"Patient","resourceType":"Encounter","status":"finished"}',
])
def test_a_property_named_twice_is_400(client, unchanged, body):
    """Which value counts would be the reader's guess (the last, for Python; the first, for
    others): a signer and the server could take different resources from the same bytes."""
    outcome = assert_outcome(_post(client, "/Patient", body.encode()), 400)
    assert "twice" in outcome["issue"][0]["diagnostics"]


def test_a_property_named_twice_in_a_transaction_entry_is_400(client, unchanged):
    patient = json.dumps(new_patient())[:-1] + ',"active":true,"active":false}'
    bundle = ('{"resourceType":"Bundle","type":"transaction","entry":[{"resource":' + patient
              + ',"request":{"method":"POST","url":"Patient"}}]}')
    assert "twice" in assert_outcome(_post(client, "", bundle), 400)["issue"][0]["diagnostics"]


def test_a_json_patch_naming_a_property_twice_is_400(client):
    target = created(client, new_patient())
    patch = '[{"op":"replace","path":"/active","value":false,"value":true}]'
    response = client.patch(f"/Patient/{target['id']}", content=patch,
                            headers={"Content-Type": "application/json-patch+json"})
    assert_outcome(response, 400)
    assert client.get(f"/Patient/{target['id']}").json()["meta"]["versionId"] == "1"


def test_missing_resource_type_is_400(client, unchanged):
    body = new_patient()
    del body["resourceType"]
    assert_outcome(_post(client, "/Patient", json.dumps(body)), 400)


def test_wrong_resource_type_is_400(client, unchanged):
    assert_outcome(_post(client, "/Patient", json.dumps(ENCOUNTER)), 400)
    assert_outcome(_post(client, "/Encounter", json.dumps(new_patient())), 400)


def test_unknown_element_is_400_with_its_location(client, unchanged):
    response = _post(client, "/Patient", json.dumps({"resourceType": "Patient", "foo": 1}))
    assert_outcome(response, 400, expression="Patient.foo")


def test_unknown_nested_element_is_400_with_its_location(client, unchanged):
    body = new_patient()
    body["name"][0]["ho"] = "Nguyễn"
    assert_outcome(_post(client, "/Patient", json.dumps(body)), 400, expression="ho")


def test_invalid_code_is_400_with_its_location(client, unchanged):
    body = new_patient(gender="xx")
    assert_outcome(_post(client, "/Patient", json.dumps(body)), 400, expression="Patient.gender")


def test_invalid_date_is_400_with_its_location(client, unchanged):
    body = new_patient(birthDate="1990-02-30")
    response = _post(client, "/Patient", json.dumps(body))
    assert_outcome(response, 400, expression="Patient.birthDate")


def test_wrong_json_type_is_400(client, unchanged):
    body = new_patient(active="có")
    assert_outcome(_post(client, "/Patient", json.dumps(body)), 400, expression="Patient.active")


def test_encounter_without_required_status_is_400(client, unchanged):
    body = {key: value for key, value in ENCOUNTER.items() if key != "status"}
    assert_outcome(_post(client, "/Encounter", json.dumps(body)), 400, expression="status")


def test_a_valid_encounter_is_accepted(client):
    response = _post(client, "/Encounter", json.dumps(ENCOUNTER))
    assert response.status_code == 201, response.text


def test_invalid_update_changes_nothing(client):
    first = created(client, new_patient())
    bad = {**first, "gender": "xx"}
    response = client.put(f"/Patient/{first['id']}", json=bad, headers=FHIR_HEADERS)
    assert_outcome(response, 400, expression="Patient.gender")
    read = client.get(f"/Patient/{first['id']}")
    assert read.json() == first
    assert read.headers["etag"] == 'W/"1"'


def _padded_patient(size: int) -> bytes:
    body = json.dumps(new_patient(), ensure_ascii=False).encode()
    assert len(body) < size
    return body + b" " * (size - len(body))


def test_a_body_over_the_size_limit_is_413(client, server, unchanged):
    limit = server.settings.max_body_bytes
    exactly = _padded_patient(limit + 1)
    assert_outcome(_post(client, "/Patient", exactly), 413)


def test_a_chunked_body_over_the_size_limit_is_413(client, server, unchanged):
    body = _padded_patient(server.settings.max_body_bytes + 1)

    def chunks():
        for start in range(0, len(body), 1 << 20):
            yield body[start:start + (1 << 20)]

    response = client.post("/Patient", content=chunks(), headers=FHIR_HEADERS)
    assert_outcome(response, 413)


def test_a_body_at_the_size_limit_is_accepted(client, server):
    limit = server.settings.max_body_bytes
    response = _post(client, "/Patient", _padded_patient(limit))
    assert response.status_code == 201, response.text[:500]


def test_deeply_nested_extensions_are_400(client, unchanged):
    nested: dict = {"url": "http://fhir.hl7.org.vn/ext/leaf", "valueString": "Hà Nội"}
    for level in range(200):
        nested = {"url": f"http://fhir.hl7.org.vn/ext/level-{level}", "extension": [nested]}
    body = new_patient(extension=[nested])
    assert_outcome(_post(client, "/Patient", json.dumps(body)), 400)


def test_very_deeply_nested_arrays_are_400(client, unchanged):
    depth = 100_000
    assert_outcome(_post(client, "/Patient", "[" * depth + "]" * depth), 400)


def test_very_deeply_nested_objects_are_400(client, unchanged):
    depth = 100_000
    assert_outcome(_post(client, "/Patient", '{"a":' * depth + "1" + "}" * depth), 400)


def test_deeply_nested_bundle_is_400(client, unchanged):
    depth = 100_000
    assert_outcome(_post(client, "", "[" * depth + "]" * depth), 400)


def test_unknown_resource_type_is_404(client):
    assert_outcome(_post(client, "/Benhnhan", json.dumps(new_patient())), 404)
    assert_outcome(client.get("/Benhnhan"), 404)
    assert_outcome(client.get("/Benhnhan/1/_history"), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/metadata"),
        ("PUT", "/metadata"),
        ("GET", "/Patient/1/_history/1/extra"),
        ("POST", "/Patient/1/_history"),
        ("GET", "/khong-co/1/2/3/4"),
    ],
)
def test_unknown_route_or_method_is_404_or_405(client, method, path):
    response = client.request(method, path, content=b"{}", headers=FHIR_HEADERS)
    assert response.status_code in (404, 405), response.text
    assert_outcome(response, response.status_code)


def test_an_unknown_prefer_return_is_ignored_or_refused_before_writing(client):
    """RFC 7240 says to ignore it; refusing is acceptable only if nothing was written."""
    before = type_snapshot(client, "Patient")
    response = client.post("/Patient", json=new_patient(),
                           headers={**FHIR_HEADERS, "Prefer": "return=everything"})
    after = type_snapshot(client, "Patient")
    if response.status_code == 201:
        assert len(after) == len(before) + 1
        assert response.json()["resourceType"] == "Patient"
    else:
        assert_outcome(response, 400)
        assert after == before, "the resource was stored although the request was refused"


def test_an_invalid_count_is_400(client):
    assert_outcome(client.get("/Patient", params={"_count": "nhiều"}), 400, expression="_count")


def test_a_405_names_the_methods_the_url_allows(client):
    """RFC 9110 §15.5.6: a 405 response carries Allow, every method the URL takes."""
    response = client.post("/Patient/1", json={"resourceType": "Patient"}, headers=FHIR_HEADERS)
    assert_outcome(response, 405)
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert allowed >= {"GET", "HEAD", "PUT", "PATCH", "DELETE"}, allowed
    assert "POST" not in allowed


def test_a_gzipped_body_is_decoded(client):
    """Content-Encoding: gzip (HAPI's GZipContentInterceptor sends it) is decoded."""
    value = unique_cccd()
    body = gzip.compress(json.dumps(new_patient(value)).encode())
    response = client.post("/Patient", content=body,
                           headers={**FHIR_HEADERS, "Content-Encoding": "gzip"})
    assert response.status_code == 201, response.text
    assert response.json()["identifier"][0]["value"] == value


def test_an_undecodable_or_oversized_coded_body_is_refused_and_stores_nothing(client, server):
    before = type_snapshot(client, "Patient")
    patient = json.dumps(new_patient()).encode()
    bomb = gzip.compress(b" " * (server.settings.max_body_bytes + 1))
    for coding, body, status in (("br", patient, 415), ("gzip", patient, 400),
                                 ("gzip", gzip.compress(patient)[:-12], 400),
                                 ("gzip", bomb, 413)):
        response = client.post("/Patient", content=body,
                               headers={**FHIR_HEADERS, "Content-Encoding": coding})
        assert_outcome(response, status)
        # RFC 9110 §12.5.3: a 415 for the coding names the codings taken.
        assert response.headers.get("Accept-Encoding") == ("gzip" if status == 415 else None)
    assert type_snapshot(client, "Patient") == before


def test_a_405_from_a_read_only_type_names_its_reads(client):
    """AuditEvents are written by the server only: a write is 405, and Allow says what the
    URL still takes."""
    for method, path in (("PUT", "/AuditEvent/x1"), ("DELETE", "/AuditEvent/x1"),
                         ("POST", "/AuditEvent")):
        response = client.request(method, path, json={"resourceType": "AuditEvent", "id": "x1"},
                                  headers=FHIR_HEADERS)
        assert_outcome(response, 405)
        assert response.headers["Allow"] == "GET, HEAD", (method, path)


def test_a_405_from_an_operation_names_the_methods_it_is_invoked_with(client):
    response = client.get("/$verify-signature")
    assert_outcome(response, 405)
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/Patient/_history", "GET, HEAD"),
    ("PUT", "/Patient/_history", "GET, HEAD"),
    ("PATCH", "/Patient/_history", "GET, HEAD"),
    ("POST", "/Patient/_history", "GET, HEAD"),  # the Allow of Starlette's own 405
    ("DELETE", "/Patient/_search", "GET, HEAD, POST"),
    ("PUT", "/Patient/_search", "GET, HEAD, POST"),
    ("POST", "/metadata", "GET, HEAD"),
    ("DELETE", "/metadata", "GET, HEAD"),
    ("POST", "/_history", "GET, HEAD"),
    ("POST", "/.well-known/smart-configuration", "GET, HEAD"),
    ("DELETE", "/.well-known/smart-configuration", "GET, HEAD"),
])
def test_a_write_to_a_search_or_history_endpoint_is_405_not_a_write(client, method, path,
                                                                     allowed):
    """`_history` and `_search` are endpoints, not ids ("_" is no id character): DELETE
    /Patient/_history was a 204 "deletion" of a Patient with that id."""
    before = type_snapshot(client, "Patient")
    response = client.request(method, path, json={"resourceType": "Patient"},
                              headers=FHIR_HEADERS)
    assert_outcome(response, 405)
    assert response.headers["Allow"] == allowed
    assert type_snapshot(client, "Patient") == before


@pytest.mark.parametrize(("path", "allowed"), [
    ("/metadata", "GET, HEAD"),
    ("/_history", "GET, HEAD"),
    ("/.well-known/smart-configuration", "GET, HEAD"),
    ("/AuditEvent/x1", "GET, HEAD"),  # written by the server only
    ("/ValueSet/$expand", "GET, HEAD, POST"),
    ("/Patient/$validate", "GET, HEAD, POST"),
    ("/Patient/$match", "POST"),
    ("/$export", "GET, POST"),  # a kick-off starts work: no HEAD
])
def test_options_and_every_405_name_the_same_methods_those_the_path_takes(client, path,
                                                                         allowed):
    """RFC 9110 §10.2.1: Allow lists the methods the target resource supports. OPTIONS on
    /metadata or an operation named all six while a PUT there was 405 naming two, and an
    operation's 405 left out the HEAD it answers."""
    for method in ("OPTIONS", "PUT", "DELETE"):
        response = client.request(method, path, json={"resourceType": "AuditEvent"},
                                  headers=FHIR_HEADERS)
        assert_outcome(response, 405)
        assert response.headers["Allow"] == allowed, method
    for method in allowed.split(", "):
        assert client.request(method, path).status_code != 405, method


@pytest.mark.parametrize(("path", "patched"), [
    ("/Patient/x1", True), ("/Patient", True),  # conditional PATCH
    ("/Patient/x1/_history", False), ("/AuditEvent/x1", False), ("/metadata", False),
])
def test_options_name_the_patch_formats_where_patch_is_allowed(client, path, patched):
    """RFC 5789 §3.1: Accept-Patch "SHOULD appear in the OPTIONS response for any resource
    that supports the use of the PATCH method", with the formats it takes: the
    CapabilityStatement's patchFormat."""
    formats = client.get("/metadata").json()["patchFormat"]
    response = client.options(path)
    assert ("PATCH" in response.headers["Allow"]) is patched
    assert response.headers.get("Accept-Patch") == (", ".join(formats) if patched else None)


@pytest.mark.parametrize("path", ["/metadata/foo", "/_history/1", "/metadata/foo/bar"])
def test_a_read_of_a_path_under_an_endpoint_is_404(client, path):
    """A 405 whose Allow named the very method used contradicted itself (RFC 9110
    §15.5.6): the method is fine, what it names is not there."""
    response = client.get(path)
    assert_outcome(response, 404)
    assert "allow" not in response.headers


def test_a_version_without_its_resource_id_is_404_saying_so(client):
    """`Patient/_history/1` was read as a compartment search of a type named "1", and
    `Patient/_search/Observation` as one of a Patient of id `_search`."""
    response = client.get("/Patient/_history/1")
    assert "Patient/[id]/_history/[vid]" in assert_outcome(response, 404)["issue"][0][
        "diagnostics"]
    assert "is no id" in assert_outcome(client.get("/Patient/_search/Observation"), 404)[
        "issue"][0]["diagnostics"]


def test_an_entry_whose_resource_is_of_another_type_names_that_resource(client):
    """The expression is a path into the content (operationoutcome.html): the entry's
    resource's resourceType, not the entry's."""
    entry = {"resource": new_patient(), "request": {"method": "POST", "url": "Observation"}}
    response = submit(client, transaction(entry))
    outcome = assert_outcome(response, 400)
    expressions = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
    assert expressions == ["Bundle.entry[0].resource.resourceType"], outcome


_HUGE = "9" * 5000  # past Python's 4,300 digits, which int() refused as a 500


@pytest.mark.parametrize(("path", "params"), [
    ("/Patient", {"_count": _HUGE}),
    ("", {"_type": "Patient", "_count": _HUGE}),
    ("/Patient/_history", {"_count": _HUGE}),
    ("/Patient/x/_history/" + _HUGE, {}),
    ("/Patient/x/$everything", {"_count": _HUGE}),
    ("/Observation/$lastn", {"max": _HUGE}),
    ("/ValueSet/$expand", {"url": "http://hl7.org/fhir/ValueSet/administrative-gender",
                           "count": _HUGE}),
    ("/ValueSet/$expand", {"url": "http://hl7.org/fhir/ValueSet/administrative-gender",
                           "offset": _HUGE}),
])
def test_a_number_of_thousands_of_digits_in_a_parameter_is_a_client_error(client, path,
                                                                           params):
    response = client.get(path, params=params)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert response.json()["resourceType"] == "OperationOutcome"
    if params.get("_count") and path == "/Patient":  # said to be too large, not no integer
        assert "_count must be at most 1000 here" in response.text, response.text


def test_conditional_criteria_with_a_huge_count_are_a_client_error(client, unchanged):
    response = client.post("/Patient", json={"resourceType": "Patient"}, headers={
        "Content-Type": "application/fhir+json", "If-None-Exist": f"_count={_HUGE}"})
    assert 400 <= response.status_code < 500, response.text[:300]

