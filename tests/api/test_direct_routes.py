"""Reads by id and searches by GET are answered by a route of their own, ahead of FastAPI's
(api/direct_routes.py). They must refuse and answer exactly as the routes through FastAPI
do: the same checks, in the same order. A vread goes through FastAPI with the read's
checks, and `POST [type]/_search` with the search's, so each is compared with those."""

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from helpers import created, new_patient


@pytest.fixture(scope="module")
def patient(client) -> dict:
    return created(client, new_patient())


def _authorizations(issuer) -> dict[str, str | None]:
    return {
        "none": None,
        "not a JWT": "Bearer not-a-token",
        "another issuer": f"Bearer {issuer.token(audience='urn:someone-else')}",
        "Encounter only": f"Bearer {issuer.token('user/Encounter.rs')}",
        "search, no read": f"Bearer {issuer.token('user/Patient.s')}",
        "read, no search": f"Bearer {issuer.token('user/Patient.r')}",
        "everything": f"Bearer {issuer.token()}",
    }


ACCEPTS = ["application/fhir+json", "application/fhir+xml", "text/csv"]
QUERIES = ["", "_summary=true", "_elements=id", "_format=xml", "_pretty=true", "bad=%FF"]


def _answer(response: httpx.Response) -> tuple:
    """What a client sees, but for what differs between two interactions (links, ids)."""
    codes: tuple = ()
    if response.status_code >= 400 and "xml" in response.headers["content-type"]:
        codes = tuple(re.findall(r'<code value="([^"]+)"', response.text))
    elif response.status_code >= 400:
        codes = tuple(issue["code"] for issue in response.json()["issue"])
    return (response.status_code, response.headers.get("content-type"),
            response.headers.get("www-authenticate"), codes)


def _send(server, method: str, path: str, authorization: str | None, accept: str,
          query: str) -> httpx.Response:
    headers = {"Accept": accept}
    if authorization:
        headers["Authorization"] = authorization
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    url = f"{server.base}/{path}" + (f"?{query}" if query else "")
    return httpx.request(method, url, headers=headers, content=b"", timeout=60)


def test_a_read_refuses_and_answers_as_a_vread_does(server, issuer, patient):
    for name, authorization in _authorizations(issuer).items():
        for accept in ACCEPTS:
            for query in QUERIES:
                read = _send(server, "GET", f"Patient/{patient['id']}", authorization, accept,
                             query)
                vread = _send(server, "GET", f"Patient/{patient['id']}/_history/1",
                              authorization, accept, query)
                assert _answer(read) == _answer(vread), (name, accept, query)
                if read.status_code == 200:
                    assert read.content == vread.content


def test_a_search_by_get_refuses_and_answers_as_a_post_does(server, issuer, patient):
    identity = f"_id={patient['id']}"
    for name, authorization in _authorizations(issuer).items():
        for accept in ACCEPTS:
            for query in QUERIES:
                both = "&".join(part for part in (identity, query) if part)
                get = _send(server, "GET", "Patient", authorization, accept, both)
                post = _send(server, "POST", "Patient/_search", authorization, accept, both)
                assert _answer(get) == _answer(post), (name, accept, query)


def test_paths_like_a_read_or_a_search_go_on_to_their_routes(client):
    assert client.get("/Patient/_history").json()["type"] == "history"
    unknown = client.get("/Unknown/1")
    assert unknown.status_code == 404
    assert "not a FHIR R4 resource type" in unknown.json()["issue"][0]["diagnostics"]
    # A Binary's read answers in the Binary's own media type when asked for it.
    binary = created(client, {"resourceType": "Binary", "contentType": "text/plain",
                              "data": "eGluIGNow6Bv"})
    content = client.get(f"/Binary/{binary['id']}", headers={"Accept": "text/plain"})
    assert (content.status_code, content.content) == (200, "xin chào".encode())


def test_concurrent_reads_each_get_their_own_resource_and_the_latest_version(client):
    """Reads that wait together share one MongoDB query (storage/coalesced_reads.py): each
    still answers with its own resource, and a read sent after an update returns it."""
    patients = [created(client, new_patient()) for _ in range(6)]
    ids = [patient["id"] for patient in patients] * 8

    def read(resource_id: str) -> tuple[str, str, str]:
        response = client.get(f"/Patient/{resource_id}")
        assert response.status_code == 200, response.text
        return resource_id, response.json()["id"], response.headers["etag"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(read, ids))
        assert all(asked == answered for asked, answered, _ in answers)
        assert {etag for *_, etag in answers} == {'W/"1"'}
        readers = [pool.submit(read, resource_id) for resource_id in ids]  # still reading
        updated = client.put(f"/Patient/{ids[0]}", json={**patients[0], "gender": "female"})
        assert updated.status_code == 200, updated.text
        after = client.get(f"/Patient/{ids[0]}")
        assert after.headers["etag"] == 'W/"2"' and after.json()["gender"] == "female"
        assert all(reader.result()[0] == reader.result()[1] for reader in readers)
