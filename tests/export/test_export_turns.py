"""Clients take turns at the export workers (probe CJ): a job is claimed for the client with
the fewest jobs running, then the one served least recently, then the oldest job. Claimed
oldest first, one client's queued exports held every other client's export until they had
all run (a 24-Patient export took 25.9 s instead of 1.5 s behind five full ones)."""

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bulk_helpers import patient, started, stored_directly
from pymongo import MongoClient

from fhir_server.search.index import index_plan
from fhir_server.storage.database import Database
from fhir_server.storage.export_jobs import (
    COMPLETED,
    QUEUED,
    RUNNING,
    ExportJob,
    ExportJobStore,
    Lease,
)

OTHER_PERSON = "079190123456"
PATIENTS = 1500  # a few hundred checkpoints of FAST_EXPORTS: each export takes a while
QUEUED_BY_ONE = 4
NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
LEASE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def many_patients(server) -> None:
    patients = [{**patient(), "id": str(uuid.uuid4())} for _ in range(PATIENTS)]
    with MongoClient(server.settings.mongodb_uri, tz_aware=True) as mongo:
        stored_directly(mongo[server.settings.database], "Patient", patients)


def _done(http: httpx.Client, status: str) -> bool:
    return http.get(status, headers={"Accept": "application/json"}).status_code != 202


def test_another_clients_export_does_not_wait_for_one_clients_queue(client, server, issuer,
                                                                    many_patients):
    """One export worker (the server's default): the other client's small export, queued
    after the first client's four, runs after the first client's running one, not last."""
    queue = [started(client, params={"_type": "Patient"}) for _ in range(QUEUED_BY_ONE)]
    token = issuer.token(scope="user/*.rs", subject=OTHER_PERSON)
    with httpx.Client(base_url=server.base, timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as other:
        theirs = started(other, params={"_type": "Practitioner"})
        deadline = time.monotonic() + 120
        while not _done(other, theirs):
            assert time.monotonic() < deadline, "the other client's export did not finish"
            time.sleep(0.02)
        still_queued = [status for status in queue if not _done(client, status)]
    assert len(still_queued) >= 2, f"{len(still_queued)} of {QUEUED_BY_ONE} left"
    for status in queue:
        assert client.delete(status).status_code == 202


@pytest.fixture(scope="module")
def store(mongo_uri, loop):
    database = Database(mongo_uri, f"turns_{uuid.uuid4().hex[:8]}", index_plan)
    jobs = ExportJobStore(database.db, database.transaction_session)
    loop.run_until_complete(jobs.prepare())
    yield jobs
    loop.run_until_complete(database.client.drop_database(database.db.name))
    loop.run_until_complete(database.close())


def _job(owner: str, queued_ago: int, lease: Lease | None = None) -> ExportJob:
    moment = NOW - timedelta(seconds=queued_ago)
    return ExportJob(id=uuid.uuid4().hex, owner=owner, who=owner, scopes="system/*.rs",
                     status=RUNNING if lease else QUEUED, request="https://x/fhir/$export",
                     base="https://x/fhir", parameters={}, transaction_time=moment,
                     not_before=moment, created_at=moment, lease=lease)


def _claims(loop, store: ExportJobStore, jobs: list[ExportJob], count: int,
            finish: bool = False) -> list[str]:
    """The ids of the next `count` jobs claimed a second apart ("" for none), once the store
    holds only `jobs`; with `finish`, each is completed before the next claim (one worker)."""
    loop.run_until_complete(store.jobs.delete_many({}))
    loop.run_until_complete(store.owners.delete_many({}))
    loop.run_until_complete(store.jobs.insert_many([job.document() for job in jobs]))
    claimed = []
    for second in range(count):
        now = NOW + timedelta(seconds=second)
        job = loop.run_until_complete(store.claim("w", now, LEASE))
        claimed.append(job.id if job else "")
        if job and finish:
            loop.run_until_complete(store.finish(job.id, "w", COMPLETED, now, now + LEASE))
    return claimed


def test_one_worker_serves_the_clients_in_turn(loop, store):
    a1, a2, a3, b1, b2 = (_job("a", 80), _job("a", 70), _job("a", 60), _job("b", 20),
                          _job("b", 10))
    assert _claims(loop, store, [a1, a2, a3, b1, b2], 6, finish=True) == [
        a1.id, b1.id, a2.id, b2.id, a3.id, ""]


def test_a_client_with_nothing_running_goes_first(loop, store):
    busy = _job("busy", 60, Lease("elsewhere", NOW + LEASE))
    busy_queued, idle_queued = _job("busy", 50), _job("idle", 10)
    assert _claims(loop, store, [busy, busy_queued, idle_queued], 2) == [
        idle_queued.id, busy_queued.id]


def test_an_interrupted_job_is_taken_over_in_its_clients_turn(loop, store):
    """Its worker died (the lease ran out): the job is claimed again, as its client's oldest."""
    interrupted = _job("a", 90, Lease("dead", NOW - timedelta(seconds=1)))
    a1, b1 = _job("a", 80), _job("b", 20)
    assert _claims(loop, store, [interrupted, a1, b1], 4) == [interrupted.id, b1.id, a1.id, ""]
