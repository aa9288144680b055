"""An export whose server process ends every time before it gets further (killed out of
memory at the same resource, say) is failed after MAX_STALLED such attempts in a row: it was
claimed again without end, each claim taking another process down, and its status stayed
202. Attempts that save progress clear the count."""

import pytest
from bulk_helpers import create, manifest, patient, started, wait
from pymongo import MongoClient

from fhir_server.services.export.worker import MAX_STALLED

SETTLE = 2  # seconds a kick-off stays queued: time to record the attempts before


@pytest.fixture(scope="module")
def export_settings() -> dict:
    return {"export_settle_seconds": SETTLE}


def _stalled_before(server, status: str, attempts: int) -> None:
    """Record `attempts` claims of the queued job that each ended saving nothing, as the
    claims of workers that were killed leave it."""
    with MongoClient(server.settings.mongodb_uri) as mongo:
        result = mongo[server.settings.database]["export_jobs"].update_one(
            {"_id": status.rsplit("/", 1)[1], "status": "queued"},
            {"$set": {"attempts": attempts, "stalled": attempts}})
    assert result.modified_count == 1, "the job was claimed before its settle time"


def test_an_export_that_never_gets_further_fails(client, server):
    create(client, patient())
    status = started(client, params={"_type": "Patient"})
    _stalled_before(server, status, MAX_STALLED)
    response = wait(client, status, SETTLE + 30)
    assert response.status_code == 500, response.text
    assert "without getting further" in response.json()["issue"][0]["diagnostics"]


def test_fewer_attempts_without_progress_resume_and_clear_the_count(client, server):
    create(client, patient())
    status = started(client, params={"_type": "Patient"})
    _stalled_before(server, status, MAX_STALLED - 1)
    assert manifest(client, status)["output"]
    with MongoClient(server.settings.mongodb_uri) as mongo:
        job = mongo[server.settings.database]["export_jobs"].find_one(
            {"_id": status.rsplit("/", 1)[1]})
    assert job["attempts"] == MAX_STALLED and "stalled" not in job
