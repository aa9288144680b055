"""Attempts of an export that fail unexpectedly (a MongoDB error: the supervised mongod
restarted, its cursors gone) fail the job when MAX_FAILURES of them in a row saved no
progress. They were counted over the job's life: a long export that met three restarts of
mongod, each attempt resuming and getting further, was failed (500) and its files deleted."""

import uuid

import pytest
from bulk_helpers import ids, patient, started, stored_directly, wait
from pymongo import MongoClient

from fhir_server.services.export.worker import MAX_FAILURES
from fhir_server.storage.export_reads import SnapshotStore

PATIENTS = 80  # several windows of FAST_EXPORTS's 4 KiB batches


@pytest.fixture(scope="module")
def patients(server) -> set[str]:
    stored = [{**patient(), "id": str(uuid.uuid4())} for _ in range(PATIENTS)]
    with MongoClient(server.settings.mongodb_uri, tz_aware=True) as mongo:
        stored_directly(mongo[server.settings.database], "Patient", stored)
    return {p["id"] for p in stored}


def _failing_every(monkeypatch, period: int) -> list[int]:
    """Every `period`-th look at the history of a window fails, as after a restart."""
    calls = [0]
    original = SnapshotStore.changed_after

    async def changed_after(self, *args):
        calls[0] += 1
        if calls[0] % period == 0:
            raise ConnectionResetError("mongod restarted")
        return await original(self, *args)

    monkeypatch.setattr(SnapshotStore, "changed_after", changed_after)
    return calls


def test_attempts_that_make_progress_never_fail_the_export(client, monkeypatch, patients):
    calls = _failing_every(monkeypatch, 2)  # each attempt saves one window, then fails
    response = wait(client, started(client, params={"_type": "Patient"}), timeout=120)
    assert response.status_code == 200, response.text
    body = response.json()
    assert calls[0] // 2 >= MAX_FAILURES  # more failed attempts than a job may fail in a row
    exported = ids(client, body)["Patient"]
    assert len(exported) == len(set(exported)) and set(exported) == patients


def test_attempts_that_fail_in_a_row_fail_the_export(client, monkeypatch, patients):
    _failing_every(monkeypatch, 1)
    response = wait(client, started(client, params={"_type": "Patient"}), timeout=120)
    assert response.status_code == 500
    assert response.json()["issue"][0]["diagnostics"] == "The export failed: ConnectionResetError"
