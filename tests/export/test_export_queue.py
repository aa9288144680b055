"""Jobs wait in MongoDB until a worker claims them: here the module's server runs no export
worker (FHIR_EXPORT_WORKERS=0, an API-only process), so kick-offs stay queued, a client with
too many unfinished exports gets 429, and a second server process with a worker, on the
same database and data directory, does the work the first one serves."""

import pytest
from bulk_helpers import create, ids, kick_off, manifest, patient, search_ids, started

MAX_JOBS = 3


@pytest.fixture(scope="module")
def export_settings() -> dict:
    return {"export_workers": 0, "export_max_jobs": MAX_JOBS}


def test_queued_exports_report_progress_and_when_to_ask_again(client):
    create(client, patient())
    status = started(client)
    response = client.get(status, headers={"Accept": "application/json"})
    assert response.status_code == 202
    assert response.headers["x-progress"] == "queued"
    assert 1 <= int(response.headers["retry-after"]) <= 30
    assert len(response.headers["x-progress"]) < 100
    assert client.delete(status).status_code == 202
    assert client.get(status).status_code == 404


def test_too_many_unfinished_exports_get_429(client):
    statuses = [started(client) for _ in range(MAX_JOBS)]
    response = kick_off(client)
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["resourceType"] == "OperationOutcome"
    # A kick-off that can never succeed is told so, not asked to come back later.
    for bad in ({"_type": "Foo"}, {"_outputFormat": "text/csv"}, {"_since": "yesterday"},
                {"_typeFilter": "Patient?khong-co=1"}):
        refused = kick_off(client, params=bad)
        assert refused.status_code == 400, (bad, refused.text)
    assert client.delete(statuses.pop()).status_code == 202
    statuses.append(started(client))
    for status in statuses:
        assert client.delete(status).status_code == 202


def test_a_worker_in_another_process_does_the_work(client, server):
    for _ in range(3):
        create(client, patient())
    statuses = [started(client, params={"_type": "Patient"}) for _ in range(MAX_JOBS)]
    worker_settings = server.settings.model_copy(update={"export_workers": 1, "base_url": None})
    with type(server)(worker_settings):
        bodies = [manifest(client, status) for status in statuses]
    expected = sorted(search_ids(client, "Patient"))
    for body in bodies:  # served by the API-only server, from the shared files
        assert sorted(ids(client, body)["Patient"]) == expected
