"""The official R4 examples (shared/fhir-r4/examples): the transaction Bundle example, and
every example of a supported type stored and read back unchanged."""

import copy
import json
from pathlib import Path

import pytest
from bundle_helpers import (
    check_written,
    history_snapshot,
    outcome_names_entry,
    response_bundle,
    submit,
)
from helpers import FHIR_HEADERS, assert_outcome, search_ids

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples"
SUPPORTED = ("Patient", "Encounter", "DocumentReference", "Provenance", "Practitioner",
             "Organization", "Group", "Binary")
TRANSACTION_EXAMPLE = EXAMPLES_DIR / "Bundle-bundle-transaction.json"
EXAMPLE_IDS = "http:/example.org/fhir/ids"  # sic, as written in the example


def _supported_examples(signed: bool) -> list[Path]:
    """Examples of the supported types; `signed`: the Provenances carrying a signature."""
    paths = []
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        is_signed = resource.get("resourceType") == "Provenance" and "signature" in resource
        if resource.get("resourceType") in SUPPORTED and is_signed == signed:
            paths.append(path)
    return paths


EXAMPLES = _supported_examples(signed=False)
# Their XML-DSig / placeholder signatures cannot verify: a signed Provenance is only stored
# when its signatures do (README "Signature contract").
SIGNED_PROVENANCE_EXAMPLES = _supported_examples(signed=True)


def _without_version_meta(resource: dict, drop_id: bool = False) -> dict:
    """The resource without meta.versionId/lastUpdated (and id): what a server may change."""
    result = copy.deepcopy(resource)
    if drop_id:
        result.pop("id", None)
    meta = result.pop("meta", {})
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    if meta:
        result["meta"] = meta
    return result


def _entry_type(entry: dict) -> str:
    resource_type = entry.get("resource", {}).get("resourceType")
    url_type = entry["request"]["url"].split("?")[0].split("/")[0]
    return url_type if url_type in SUPPORTED else resource_type or url_type


def test_examples_of_every_supported_type_are_present():
    kinds = {json.loads(p.read_text(encoding="utf-8"))["resourceType"] for p in EXAMPLES}
    assert kinds == set(SUPPORTED)
    assert len(EXAMPLES) >= 60


def test_official_transaction_with_an_unsupported_operation_fails_as_a_whole(client):
    example = json.loads(TRANSACTION_EXAMPLE.read_text(encoding="utf-8"))
    unsupported = [i for i, e in enumerate(example["entry"]) if _entry_type(e) not in SUPPORTED]
    # Entry 7 is `POST ValueSet/$lookup` with a Parameters resource.
    assert unsupported == [7]
    before = history_snapshot(client)
    response = submit(client, example)
    assert 400 <= response.status_code < 500, response.text
    outcome_names_entry(assert_outcome(response, response.status_code), 7)
    assert history_snapshot(client) == before
    assert client.get("/Patient/123").status_code == 404
    assert search_ids(client, "Patient", identifier=f"{EXAMPLE_IDS}|234234") == []
    assert search_ids(client, "Patient", identifier=f"{EXAMPLE_IDS}|456456") == []


def _put(client, resource: dict) -> dict:
    response = client.put(f"/Patient/{resource['id']}", json=resource, headers=FHIR_HEADERS)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _seed_what_the_example_expects(client) -> None:
    """The example updates Patient/123a at version 2, deletes Patient/234 and the Patient
    with identifier 123456, and reads Patient/12334: make them exist."""
    version_one = {"resourceType": "Patient", "id": "123a", "gender": "male",
                   "name": [{"family": "Chalmers", "given": ["Peter"]}]}
    _put(client, version_one)
    assert _put(client, {**version_one, "birthDate": "1974-12-25"})["meta"]["versionId"] == "2"
    _put(client, {"resourceType": "Patient", "id": "234", "gender": "female",
                  "name": [{"family": "Võ", "given": ["Thị", "Sáu"]}]})
    _put(client, {"resourceType": "Patient", "id": "vn-123456",
                  "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1",
                                  "value": "123456"}],
                  "name": [{"family": "Đặng", "given": ["Thùy", "Trâm"]}]})
    _put(client, {"resourceType": "Patient", "id": "12334", "gender": "male",
                  "name": [{"family": "Phạm", "given": ["Minh", "Đức"]}]})


def test_official_transaction_restricted_to_supported_types_succeeds(client, server):
    _seed_what_the_example_expects(client)
    example = json.loads(TRANSACTION_EXAMPLE.read_text(encoding="utf-8"))
    example["entry"] = [e for e in example["entry"] if _entry_type(e) in SUPPORTED]
    assert len(example["entry"]) == 9
    entries = response_bundle(submit(client, example), "transaction-response", 9)
    base = server.base
    created = [check_written(entries[i], base, "Patient", "201 Created") for i in range(4)]
    assert created[2] == "123"
    assert check_written(entries[4], base, "Patient", "200 OK", vid=3) == "123a"
    assert entries[5]["response"]["status"] in ("200 OK", "204 No Content")
    assert entries[6]["response"]["status"] in ("200 OK", "204 No Content")
    search, read = entries[7], entries[8]
    assert search["response"]["status"] == "200 OK"
    assert search["resource"]["type"] == "searchset"
    found = {e["resource"]["id"] for e in search["resource"].get("entry", [])}
    assert set(created) | {"123a"} <= found, found
    assert read["response"]["status"] == "200 OK"
    assert read["resource"]["id"] == "12334"
    assert read["resource"]["name"][0]["family"] == "Phạm"
    # The stored results.
    assert client.get("/Patient/234").status_code == 410
    assert client.get("/Patient/vn-123456").status_code == 410
    assert search_ids(client, "Patient", identifier=f"{EXAMPLE_IDS}|234234") == [created[1]]
    assert search_ids(client, "Patient", identifier=f"{EXAMPLE_IDS}|456456") == [created[3]]
    patient = client.get("/Patient/123a").json()
    assert patient["meta"]["versionId"] == "3"
    assert patient["name"] == [{"use": "official", "family": "Chalmers",
                                "given": ["Peter", "James"]}]


@pytest.mark.parametrize("path", SIGNED_PROVENANCE_EXAMPLES, ids=lambda p: p.stem)
def test_signed_provenance_examples_are_refused_with_the_failed_check(client, path):
    original = json.loads(path.read_text(encoding="utf-8"))
    before = client.get("/Provenance", params={"_total": "accurate", "_count": "0"}).json()
    response = client.post("/Provenance", content=path.read_bytes(), headers=FHIR_HEADERS)
    assert response.status_code == 422, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Provenance.signature[0]"]
    assert "application/jose" in issue["diagnostics"]
    # `$validate` says so as the create does (probe CH: "No issues detected").
    checked = client.post("/Provenance/$validate?mode=create", content=path.read_bytes(),
                          headers=FHIR_HEADERS)
    assert checked.status_code == 200, checked.text
    assert [i for i in checked.json()["issue"] if i["severity"] == "error"] == (
        response.json()["issue"])
    assert client.put(f"/Provenance/{original['id']}", content=path.read_bytes(),
                      headers=FHIR_HEADERS).status_code == 422
    assert client.get(f"/Provenance/{original['id']}").status_code == 404
    after = client.get("/Provenance", params={"_total": "accurate", "_count": "0"}).json()
    assert after["total"] == before["total"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_update_as_create_round_trips_unchanged(client, path):
    original = json.loads(path.read_text(encoding="utf-8"))
    url = f"/{original['resourceType']}/{original['id']}"
    response = client.put(url, content=path.read_bytes(), headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    assert _without_version_meta(response.json()) == _without_version_meta(original)
    stored = client.get(url)
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert body["meta"]["versionId"] == "1"
    assert stored.headers["etag"] == 'W/"1"'
    assert _without_version_meta(body) == _without_version_meta(original)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_create_round_trips_with_a_new_id(client, path):
    original = json.loads(path.read_text(encoding="utf-8"))
    kind = original["resourceType"]
    response = client.post(f"/{kind}", content=path.read_bytes(), headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    new_id = response.json()["id"]
    assert new_id != original["id"]
    assert response.headers["location"].split("/_history/")[0].endswith(f"/{kind}/{new_id}")
    stored = client.get(f"/{kind}/{new_id}")
    assert stored.status_code == 200, stored.text
    expected = _without_version_meta(original, drop_id=True)
    assert _without_version_meta(stored.json(), drop_id=True) == expected
