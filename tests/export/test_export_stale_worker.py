"""A worker that fails a job it no longer holds (its lease ran out and another worker resumed
the job and completed it, or the client cancelled it) leaves the job and its files alone: it
deleted the files and items of an export whose manifest still listed them, so the client was
told the export was complete and got 404 for its files. A MongoDB error after a job was
completed (dropping its items) is no failed attempt of that job either."""

import pytest
from bulk_helpers import create, download, manifest, patient, started, wait

from fhir_server.search.index import index_plan
from fhir_server.services.export.service import ExportService
from fhir_server.storage.database import Database


@pytest.fixture
def stale_workers(server, loop):
    """The export workers of another server process, over the same data (never started)."""
    database = Database(server.settings.mongodb_uri, server.settings.database, index_plan)
    yield ExportService(database, server.settings).workers
    loop.run_until_complete(database.close())


def test_a_worker_that_lost_the_job_leaves_its_files(client, server, loop, stale_workers):
    create(client, patient())
    status = started(client, params={"_type": "Patient"})
    body = manifest(client, status)
    job_id = status.rsplit("/", 1)[1]
    # Its third failed attempt, ended after the job was taken over and completed.
    loop.run_until_complete(stale_workers._fail(job_id, "lapsed-worker", "AutoReconnect"))
    assert wait(client, status).status_code == 200
    assert (server.settings.data_dir / "exports" / job_id).is_dir()
    for item in body["output"]:
        assert download(client, item["url"])
