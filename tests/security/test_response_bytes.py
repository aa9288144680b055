"""The bytes of one response (FHIR_MAX_RESPONSE_BYTES, here 3 MiB): a search page of large
resources (inline attachments) ends early and pages on, included ones beyond are left out
with a warning, and the read entries of a batch stop answering once they pass it; one
resource alone is answered whatever its size. Before, a page of 1,000 such resources, or a
batch of 5,000 reads of one, was built whole in memory (3.5 GB for 13 MB Binaries)."""

import asyncio
import base64
import os

import pytest
from api.helpers import FHIR_HEADERS, all_pages, assert_outcome

from security.helpers import bundle, fhir_client, own_server, patient_resource

LIMIT = 3 * 2**20
MEGABYTE_OF_BASE64 = 3 * 2**18  # raw bytes whose base64 is 1 MiB


@pytest.fixture(scope="module")
def http(mongo_uri, request, tmp_path_factory, issuer):
    with own_server(mongo_uri, request, tmp_path_factory, issuer, sign_writes=False,
                    max_response_bytes=LIMIT) as running, \
            fhir_client(running.base, issuer.token()) as client:
        yield client


def _data(raw_bytes: int) -> str:
    return base64.b64encode(os.urandom(raw_bytes)).decode()


def _created(http, resource: dict) -> str:
    response = http.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text[:300]
    return response.json()["id"]


@pytest.fixture(scope="module")
def binaries(http) -> list[str]:
    """Five Binaries of 1 MiB of base64 each: two fit in the limit, three do not."""
    return [_created(http, {"resourceType": "Binary", "contentType": "application/pdf",
                            "data": _data(MEGABYTE_OF_BASE64)}) for _ in range(5)]


def test_a_page_of_large_resources_ends_early_and_pages_on(http, binaries):
    params = {"_id": ",".join(binaries), "_count": "10"}
    first = http.get("/Binary", params=params)
    assert first.status_code == 200, first.text[:300]
    page = first.json()
    assert [e["search"]["mode"] for e in page["entry"]] == ["match", "match"]
    assert len(first.content) < LIMIT + 10_000
    entries, pages = all_pages(http, "/Binary", params)
    assert sorted(e["resource"]["id"] for e in entries) == sorted(binaries)
    assert pages == 3
    assert all(e["search"]["mode"] == "match" for e in entries)


def test_one_resource_larger_than_the_limit_is_still_answered(http):
    large = _created(http, {"resourceType": "Binary", "contentType": "application/pdf",
                            "data": _data(4 * MEGABYTE_OF_BASE64)})
    read = http.get(f"/Binary/{large}")
    assert read.status_code == 200 and len(read.json()["data"]) == 4 * 2**20
    page = http.get("/Binary", params={"_id": large}).json()
    assert [e["resource"]["id"] for e in page["entry"]] == [large]
    answered = http.post("", json=bundle("batch", _get(f"Binary/{large}")), headers=FHIR_HEADERS)
    assert answered.json()["entry"][0]["response"]["status"].startswith("200")


@pytest.fixture(scope="module")
def scanned(http) -> tuple[str, list[str]]:
    """A Patient with four DocumentReferences holding a scan of 1 MiB of base64 each."""
    patient = _created(http, patient_resource())
    return patient, [_created(http, {
        "resourceType": "DocumentReference", "status": "current",
        "subject": {"reference": f"Patient/{patient}"},
        "content": [{"attachment": {"contentType": "application/pdf",
                                    "data": _data(MEGABYTE_OF_BASE64)}}],
    }) for _ in range(4)]


def test_included_resources_beyond_the_bytes_are_left_out_with_a_warning(http, scanned):
    patient, _ = scanned
    page = http.get("/Patient", params={"_id": patient,
                                        "_revinclude": "DocumentReference:subject"}).json()
    modes = [e["search"]["mode"] for e in page["entry"]]
    assert modes == ["match", "include", "include", "outcome"], modes
    warning = page["entry"][-1]["resource"]["issue"][0]
    assert warning["severity"] == "warning" and str(LIMIT) in warning["diagnostics"]


def _get(url: str) -> dict:
    return {"request": {"method": "GET", "url": url}}


def test_read_entries_of_a_batch_stop_at_the_bytes(http, binaries):
    response = http.post("", json=bundle("batch", *(_get(f"Binary/{b}") for b in binaries)),
                         headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text[:300]
    statuses = [e["response"]["status"][:3] for e in response.json()["entry"]]
    assert statuses == ["200", "200", "413", "413", "413"], statuses
    refused = response.json()["entry"][2]["response"]["outcome"]["issue"][0]
    assert refused["code"] == "too-costly" and str(LIMIT) in refused["diagnostics"]
    whole = http.post("", json=bundle("transaction", *(_get(f"Binary/{b}") for b in binaries)),
                      headers=FHIR_HEADERS)
    assert_outcome(whole, 413, "too-costly")


def test_everything_pages_by_the_bytes_and_serves_each_resource_once(http, scanned):
    patient, documents = scanned
    entries, pages = all_pages(http, f"/Patient/{patient}/$everything", {"_count": "50"})
    served = [e["resource"]["id"] for e in entries
              if e["resource"]["resourceType"] == "DocumentReference"]
    assert sorted(served) == sorted(documents)
    assert pages == 2
    assert [e["resource"]["id"] for e in entries
            if e["resource"]["resourceType"] == "Patient"] == [patient]


def test_a_page_of_large_resources_is_decoded_off_the_event_loop(http, binaries, monkeypatch):
    """Decoding a 13 MB document takes the event loop about 0.1 s: a page of megabytes is
    decoded in a worker thread, where no loop runs."""
    from fhir_server.storage import coalesced_finds

    on_loop = []
    decode = coalesced_finds._decode

    def recorded(documents, options):
        try:
            asyncio.get_running_loop()
            on_loop.append(len(documents))
        except RuntimeError:
            pass  # a worker thread
        return decode(documents, options)

    monkeypatch.setattr(coalesced_finds, "_decode", recorded)
    page = http.get("/Binary", params={"_id": ",".join(binaries[:2])})
    assert page.status_code == 200 and len(page.json()["entry"]) == 2
    assert on_loop == []
    small = http.get("/Patient", params={"_count": "1"})
    assert small.status_code == 200 and on_loop  # a small page is decoded where it is read


def test_pages_in_flight_together_are_bounded(http, binaries, monkeypatch):
    """Twenty clients that never read a page of large resources held 1.6 GB: past what the
    requests of the process hold together (here 1.5 MiB), a page ends at its first resource
    and pages on; what a request held is given back when it ends."""
    from fhir_server.storage import pages_in_flight

    monkeypatch.setattr(pages_in_flight, "MOST_BYTES", 3 * 2**19)
    params = {"_id": ",".join(binaries), "_count": "10"}
    entries, pages = all_pages(http, "/Binary", params)
    assert sorted(e["resource"]["id"] for e in entries) == sorted(binaries)
    assert pages == 5  # one Binary a page: each page alone passes the bound
    assert pages_in_flight._held_in_all[0] == 0
