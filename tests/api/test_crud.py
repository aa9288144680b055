"""create, read, vread, update, delete, If-Match and Prefer over HTTP
(http://hl7.org/fhir/R4/http.html); JSON Patch in test_json_patch.py."""

import base64
import json
import uuid
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
from helpers import (
    FHIR_HEADERS,
    assert_outcome,
    assert_unchanged,
    create,
    created,
    http_date,
    media_type,
    new_patient,
    parse_instant,
    patch,
    put,
    without_meta,
)


def test_create_returns_201_with_location_etag_last_modified_and_the_stored_body(client, server):
    sent = new_patient(meta={"tag": [{"system": "http://fhir.hl7.org.vn/tag", "code": "demo"}],
                             "profile": ["http://fhir.hl7.org.vn/core/StructureDefinition/vn-core-patient"]})
    response = create(client, sent)
    assert response.status_code == 201, response.text
    body = response.json()
    new_id = body["id"]
    assert new_id
    assert response.headers["location"] == f"{server.base}/Patient/{new_id}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert media_type(response) == "application/fhir+json"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["tag"] == sent["meta"]["tag"]
    assert body["meta"]["profile"] == sent["meta"]["profile"]
    assert without_meta(body) == sent
    modified = http_date(response)
    last_updated = parse_instant(body["meta"]["lastUpdated"])
    assert abs(last_updated - modified) < timedelta(seconds=1)


@pytest.mark.parametrize("chosen", ["chosen-by-client", "not a valid id!"])
def test_create_ignores_a_client_supplied_id(client, chosen):
    """http.html#create: "If an id is provided, the server SHALL ignore it", well-formed or
    not."""
    sent = new_patient(id=chosen)
    body = created(client, sent)
    assert body["id"] != chosen
    if chosen == "chosen-by-client":
        assert client.get("/Patient/chosen-by-client").status_code == 404
    read = client.get(f"/Patient/{body['id']}")
    assert read.status_code == 200
    assert read.json()["name"] == sent["name"]


def test_read_returns_the_current_version_with_etag_and_last_modified(client):
    body = created(client, new_patient())
    response = client.get(f"/Patient/{body['id']}")
    assert response.status_code == 200
    assert response.json() == body
    assert response.headers["etag"] == 'W/"1"'
    assert abs(http_date(response) - parse_instant(body["meta"]["lastUpdated"])) < timedelta(
        seconds=1)


def test_read_of_an_unknown_id_is_404_not_found(client):
    assert_outcome(client.get(f"/Patient/{uuid.uuid4()}"), 404, "not-found")


def test_read_of_an_unsupported_type_is_404(client):
    assert_outcome(client.get("/Foo/1"), 404)


def test_vread_returns_each_version_and_404_for_an_unknown_version(client):
    first = created(client, new_patient())
    second = put(client, {**first, "gender": "other"})
    assert second.status_code == 200, second.text
    v1 = client.get(f"/Patient/{first['id']}/_history/1")
    assert v1.status_code == 200
    assert v1.json() == first
    assert v1.headers["etag"] == 'W/"1"'
    v2 = client.get(f"/Patient/{first['id']}/_history/2")
    assert v2.status_code == 200
    assert v2.json()["gender"] == "other"
    assert v2.headers["etag"] == 'W/"2"'
    assert_outcome(client.get(f"/Patient/{first['id']}/_history/3"), 404, "not-found")
    assert_outcome(client.get(f"/Patient/{first['id']}/_history/abc"), 404)


def test_update_returns_200_with_the_next_version_and_content_location(client, server):
    first = created(client, new_patient())
    changed = {**without_meta(first), "id": first["id"], "gender": "female",
               "name": [{"family": "Trần", "given": ["Thị", "Hương"]}]}
    response = put(client, changed)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    location = f"{server.base}/Patient/{first['id']}/_history/2"
    assert response.headers["content-location"] == location
    body = response.json()
    assert body["meta"]["versionId"] == "2"
    assert without_meta(body) == without_meta(changed)
    assert parse_instant(body["meta"]["lastUpdated"]) > parse_instant(first["meta"]["lastUpdated"])
    read = client.get(f"/Patient/{first['id']}")
    assert read.json() == body


def test_update_with_a_new_client_id_creates_it(client, server):
    new_id = f"bn-{uuid.uuid4().hex[:16]}"
    response = put(client, {**new_patient(), "id": new_id})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{server.base}/Patient/{new_id}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert response.json()["id"] == new_id
    assert client.get(f"/Patient/{new_id}").status_code == 200


def test_update_without_a_body_id_or_with_a_different_one_is_400(client):
    first = created(client, new_patient())
    no_id = without_meta(first)
    response = client.put(f"/Patient/{first['id']}", json=no_id, headers=FHIR_HEADERS)
    assert_outcome(response, 400)
    other = {**no_id, "id": "some-other-id"}
    response = client.put(f"/Patient/{first['id']}", json=other, headers=FHIR_HEADERS)
    assert_outcome(response, 400)
    assert client.get(f"/Patient/{first['id']}").json() == first
    assert client.get("/Patient/some-other-id").status_code == 404


def test_if_match_current_version_updates(client):
    first = created(client, new_patient())
    response = put(client, {**first, "active": False}, **{"If-Match": 'W/"1"'})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'


def test_stale_if_match_on_put_patch_and_delete_is_412_and_changes_nothing(client):
    first = created(client, new_patient())
    second = put(client, {**first, "gender": "female"})
    assert second.status_code == 200
    path = f"/Patient/{first['id']}"
    stale = {"If-Match": 'W/"1"'}
    assert_outcome(put(client, {**first, "gender": "other"}, **stale), 412)
    assert_outcome(patch(client, path, [{"op": "replace", "path": "/gender",
                                         "value": "other"}], **stale), 412)
    assert_outcome(client.delete(path, headers=stale), 412)
    read = client.get(path)
    assert read.status_code == 200
    assert read.headers["etag"] == 'W/"2"'
    assert read.json() == second.json()
    assert_outcome(client.get(f"{path}/_history/3"), 404)


def test_if_match_current_version_on_patch_and_delete_succeeds(client):
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    patched = patch(client, path, [{"op": "replace", "path": "/active", "value": False}],
                    **{"If-Match": 'W/"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == 'W/"2"'
    assert client.delete(path, headers={"If-Match": 'W/"2"'}).status_code == 204
    assert_outcome(client.get(path), 410)


def test_if_match_on_a_resource_that_does_not_exist_is_412_and_creates_nothing(client):
    new_id = f"bn-{uuid.uuid4().hex[:16]}"
    response = put(client, {**new_patient(), "id": new_id}, **{"If-Match": 'W/"1"'})
    assert_outcome(response, 412)
    assert_outcome(client.get(f"/Patient/{new_id}"), 404)


def test_if_match_star_writes_only_a_resource_that_exists(client):
    """`If-Match: *` (RFC 9110 §13.1.1): whichever version is current, if there is one; so a
    PUT with it never creates, and it fails once the resource is deleted."""
    any_version = {"If-Match": "*"}
    new_id = f"star-{uuid.uuid4().hex[:16]}"
    assert_outcome(put(client, {**new_patient(), "id": new_id}, **any_version), 412)
    assert_outcome(client.get(f"/Patient/{new_id}"), 404)

    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    assert put(client, {**first, "active": False}, **any_version).headers["etag"] == 'W/"2"'
    patched = patch(client, path, [{"op": "replace", "path": "/active", "value": True}],
                    **any_version)
    assert patched.headers["etag"] == 'W/"3"'
    assert client.delete(path, headers=any_version).status_code == 204
    assert_outcome(put(client, first, **any_version), 412)
    assert_outcome(client.get(path), 410)


def test_if_match_with_a_list_of_etags_writes_when_one_is_the_current_version(client):
    """RFC 9110 §13.1.1: `If-Match = "*" / #entity-tag`, true when any listed tag matches
    (weakly, as FHIR's W/ tags; empty list members ignored, §5.6.1). A list was 400, while
    If-None-Match took one."""
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    updated = put(client, {**first, "active": False}, **{"If-Match": 'W/"0", W/"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == 'W/"2"'
    patched = patch(client, path, [{"op": "replace", "path": "/active", "value": True}],
                    **{"If-Match": 'W/"2",W/"9", ,"7"'})
    assert patched.status_code == 200, patched.text
    stale = {"If-Match": 'W/"1", W/"2"'}  # version 3 is current
    assert "one of versions 1, 2" in assert_outcome(client.delete(path, headers=stale), 412)[
        "issue"][0]["diagnostics"]
    assert_outcome(put(client, {**first, "gender": "other"}, **stale), 412)
    assert client.get(path).headers["etag"] == 'W/"3"'
    assert client.delete(path, headers={"If-Match": 'W/"1", W/"3"'}).status_code == 204


@pytest.mark.parametrize("etags", ['W/"1", version-2', 'W/"1", *', "*, *", ", ,", 'W/"1" W/"2"'])
def test_an_if_match_list_with_a_malformed_member_is_400_and_changes_nothing(client, etags):
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    assert_outcome(put(client, {**first, "gender": "female"}, **{"If-Match": etags}), 400)
    assert_outcome(patch(client, path, [{"op": "replace", "path": "/gender", "value": "female"}],
                         **{"If-Match": etags}), 400)
    assert_outcome(client.delete(path, headers={"If-Match": etags}), 400)
    assert_unchanged(client, first)


def test_a_malformed_if_match_is_400_and_changes_nothing(client):
    first = created(client, new_patient())
    response = put(client, {**first, "gender": "female"}, **{"If-Match": "version-1"})
    assert_outcome(response, 400)
    assert_unchanged(client, first)


def test_delete_then_read_is_410_and_history_keeps_every_version(client):
    first = created(client, new_patient())
    assert put(client, {**first, "active": False}).status_code == 200
    path = f"/Patient/{first['id']}"
    response = client.delete(path)
    assert response.status_code == 204
    assert response.content == b""
    assert_outcome(client.get(path), 410)
    assert_outcome(client.get(f"{path}/_history/3"), 410)
    assert client.get(f"{path}/_history/1").json() == first
    history = client.get(f"{path}/_history").json()
    assert history["total"] == 3
    entries = history["entry"]
    assert [e["response"]["etag"] for e in entries] == ['W/"3"', 'W/"2"', 'W/"1"']
    assert entries[0]["request"]["method"] == "DELETE"
    assert "resource" not in entries[0]
    assert client.delete(path).status_code == 204
    assert client.get(f"{path}/_history").json()["total"] == 3


def test_delete_of_an_unknown_id_is_204(client):
    assert client.delete(f"/Patient/{uuid.uuid4()}").status_code == 204


@pytest.mark.parametrize("bad_id", ["bad%20id!", "a_b", "x" * 65])
def test_delete_of_an_id_no_resource_can_have_is_400(client, bad_id):
    """As a read (404) or a PUT (400) of it, not 204 as for a valid id that is unknown."""
    assert_outcome(client.delete(f"/Patient/{bad_id}"), 400)


def test_put_after_delete_recreates_with_the_next_version(client, server):
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    assert client.delete(path).status_code == 204
    response = put(client, {**without_meta(first), "id": first["id"], "active": False})
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == 'W/"3"'
    assert response.headers["location"] == f"{server.base}{path}/_history/3"
    read = client.get(path)
    assert read.status_code == 200
    assert read.json()["active"] is False
    assert read.json()["meta"]["versionId"] == "3"


def test_prefer_return_minimal_sends_no_body_but_all_headers(client, server):
    response = create(client, new_patient(), Prefer="return=minimal")
    assert response.status_code == 201
    assert response.content == b""
    location = response.headers["location"]
    assert location.startswith(f"{server.base}/Patient/")
    assert location.endswith("/_history/1")
    assert response.headers["etag"] == 'W/"1"'
    http_date(response)
    resource_id = location.split("/")[-3]
    current = client.get(f"/Patient/{resource_id}").json()
    update = put(client, {**current, "active": False}, Prefer="return=minimal")
    assert update.status_code == 200
    assert update.content == b""
    assert update.headers["etag"] == 'W/"2"'


def test_prefer_return_representation_and_operation_outcome(client):
    response = create(client, new_patient(), Prefer="return=representation")
    assert response.status_code == 201
    assert response.json()["resourceType"] == "Patient"
    outcome = create(client, new_patient(), Prefer="return=OperationOutcome")
    assert outcome.status_code == 201
    assert outcome.headers["etag"] == 'W/"1"'
    body = outcome.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "information"
    resource_id = outcome.headers["location"].split("/")[-3]
    assert client.get(f"/Patient/{resource_id}").status_code == 200


def test_binary_is_served_as_fhir_json_or_as_its_own_content(client):
    data = "Xin chào".encode()
    sent = {"resourceType": "Binary", "contentType": "text/plain",
            "data": base64.b64encode(data).decode()}
    response = create(client, sent)
    assert response.status_code == 201, response.text
    path = f"/Binary/{response.json()['id']}"
    as_fhir = client.get(path, headers={"Accept": "application/fhir+json"})
    assert as_fhir.status_code == 200
    assert media_type(as_fhir) == "application/fhir+json"
    assert without_meta(as_fhir.json()) == sent
    raw = client.get(path, headers={"Accept": "text/plain"})
    assert raw.status_code == 200
    assert media_type(raw) == "text/plain"
    assert raw.content == data
    assert raw.headers["etag"] == 'W/"1"'
    # binary.html#rest: only a FHIR media type named explicitly (or _format) gets the
    # resource; */*, as curl sends, or plain JSON get the content.
    for accept in ("*/*", "application/json", "text/html, */*;q=0.8"):
        native = client.get(path, headers={"Accept": accept})
        assert native.content == data and media_type(native) == "text/plain", accept
    as_xml = client.get(path, params={"_format": "xml"}, headers={"Accept": "*/*"})
    assert media_type(as_xml) == "application/fhir+xml"


@pytest.mark.parametrize("content_type", ["văn bản/thuần", "text/plain\u007f",
                                          "not a media type"])
def test_a_binary_whose_content_type_no_header_can_carry_is_served_as_octets(client,
                                                                              content_type):
    """Binary.contentType is a FHIR code, which may hold what an HTTP header may not: its
    content is served as application/octet-stream (it was a 500, or no answer)."""
    sent = {"resourceType": "Binary", "contentType": content_type, "data": "AQID"}
    response = create(client, sent)
    assert response.status_code == 201, response.text
    path = f"/Binary/{response.json()['id']}"
    for method in ("GET", "HEAD"):
        raw = client.request(method, path, headers={"Accept": "*/*"})
        assert raw.status_code == 200, (method, raw.text)
        assert media_type(raw) == "application/octet-stream"
        assert raw.content == (b"\x01\x02\x03" if method == "GET" else b"")


def test_a_binary_is_created_and_updated_from_its_own_content(client, server):
    """binary.html#rest: a body in another media type than FHIR's is the Binary's content."""
    png = b"\x89PNG\r\n\x1a\n-not-really-an-image"
    response = client.post("/Binary", content=png, headers={"Content-Type": "image/png"})
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["contentType"] == "image/png"
    assert base64.b64decode(stored["data"]) == png
    path = f"/Binary/{stored['id']}"
    assert client.get(path, headers={"Accept": "image/png"}).content == png
    pdf = b"%PDF-1.4 tai lieu"
    updated = client.put(path, content=pdf, headers={"Content-Type": "application/pdf"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["meta"]["versionId"] == "2"
    raw = client.get(path, headers={"Accept": "application/pdf"})
    assert raw.content == pdf and media_type(raw) == "application/pdf"
    created_by_put = client.put(f"/Binary/tai-lieu-{uuid.uuid4().hex[:8]}", content=pdf,
                                headers={"Content-Type": "application/pdf"})
    assert created_by_put.status_code == 201, created_by_put.text
    refused = client.post("/Patient", content=png, headers={"Content-Type": "image/png"})
    assert_outcome(refused, 415)


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml", "application/json"])
def test_a_binary_in_plain_xml_or_json_is_its_content_unless_it_is_fhir(client, content_type):
    """A CDA document sent as `application/xml` was read as FHIR XML (400, "expected
    http://hl7.org/fhir"), raw JSON as a resource without a resourceType; a FHIR Binary sent
    with those types is still one."""
    raw = (b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"><title>Giay ra vien'
           b'</title></ClinicalDocument>' if "xml" in content_type else b'{"so_bhyt": "1"}')
    response = client.post("/Binary", content=raw, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    stored = response.json()
    assert (stored["contentType"], base64.b64decode(stored["data"])) == (content_type, raw)
    as_fhir = {"resourceType": "Binary", "contentType": "text/plain", "data": "eGlu"}
    body = (b'<Binary xmlns="http://hl7.org/fhir"><contentType value="text/plain"/>'
            b'<data value="eGlu"/></Binary>' if "xml" in content_type
            else json.dumps(as_fhir).encode())
    response = client.post("/Binary", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    assert (response.json()["contentType"], response.json()["data"]) == ("text/plain", "eGlu")


@pytest.mark.parametrize(("content_type", "content"), [
    ("application/json", b"[" * 5000 + b"]" * 5000),  # too deep to be FHIR: a 500 before
    ("image/png", b""),  # no data (Binary.data is 0..1): it was refused, naming Binary.data
])
def test_a_binary_of_unusual_content_is_stored_as_it_came(client, content_type, content):
    response = client.post("/Binary", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    stored = response.json()
    assert base64.b64decode(stored.get("data", "")) == content


def test_a_binarys_versions_and_security_context_travel_with_its_content(client):
    """A vread is raw content as a read is, and `X-Security-Context` sets and gives the
    reference the Binary takes its access rules from (binary.html#rest)."""
    patient = created(client, new_patient())
    context = {"X-Security-Context": f"Patient/{patient['id']}"}
    stored = client.post("/Binary", content=b"anh-1", headers={
        "Content-Type": "image/png", **context}).json()
    assert stored["securityContext"] == {"reference": f"Patient/{patient['id']}"}
    path = f"/Binary/{stored['id']}"
    client.put(path, content=b"anh-2", headers={"Content-Type": "image/png", **context})
    first = client.get(f"{path}/_history/1", headers={"Accept": "image/png"})
    assert (first.content, media_type(first)) == (b"anh-1", "image/png")
    assert first.headers["X-Security-Context"] == f"Patient/{patient['id']}"
    assert client.get(f"{path}/_history/1").json()["resourceType"] == "Binary"  # FHIR asked


def test_delete_with_prefer_operation_outcome_is_200_with_an_outcome(client):
    """http.html#delete: 200 with a payload or 204 without; Prefer asks for the payload."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    prefer = {"Prefer": "return=OperationOutcome"}
    response = client.delete(path, headers=prefer)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == 'W/"2"'
    issue = response.json()["issue"][0]
    assert issue["severity"] == "information"
    assert f"Patient/{patient['id']}/_history/2 deleted" in issue["diagnostics"]
    again = client.delete(path, headers=prefer)
    assert again.status_code == 200 and again.json()["resourceType"] == "OperationOutcome"
    assert client.delete(path).status_code == 204
    assert client.get(path).status_code == 410


def test_last_modified_is_never_later_than_date(client):
    """RFC 9110 §8.8.2.1: "An origin server ... MUST NOT generate a Last-Modified date that
    is later than the server's time of message origination (Date)". uvicorn's own Date lags
    up to a second behind: 8 of 30 creates broke it. One Date, made as the response starts."""
    for _ in range(30):
        response = client.post("/Basic", json={"resourceType": "Basic", "code": {"text": "x"}},
                               headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text
        [date] = response.headers.get_list("date")
        assert parsedate_to_datetime(response.headers["last-modified"]) <= (
            parsedate_to_datetime(date))
