"""The typed export job at the storage boundary: `ExportJob` read from, and written as, the
`export_jobs` document of the README's "Storage layout" table, unchanged."""

from datetime import UTC, datetime, timedelta

from fhir_server.storage.export_jobs import COMPLETED, QUEUED, ExportJob, Lease

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
NEW = {
    "_id": "0123abcd",
    "owner": "https://issuer|079123456789",
    "who": "Patient/079123456789",
    "scopes": "system/*.rs",
    "status": QUEUED,
    "request": "https://example.org/fhir/$export?_type=Patient",
    "base": "https://example.org/fhir",
    "parameters": {"level": "system", "types": ["Patient"]},
    "transactionTime": NOW,
    "notBefore": NOW + timedelta(seconds=1),
    "createdAt": NOW,
    "attempts": 0,
    "lease": None,
    "progress": None,
}


def test_a_new_job_is_stored_as_before():
    job = ExportJob.from_document(NEW)
    assert job.id == "0123abcd" and job.status == QUEUED and job.lease is None
    assert job.transaction_time == NOW and job.not_before == NOW + timedelta(seconds=1)
    assert job.failures == 0 and job.error is None and job.expires_at is None
    assert job.document() == NEW
    assert list(job.document()) == list(NEW)  # the same fields, in the same order


def test_a_finished_job_reads_every_field():
    document = {
        **NEW,
        "status": COMPLETED,
        "attempts": 2,
        "lease": {"owner": "host:1:ab:0", "until": NOW},
        "progress": {"phase": 1, "parts": []},
        "failures": 1,
        "lastError": "OSError()",
        "completedAt": NOW + timedelta(minutes=1),
        "expiresAt": NOW + timedelta(days=1),
    }
    job = ExportJob.from_document(document)
    assert job.lease == Lease("host:1:ab:0", NOW)
    assert (job.attempts, job.failures, job.last_error) == (2, 1, "OSError()")
    assert job.progress == {"phase": 1, "parts": []}
    assert job.completed_at == NOW + timedelta(minutes=1)
    assert not job.expired(NOW) and job.expired(NOW + timedelta(days=1))
    assert job.document() == document
