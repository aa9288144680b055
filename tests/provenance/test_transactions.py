"""Transactions and batches: one server Provenance per entry, each over its entry's version;
all versions of a transaction signed by one `signatures/signHash` call to the signing
service."""

import base64
import json
import uuid

import pytest
from api.helpers import FHIR_HEADERS, created, new_patient
from security.helpers import bundle, delete_entry, encounter_resource, post_entry, put_entry

from provenance.helpers import (
    assert_passed,
    joserfc_verify,
    jws_header,
    provenance_of,
    verify,
    versioned,
)


@pytest.fixture
def sign_hash_calls(signing_service, monkeypatch) -> list[int]:
    """The number of hashes of each signHash call the development signing service gets
    (the CSC app looks the method up on the service at every request)."""
    calls: list[int] = []
    service = signing_service.service
    original = service.sign_hash

    def counting(credential_id, hashes, hash_algo, sign_algo):
        calls.append(len(hashes) if isinstance(hashes, list) else -1)
        return original(credential_id, hashes, hash_algo, sign_algo)

    monkeypatch.setattr(service, "sign_hash", counting)
    return calls


def _patch_entry(url: str, operations: list) -> dict:
    """A transaction PATCH: the JSON Patch in a Binary (http.html#patch)."""
    data = base64.b64encode(json.dumps(operations).encode()).decode()
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": data}
    return {"resource": binary, "request": {"method": "PATCH", "url": url}}


def _locations(client, response) -> list[str]:
    """The entries' locations, relative to the base (Type/id/_history/n)."""
    assert response.status_code == 200, response.text
    base = str(client.base_url).rstrip("/") + "/"
    return [entry["response"].get("location", "").removeprefix(base)
            for entry in response.json()["entry"]]


def test_transaction_entries_each_get_a_provenance_from_one_sign_request(client,
                                                                         sign_hash_calls):
    kept, patched, removed = (created(client, new_patient()) for _ in range(3))
    sign_hash_calls.clear()
    new = f"urn:uuid:{uuid.uuid4()}"
    entries = [
        post_entry(new_patient(), full_url=new),
        post_entry(encounter_resource(new)),
        put_entry({**kept, "active": False}),
        _patch_entry(f"Patient/{patched['id']}",
                     [{"op": "replace", "path": "/gender", "value": "female"}]),
        delete_entry(f"Patient/{removed['id']}"),
    ]
    response = client.post("", json=bundle("transaction", *entries), headers=FHIR_HEADERS)
    locations = _locations(client, response)
    assert sign_hash_calls == [5]  # one request, five hashes

    versions = [*locations[:2], *(f"Patient/{p['id']}/_history/2"
                                  for p in (kept, patched, removed))]
    assert locations[2:4] == versions[2:4]
    provenances = [provenance_of(client, version) for version in versions]
    assert [p["activity"]["coding"][0]["code"] for p in provenances] == [
        "CREATE", "CREATE", "UPDATE", "UPDATE", "DELETE"]
    assert len({p["id"] for p in provenances}) == 5
    for provenance in provenances:
        assert_passed(verify(client, provenance["id"]))
    # The Encounter's signed reference is the resolved one, not the urn:uuid.
    encounter = client.get(locations[1]).json()
    assert encounter["subject"]["reference"] == locations[0].split("/_history/")[0]
    joserfc_verify(provenances[1]["signature"][0], encounter)
    # One signing moment for the whole transaction.
    assert len({jws_header(p["signature"][0])["sigT"] for p in provenances}) == 1


def test_each_write_is_one_sign_request(client, sign_hash_calls):
    patient = created(client, new_patient())
    assert sign_hash_calls == [1]
    assert_passed(verify(client, provenance_of(client, versioned(patient))["id"]))


def test_batch_entries_each_get_a_provenance(client):
    entries = [post_entry(new_patient()), post_entry(new_patient())]
    response = client.post("", json=bundle("batch", *entries), headers=FHIR_HEADERS)
    for location in _locations(client, response):
        assert_passed(verify(client, provenance_of(client, location)["id"]))


def test_failed_transaction_signs_and_stores_nothing(client, db, sign_hash_calls):
    before = db["Provenance"].count_documents({})
    entries = [post_entry(new_patient()),
               post_entry({"resourceType": "Patient", "birthDate": "ngày hai"})]
    response = client.post("", json=bundle("transaction", *entries), headers=FHIR_HEADERS)
    assert response.status_code in (400, 422), response.text
    assert sign_hash_calls == []
    assert db["Provenance"].count_documents({}) == before
