"""No AuditEvent is lost: a write's is stored in the write's transaction (there when the
response arrives), every other one goes through the local spool, which keeps events while
MongoDB is unreachable and is drained, exactly once, by the next process. The address in an
event comes from X-Forwarded-For only behind a trusted proxy."""

import asyncio
import shutil
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from api.helpers import FHIR_HEADERS

from fhir_server.search.index import index_plan
from fhir_server.services import audit
from fhir_server.services.audit import AuditTrail
from fhir_server.services.audit_events import REQUEST_ID_SYSTEM, Access
from fhir_server.storage.audit_spool import AuditSpool
from fhir_server.storage.database import Database
from security.helpers import (
    audited_entities,
    bundle,
    fhir_client,
    own_server,
    patient_resource,
    post_entry,
    wait_until,
)

UNREACHABLE = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"
POLL_SECONDS = 15


def _request_ids(event: dict) -> list[str]:
    return [e["what"]["identifier"]["value"] for e in event.get("entity", [])
            if e.get("what", {}).get("identifier", {}).get("system") == REQUEST_ID_SYSTEM]


def _stored(http: httpx.Client, event_id: str) -> dict | None:
    response = http.get(f"/AuditEvent/{event_id}")
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else None


def _eventually_stored(http: httpx.Client, event_id: str) -> dict:
    event = wait_until(lambda: _stored(http, event_id), POLL_SECONDS)
    assert event, f"AuditEvent/{event_id} was not stored"
    return event


def _events_of_request(http: httpx.Client, request_id: str) -> list[dict]:
    response = http.get("/AuditEvent", params={
        "entity:identifier": f"{REQUEST_ID_SYSTEM}|{request_id}", "_count": "100"})
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


def _written(entry: dict) -> str:
    """`Type/id` of a Bundle response entry's (absolute, versioned) location."""
    return "/".join(entry["response"]["location"].split("/_history")[0].split("/")[-2:])


def _subtypes(event: dict) -> list[str]:
    return [coding["code"] for coding in event["subtype"]]


def test_a_write_is_audited_in_its_transaction_exactly_once(client):
    created = client.post("/Patient", json=patient_resource(), headers=FHIR_HEADERS)
    assert created.status_code == 201, created.text
    request_id = created.headers["X-Request-Id"]
    # No waiting: the event was committed with the Patient.
    event = _stored(client, request_id)
    assert event is not None, "the write's AuditEvent is not there with the write"
    assert _subtypes(event) == ["create"] and event["outcome"] == "0", event
    assert audited_entities(event) == [f"Patient/{created.json()['id']}"]
    assert _request_ids(event) == [request_id]
    # A later request's event is drained from the spool: by then a second one would be too.
    read = client.get(f"/Patient/{created.json()['id']}")
    _eventually_stored(client, read.headers["X-Request-Id"])
    assert [e["id"] for e in _events_of_request(client, request_id)] == [request_id]
    assert client.get(f"/AuditEvent/{request_id}/_history").json()["total"] == 1


def test_a_transaction_is_one_event_naming_every_write(client):
    posted = client.post("", json=bundle("transaction", post_entry(patient_resource()),
                                         post_entry(patient_resource())), headers=FHIR_HEADERS)
    assert posted.status_code == 200, posted.text
    written = [_written(entry) for entry in posted.json()["entry"]]
    event = _stored(client, posted.headers["X-Request-Id"])
    assert event is not None and _subtypes(event) == ["transaction"], event
    assert sorted(audited_entities(event)) == sorted(written)
    # It commits with the versions, and carries their time: one time for the whole
    # transaction (an export's transactionTime is before all of it or after all of it).
    stamps = {client.get(f"/{path}").json()["meta"]["lastUpdated"] for path in written}
    assert stamps == {event["meta"]["lastUpdated"]}, (stamps, event["meta"])


def test_a_batch_has_its_own_event_and_one_per_entry_write(client):
    posted = client.post("", json=bundle("batch", post_entry(patient_resource()),
                                         post_entry({"resourceType": "Patient", "gender": 7})),
                         headers=FHIR_HEADERS)
    assert posted.status_code == 200, posted.text
    request_id = posted.headers["X-Request-Id"]
    first, second = posted.json()["entry"]
    assert first["response"]["status"].startswith("201") and not second["response"][
        "status"].startswith("2"), posted.text
    batch = _eventually_stored(client, request_id)
    assert _subtypes(batch) == ["batch"] and batch["outcome"] == "0", batch
    events = _events_of_request(client, request_id)
    entry_events = [e for e in events if e["id"] != request_id]
    assert len(events) == 2 and len(entry_events) == 1, events
    assert _subtypes(entry_events[0]) == ["create"]
    assert audited_entities(entry_events[0]) == [_written(first)]


def test_a_failed_write_is_audited_as_a_failure(client):
    refused = client.post("/Patient", json={"resourceType": "Patient", "gender": 7},
                          headers=FHIR_HEADERS)
    assert 400 <= refused.status_code < 500, refused.text
    event = _eventually_stored(client, refused.headers["X-Request-Id"])
    assert _subtypes(event) == ["create"] and event["outcome"] == "4", event


def _address(http: httpx.Client, forwarded_for: str) -> str:
    response = http.get("/Patient", params={"_count": "1"},
                        headers={"X-Forwarded-For": forwarded_for})
    assert response.status_code == 200, response.text
    event = _eventually_stored(http, response.headers["X-Request-Id"])
    return event["agent"][0]["network"]["address"]


def test_forwarded_for_is_ignored_from_an_untrusted_peer(client):
    assert _address(client, "198.51.100.7") == "127.0.0.1"


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(mongo_uri, request,
                                                               tmp_path_factory, issuer):
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    trusted_proxies=["127.0.0.0/8", "10.0.0.0/8"]) as proxied, \
            fhir_client(proxied.base, issuer.token()) as http:
        # The client claims 203.0.113.9; the trusted proxies saw 198.51.100.7, then 10.1.1.1.
        assert _address(http, "203.0.113.9, 198.51.100.7, 10.1.1.1") == "198.51.100.7"
        assert _address(http, "not an address") == "127.0.0.1"


# ------------------------------------------------------------------ the spool


def _access(marker: str) -> Access:
    return Access(interaction="read", status=200, who=None, is_client=False, name=None,
                  address="192.0.2.1", entities=(f"Patient/{marker}",), query=None,
                  source="http://spool.test/fhir")


async def _spool_without_mongodb(data_dir, ids: list[str]) -> list[tuple[bool, str]]:
    """Record events with MongoDB unreachable; the spool check before and after a while."""
    database = Database(UNREACHABLE, "unreachable", index_plan)
    trail = AuditTrail(database, data_dir)
    trail.start()
    try:
        for event_id in ids:
            trail.record(_access(event_id), event_id)
        await asyncio.sleep(0.5)  # the drainer has tried, and failed
        return [(r.ok, r.detail) for r in [await trail.spool_check()]]
    finally:
        await trail.stop()
        await database.close()


async def _drain(mongo_uri: str, database_name: str, data_dir, done) -> None:
    """A new process's trail on the real MongoDB, running until `done()` holds."""
    database = Database(mongo_uri, database_name, index_plan)
    trail = AuditTrail(database, data_dir)
    trail.start()
    try:
        assert await asyncio.to_thread(wait_until, done, POLL_SECONDS), "not drained"
    finally:
        await trail.stop()
        await database.close()


def test_spooled_events_survive_an_outage_and_a_restart_exactly_once(
        server, client, tmp_path, monkeypatch):
    monkeypatch.setattr(audit, "READY_LAG_SECONDS", 0)
    ids = [str(uuid.uuid4()) for _ in range(30)]
    checks = asyncio.run(_spool_without_mongodb(tmp_path, ids))
    assert checks == [(False, checks[0][1])] and "MongoDB" in checks[0][1], checks
    assert [_stored(client, event_id) for event_id in ids] == [None] * len(ids)
    spool = tmp_path / "audit-spool"
    left = sorted(spool.glob("*.jsonl"))
    assert left, "nothing was spooled"
    # Kept aside, as if the next process had died between storing and committing.
    copies = [shutil.copy(segment, tmp_path / segment.name) for segment in left]

    def all_stored() -> bool:
        return all(_stored(client, event_id) for event_id in ids)

    asyncio.run(_drain(server.settings.mongodb_uri, server.settings.database, tmp_path,
                       all_stored))
    event = _stored(client, ids[0])
    assert event and audited_entities(event) == [f"Patient/{ids[0]}"] and event["outcome"] == "0"
    assert not set(spool.glob("*.jsonl")) & set(left), "drained segments were kept"

    for copy in copies:
        shutil.move(copy, spool)
    (spool / "drained.json").unlink(missing_ok=True)

    def redrained() -> bool:
        return not set(spool.glob("*.jsonl")) & set(left)

    asyncio.run(_drain(server.settings.mongodb_uri, server.settings.database, tmp_path,
                       redrained))
    found = client.get("/AuditEvent", params={"_id": ",".join(ids), "_count": "100"}).json()
    assert sorted(e["resource"]["id"] for e in found["entry"]) == sorted(ids)
    for event_id in ids[:3]:
        assert client.get(f"/AuditEvent/{event_id}/_history").json()["total"] == 1


# An audit drainer (fhir_server/audit_drainer.py) killed as soon as MongoDB has taken a batch.
_DRAINER_KILLED_AFTER_ITS_INSERT = """
import asyncio, os, signal, sys
from pathlib import Path
from pymongo.asynchronous.collection import AsyncCollection
from fhir_server import audit_drainer
from fhir_server.settings import Settings

insert_many = AsyncCollection.insert_many

async def insert_then_die(self, *args, **kwargs):
    result = await insert_many(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return result

AsyncCollection.insert_many = insert_then_die
asyncio.run(audit_drainer._drain(Settings(
    mongodb_uri=sys.argv[1], database=sys.argv[2], data_dir=Path(sys.argv[3]))))
"""


def test_a_drainer_killed_while_storing_holds_up_none_after_it(server, client, tmp_path):
    """Its events are stored again by the next drainer within seconds, once each: a killed
    drainer leaves no transaction open to hold their ids locked (for 60 s or more)."""
    ids = [str(uuid.uuid4()) for _ in range(5)]
    asyncio.run(_spool_without_mongodb(tmp_path, ids))
    killed = subprocess.run([sys.executable, "-c", _DRAINER_KILLED_AFTER_ITS_INSERT,
                             server.settings.mongodb_uri, server.settings.database,
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    spool = tmp_path / "audit-spool"
    left = set(spool.glob("*.jsonl"))
    assert left, "the killed drainer committed its batch"

    def drained() -> bool:
        return not set(spool.glob("*.jsonl")) & left and all(
            _stored(client, event_id) for event_id in ids)

    asyncio.run(_drain(server.settings.mongodb_uri, server.settings.database, tmp_path,
                       drained))
    for event_id in ids:
        assert client.get(f"/AuditEvent/{event_id}/_history").json()["total"] == 1


@pytest.mark.parametrize("garbage", [b'{"resourceType": "AuditEvent", "id": "torn', b"\xff\n"])
def test_a_damaged_record_does_not_stop_draining(server, client, tmp_path, garbage):
    event_id = str(uuid.uuid4())
    asyncio.run(_spool_without_mongodb(tmp_path, [event_id]))
    (segment,) = (tmp_path / "audit-spool").glob("*.jsonl")
    with segment.open("ab") as file:  # a power loss cut the last record short
        file.write(garbage)
    asyncio.run(_drain(server.settings.mongodb_uri, server.settings.database, tmp_path,
                       lambda: _stored(client, event_id) is not None))


def test_shutdown_lets_a_commit_in_flight_finish_before_the_final_drain(server, tmp_path):
    calls: list[str] = []

    async def record_then_stop_while_committing() -> None:
        database = Database(server.settings.mongodb_uri, server.settings.database, index_plan)
        trail = AuditTrail(database, tmp_path)
        commit, pending = trail.spool.commit, trail.spool.pending

        def slow_commit(batch):
            calls.append("commit started")
            time.sleep(0.5)
            commit(batch)
            calls.append("commit ended")

        def logged_pending(limit):
            calls.append("pending")
            return pending(limit)

        trail.spool.commit, trail.spool.pending = slow_commit, logged_pending
        trail.start()
        try:
            trail.record(_access("in-flight"), str(uuid.uuid4()))
            while "commit started" not in calls:
                await asyncio.sleep(0.01)
        finally:
            await trail.stop()
            await database.close()

    asyncio.run(record_then_stop_while_committing())
    started = calls.index("commit started")
    assert calls[started + 1] == "commit ended", calls


def test_a_standby_trail_drains_only_while_no_other_process_does(server, client, tmp_path,
                                                                  monkeypatch):
    """What a server process does beside the audit drainer process (fhir_server/audit_drainer):
    it leaves the spool to the holder of the drainer lock, drains while nobody holds it, and
    lets go of it again. Its readiness check reads from the spool how long events wait."""
    monkeypatch.setattr(audit, "_STANDBY_SECONDS", 0.1)
    monkeypatch.setattr(audit, "READY_LAG_SECONDS", 0)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    async def stored_within(event_id: str, seconds: float) -> bool:
        return bool(await asyncio.to_thread(wait_until, lambda: _stored(client, event_id),
                                            seconds))

    async def ready_within(trail: AuditTrail, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not (await trail.spool_check()).ok:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    async def standby_beside_a_drainer() -> None:
        database = Database(server.settings.mongodb_uri, server.settings.database, index_plan)
        (tmp_path / "audit-spool").mkdir()
        drainer = AuditSpool(tmp_path / "audit-spool")  # as the drainer process holds it
        assert drainer.become_drainer()
        trail = AuditTrail(database, tmp_path, standby=True)
        trail.start()
        try:
            trail.record(_access("standby"), first)
            assert not await stored_within(first, 1.5), "drained beside the drainer"
            waiting = await trail.spool_check()
            assert not waiting.ok and "AuditEvents wait" in waiting.detail, waiting
            drainer.resign()  # the drainer died
            assert await stored_within(first, POLL_SECONDS)
            assert await ready_within(trail, POLL_SECONDS)
            assert await asyncio.to_thread(wait_until, drainer.become_drainer, POLL_SECONDS)
            trail.record(_access("standby"), second)  # the drainer is back
            assert not await stored_within(second, 1.5), "the standby kept the spool"
        finally:
            drainer.resign()
            await trail.stop()
            await database.close()

    asyncio.run(standby_beside_a_drainer())
