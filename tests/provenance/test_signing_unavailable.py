"""A write that cannot be signed is refused with 503 and stores nothing: here the signing
service's URL points at a closed port."""

import socket
from collections.abc import Iterator

import httpx
import pymongo
import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, create, new_patient, search_ids
from security.helpers import bundle, fhir_client, own_server, personal_id, post_entry

from provenance.helpers import CCCD_SYSTEM


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is


@pytest.fixture(scope="module")
def unsigned_server(mongo_uri, request, tmp_path_factory, issuer):
    closed = f"http://127.0.0.1:{_closed_port()}/csc/v2"
    with own_server(mongo_uri, request, tmp_path_factory, issuer, csc_url=closed) as running:
        yield running


@pytest.fixture(scope="module")
def unsigned_client(unsigned_server, issuer) -> Iterator[httpx.Client]:
    with fhir_client(unsigned_server.base, issuer.token()) as http:
        yield http


@pytest.fixture(scope="module")
def stored(unsigned_server, mongo_uri):
    """`stored(collection)`: how many documents the collection holds."""
    with pymongo.MongoClient(mongo_uri) as mongo:
        database = mongo[unsigned_server.settings.database]
        yield lambda collection: database[collection].count_documents({})


def test_create_is_refused_with_503(unsigned_client, stored):
    marker = personal_id(1999)
    response = create(unsigned_client, new_patient(marker))
    assert_outcome(response, 503)
    assert search_ids(unsigned_client, "Patient", identifier=f"{CCCD_SYSTEM}|{marker}") == []
    assert stored("Patient") == stored("Patient_history") == 0
    assert stored("Provenance") == stored("Provenance_history") == 0


def test_update_as_create_and_transaction_are_refused(unsigned_client, stored):
    response = unsigned_client.put("/Patient/khong-ky-duoc", headers=FHIR_HEADERS,
                                   json=new_patient(id="khong-ky-duoc"))
    assert_outcome(response, 503)
    entries = [post_entry(new_patient()), post_entry(new_patient())]
    response = unsigned_client.post("", json=bundle("transaction", *entries),
                                    headers=FHIR_HEADERS)
    assert_outcome(response, 503)
    assert unsigned_client.get("/Patient/khong-ky-duoc").status_code == 404
    assert stored("Patient") == stored("Provenance") == 0


def test_reads_and_verification_still_work(unsigned_client):
    assert unsigned_client.get("/Patient").status_code == 200
    assert_outcome(unsigned_client.get("/Provenance/none/$verify"), 404)


def test_a_batch_answers_503_in_each_write_entry(unsigned_client, stored):
    entries = [post_entry(new_patient()), post_entry(new_patient())]
    response = unsigned_client.post("", json=bundle("batch", *entries), headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["503 Service Unavailable"] * 2
    assert stored("Patient") == 0
