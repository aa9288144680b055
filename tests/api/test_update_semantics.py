"""What an update keeps and when it makes a version: tags and security labels of the version it
replaces stay unless `$meta-delete` removes them (HAPI's tag retention: a client sending its
own content back must not drop a confidentiality label), and an update sending what is stored
already makes no version and no Provenance (as HAPI, Microsoft's server and Medplum), nor
does a patch that changes nothing."""

import base64
import http.client
import json
import uuid

from helpers import FHIR_HEADERS, created, new_patient, patch, put

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
TAGS = "http://benhvien-bachmai.vn/fhir/CodeSystem/nhan"
RESTRICTED = {"system": CONFIDENTIALITY, "code": "R"}


def _codes(resource: dict, element: str) -> list[str]:
    return [coding["code"] for coding in resource["meta"].get(element, [])]


def _history_total(client, path: str) -> int:
    return client.get(f"{path}/_history").json()["total"]


def _provenances(client, path: str) -> int:
    bundle = client.get("/Provenance", params={"target": path.lstrip("/"), "_total": "accurate"})
    return bundle.json()["total"]


def test_an_update_without_meta_keeps_the_tags_and_security_labels(client):
    patient = created(client, new_patient(meta={"security": [RESTRICTED],
                                                "tag": [{"system": TAGS, "code": "cap-cuu"}]}))
    path = f"/Patient/{patient['id']}"
    del patient["meta"]
    response = put(client, {**patient, "gender": "female"})
    assert response.status_code == 200, response.text
    for stored in (response.json(), client.get(path).json()):
        assert stored["meta"]["versionId"] == "2"
        assert stored["gender"] == "female"
        assert _codes(stored, "security") == ["R"]
        assert _codes(stored, "tag") == ["cap-cuu"]
    search = client.get("/Patient", params={"_id": patient["id"],
                                            "_security": f"{CONFIDENTIALITY}|R"}).json()
    assert [e["resource"]["id"] for e in search.get("entry", [])] == [patient["id"]]


def test_an_update_adds_its_own_tags_to_the_kept_ones(client):
    patient = created(client, new_patient(meta={"tag": [{"system": TAGS, "code": "cu"}]}))
    response = put(client, {**patient, "meta": {"tag": [{"system": TAGS, "code": "moi"}]}})
    assert _codes(response.json(), "tag") == ["moi", "cu"]


def test_a_patch_cannot_remove_or_downgrade_a_label(client):
    """A patch is an update: removing `meta.security` or `meta.tag`, or replacing the label's
    code, keeps what was there (a replaced code is added beside it), by JSON Patch, by
    FHIRPath Patch and in a transaction."""
    patient = created(client, new_patient(meta={"security": [RESTRICTED],
                                                "tag": [{"system": TAGS, "code": "cap-cuu"}]}))
    path = f"/Patient/{patient['id']}"
    removal = [{"op": "remove", "path": "/meta/security"}, {"op": "remove", "path": "/meta/tag"},
               {"op": "add", "path": "/active", "value": False}]
    fhirpath_removal = {"resourceType": "Parameters", "parameter": [
        {"name": "operation", "part": [{"name": "type", "valueCode": "delete"},
                                       {"name": "path", "valueString": "Patient.meta.security"}]}]}
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
                     "data": base64.b64encode(json.dumps(
                         [{"op": "remove", "path": "/meta/security"},
                          {"op": "add", "path": "/gender", "value": "other"}]).encode()).decode()},
        "request": {"method": "PATCH", "url": path.lstrip("/")}}]}
    responses = [
        patch(client, path, removal),
        client.patch(path, json=fhirpath_removal, headers=FHIR_HEADERS),
        patch(client, path, [{"op": "replace", "path": "/meta/security/0/code", "value": "N"},
                             {"op": "add", "path": "/birthDate", "value": "1970-01-01"}]),
        client.post("/", json=transaction, headers=FHIR_HEADERS),
    ]
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    stored = client.get(path).json()
    assert stored["meta"]["versionId"] == "4"
    assert sorted(_codes(stored, "security")) == ["N", "R"]
    assert _codes(stored, "tag") == ["cap-cuu"]
    search = client.get("/Patient", params={"_id": patient["id"],
                                            "_security": f"{CONFIDENTIALITY}|R"}).json()
    assert search["total"] == 1


def test_meta_delete_removes_a_label_for_good(client):
    patient = created(client, new_patient(meta={"security": [RESTRICTED]}))
    path = f"/Patient/{patient['id']}"
    removal = {"resourceType": "Parameters",
               "parameter": [{"name": "meta", "valueMeta": {"security": [RESTRICTED]}}]}
    assert client.post(f"{path}/$meta-delete", json=removal,
                       headers=FHIR_HEADERS).status_code == 200
    del patient["meta"]
    response = put(client, {**patient, "active": False})
    assert response.status_code == 200, response.text
    assert "security" not in response.json()["meta"]


def test_an_update_with_the_stored_content_makes_no_version(client):
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    assert _provenances(client, path) == 1
    del patient["meta"]  # as a client that keeps no meta sends it back
    for _ in range(2):
        response = put(client, patient)
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == 'W/"1"'
        assert response.json()["meta"]["versionId"] == "1"
    assert _history_total(client, path) == 1
    assert _provenances(client, path) == 1
    changed = put(client, {**patient, "active": False})
    assert changed.headers["etag"] == 'W/"2"'
    assert _provenances(client, path) == 2


def test_a_decimal_written_with_other_digits_is_a_new_version(client):
    """`1.0` and `1.00` are equal numbers but different FHIR values (precision)."""
    observation_id = f"obs-{uuid.uuid4().hex[:12]}"
    path = f"/Observation/{observation_id}"

    def write(value: str) -> str:
        body = (f'{{"resourceType":"Observation","id":"{observation_id}","status":"final",'
                f'"code":{{"text":"Cân nặng"}},"valueQuantity":{{"value":{value},"unit":"kg"}}}}')
        response = client.put(path, content=body.encode(), headers=FHIR_HEADERS)
        assert response.status_code in (200, 201), response.text
        return response.headers["etag"]

    assert write("70.0") == 'W/"1"'
    assert write("70.0") == 'W/"1"'
    assert write("70.00") == 'W/"2"'
    assert client.get(path).text.count('"value":70.00') == 1


def test_a_transaction_entry_with_the_stored_content_writes_nothing(client):
    patient = created(client, new_patient())
    del patient["meta"]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient, "request": {"method": "PUT", "url": f"Patient/{patient['id']}"}},
    ]}
    response = client.post("/", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    [entry] = response.json()["entry"]
    assert entry["response"]["status"].startswith("200")
    assert entry["response"]["etag"] == 'W/"1"'
    assert _history_total(client, f"/Patient/{patient['id']}") == 1


def test_a_patch_that_changes_nothing_makes_no_version(client):
    patient = created(client, new_patient(active=True))
    path = f"/Patient/{patient['id']}"
    same = patch(client, path, [{"op": "replace", "path": "/active", "value": True}])
    assert same.status_code == 200, same.text
    assert same.headers["etag"] == 'W/"1"'
    assert _history_total(client, path) == 1
    changed = patch(client, path, [{"op": "replace", "path": "/active", "value": False}])
    assert changed.headers["etag"] == 'W/"2"'


def test_an_id_of_dots_alone_is_refused(client, server):
    """`.` and `..` match R4's id pattern, but URLs drop such path segments (RFC 3986
    §5.2.4): a resource PUT at `Patient/..` could never be read, updated or deleted by a
    client that normalises URLs, as httpx and browsers do (probe CL). Sent unnormalised, or
    as a transaction's entry, it is 400 and nothing is stored."""
    for dots in (".", ".."):
        body = json.dumps({**new_patient(), "id": dots}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.request("PUT", f"/fhir/Patient/{dots}", body,
                               {**client.headers, **FHIR_HEADERS})
            answer = connection.getresponse()
            text = answer.read()
            assert answer.status == 400 and b"RFC 3986" in text, text
        finally:
            connection.close()
        entry = {"resource": {**new_patient(), "id": dots},
                 "request": {"method": "PUT", "url": f"Patient/{dots}"}}
        response = client.post("", json={"resourceType": "Bundle", "type": "transaction",
                                         "entry": [entry]}, headers=FHIR_HEADERS)
        assert response.status_code == 400, response.text
