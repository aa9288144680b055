"""Status requests, the manifest, output files and who may see them, cancelling, and the
audit trail of exports."""

import base64
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import httpx
import pytest
from bulk_helpers import (
    create,
    download,
    encounter,
    manifest,
    patient,
    resources,
    started,
    transaction,
)

OTHER_PERSON = "079190123456"  # Hồ Chí Minh City, male, born 1990


@pytest.fixture(scope="module")
def data(client) -> dict:
    someone = create(client, patient())
    transaction(client, [encounter(someone["id"]) for _ in range(20)])
    return {"patient": someone}


@pytest.fixture(scope="module")
def done(client, data) -> tuple[str, dict]:
    status = started(client, params={"_type": "Patient,Encounter"})
    return status, manifest(client, status)


def other_client(server, issuer, scope: str = "user/*.cruds",
                 subject: str = OTHER_PERSON) -> httpx.Client:
    token = issuer.token(scope=scope, subject=subject)
    return httpx.Client(base_url=server.base, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})


def test_complete_status_is_the_manifest(client, server, done):
    status, _ = done
    response = client.get(status, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"transactionTime", "request", "requiresAccessToken", "output", "error"}
    assert body["requiresAccessToken"] is True
    assert body["request"] == f"{server.base}/$export?_type=Patient%2CEncounter"
    assert body["error"] == []
    moment = datetime.fromisoformat(body["transactionTime"].replace("Z", "+00:00"))
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)
    expires = parsedate_to_datetime(response.headers["expires"])
    assert expires > datetime.now(UTC) + timedelta(hours=23)
    for item in body["output"]:
        assert set(item) == {"type", "url", "count"}
        assert item["url"].startswith(f"{server.base}/$export-file/")


def test_a_status_url_answers_head_and_names_its_methods(client, done):
    """HEAD answers as GET does (it was 404, as PUT: the routes of [type]/[id] took them);
    a method a status URL does not take is 405 naming those it does (RFC 9110 §10.2.1)."""
    status, _ = done
    head = client.head(status)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("application/json")
    for method in ("PUT", "POST", "PATCH"):
        refused = client.request(method, status, json={})
        assert refused.status_code == 405, (method, refused.text)
        assert refused.headers["allow"] == "GET, HEAD, DELETE"


def test_files_are_streamed_ndjson(client, done):
    _, body = done
    for item in body["output"]:
        response = client.get(item["url"], headers={"Accept": "application/fhir+ndjson",
                                                    "Accept-Encoding": "identity"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/fhir+ndjson"
        assert int(response.headers["content-length"]) == len(response.content)
        assert response.headers["expires"]
        assert len(download(client, item["url"])) == item["count"]


def test_counts_add_up_to_the_resources(client, done):
    _, body = done
    found = resources(client, body)
    assert sum(item["count"] for item in body["output"]) == sum(map(len, found.values()))


def test_another_client_sees_neither_the_status_nor_the_files(server, issuer, done):
    status, body = done
    with other_client(server, issuer) as other:
        assert other.get(status).status_code == 404
        for item in body["output"]:
            response = other.get(item["url"])
            assert response.status_code == 404, response.text
            assert response.json()["resourceType"] == "OperationOutcome"
        assert other.delete(status).status_code == 404


def test_without_a_token_nothing_is_shown(done):
    status, body = done
    assert httpx.get(status).status_code == 401
    assert httpx.get(body["output"][0]["url"]).status_code == 401


def test_the_token_must_still_cover_the_exported_types(server, issuer, done):
    """The status (which lists every file) needs them all; a file, only its own type."""
    status, body = done
    assert {"Patient"} < {item["type"] for item in body["output"]}, body
    with other_client(server, issuer, "user/Patient.rs", subject="001085012345") as narrow:
        assert narrow.get(status).status_code == 403
        for item in body["output"]:
            expected = 200 if item["type"] == "Patient" else 403
            assert narrow.get(item["url"]).status_code == expected, item


@pytest.mark.parametrize("path", ["$export-status/0123456789abcdef0123456789abcdef",
                                  "$export-file/abc/..%2F..%2Fetc",
                                  "$export-file/0123456789abcdef0123456789abcdef/x.ndjson"])
def test_unknown_jobs_and_files(client, path):
    response = client.get(f"/{path}")
    assert response.status_code == 404, response.text


def test_unknown_file_of_a_known_job(client, done):
    status, _ = done
    job = status.rsplit("/", 1)[1]
    for name in ("0999.Patient.ndjson", quote("../../secret", safe="")):
        assert client.get(f"/$export-file/{job}/{name}").status_code == 404


def test_cancel_a_finished_export_deletes_its_files(client, server, data):
    status = started(client, params={"_type": "Encounter"})
    body = manifest(client, status)
    job = status.rsplit("/", 1)[1]
    directory = server.settings.data_dir / "exports" / job
    assert directory.is_dir()
    response = client.delete(status)
    assert response.status_code == 202
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not directory.exists()
    response = client.get(status)
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert client.get(body["output"][0]["url"]).status_code == 404
    assert client.delete(status).status_code == 404


def test_cancel_right_after_kick_off(client, server, data):
    status = started(client, params={"_type": "Patient,Encounter"})
    assert client.delete(status).status_code == 202
    assert client.get(status).status_code == 404
    time.sleep(0.5)  # a worker that had claimed it stops at its next checkpoint
    assert not (server.settings.data_dir / "exports" / status.rsplit("/", 1)[1]).exists()


def _events(client, since: datetime, reference: str, at_least: int) -> list[dict]:
    """The operation AuditEvents since `since` about `reference` (stored in the background,
    so polled for)."""
    deadline = time.monotonic() + 10
    moment = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    while True:
        response = client.get("/AuditEvent", params={"_count": "1000", "subtype": "operation",
                                                      "date": f"ge{moment}"})
        assert response.status_code == 200, response.text
        found = [entry["resource"] for entry in response.json().get("entry", [])]
        found = [event for event in found if any(
            entity.get("what", {}).get("reference") == reference
            for entity in event.get("entity", []))]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_kick_off_and_every_download_are_audited(client, data):
    since = datetime.now(UTC) - timedelta(seconds=2)
    status = started(client, params={"_type": "Patient"})
    body = manifest(client, status)
    url = body["output"][0]["url"]
    download(client, url)
    download(client, url)
    downloads = _events(client, since, url, 2)
    assert len(downloads) == 2
    for event in downloads:
        assert event["outcome"] == "0" and event["action"] == "E"
        assert event["agent"][0]["who"]["identifier"]["value"] == "001085012345"
    kick_offs = [event for event in _events(client, since, status, 1)
                 if any("query" in entity and "$export?_type=Patient" in
                        base64.b64decode(entity["query"]).decode()
                        for entity in event["entity"])]
    assert len(kick_offs) == 1, "the kick-off is audited with its parameters"
