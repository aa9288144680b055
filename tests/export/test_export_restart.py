"""A `fhir-server serve` process killed (SIGKILL) in the middle of an export: started again,
it takes the job over once the dead worker's lease has run out, resumes from the saved
progress, and the finished export holds every resource exactly once. An export cancelled
while it runs stops, and its files go."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from bulk_helpers import KICK_OFF, download, stored_directly
from pymongo import MongoClient

FHIR_SERVER = Path(sys.executable).parent / "fhir-server"
PATIENTS, ENCOUNTERS = 1500, 3000
# Tiny checkpoints and files: the export takes seconds, so it can be killed half way.
EXPORT_ENV = {
    "FHIR_EXPORT_BATCH_BYTES": "1500",
    "FHIR_EXPORT_FILE_MAX_BYTES": "60000",
    "FHIR_EXPORT_LEASE_SECONDS": "2",
    "FHIR_EXPORT_HEARTBEAT_SECONDS": "0.5",
    "FHIR_EXPORT_POLL_SECONDS": "0.2",
    "FHIR_EXPORT_SETTLE_SECONDS": "0",
    # Package definitions stored in the background would compete with the export timed here.
    "FHIR_PUBLISH_PACKAGES": "false",
}


def _seed(db) -> dict[str, set[str]]:
    """Patients and their encounters stored as the server stores them."""
    seeded: dict[str, set[str]] = {"Patient": set(), "Encounter": set()}
    patients = [{"resourceType": "Patient", "id": str(uuid.uuid4()), "gender": "female",
                 "name": [{"family": "Đỗ", "given": ["Thị", f"Mai {n}"]}]}
                for n in range(PATIENTS)]
    encounters = [{"resourceType": "Encounter", "id": str(uuid.uuid4()), "status": "finished",
                   "class": {"code": "AMB"},
                   "subject": {"reference": f"Patient/{patients[n % PATIENTS]['id']}"}}
                  for n in range(ENCOUNTERS)]
    for kind, group in (("Patient", patients), ("Encounter", encounters)):
        stored_directly(db, kind, group)
        seeded[kind] = {r["id"] for r in group}
    return seeded


class Server:
    def __init__(self, env: dict[str, str], workdir: Path):
        with __import__("socket").socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.log = (workdir / f"serve-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [str(FHIR_SERVER), "serve", "--port", str(self.port), "--data-dir",
             str(workdir / "data")], env=env, cwd=workdir, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            assert self.process.poll() is None, "server exited"
            try:
                if httpx.get(f"{self.base}/metadata", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)
        self.log.close()


@pytest.fixture
def setup(mongo_uri, issuer, tmp_path):
    database = f"t_export_restart_{uuid.uuid4().hex[:8]}"
    with MongoClient(mongo_uri, tz_aware=True) as mongo:
        seeded = _seed(mongo[database])
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    env |= {"FHIR_MONGODB_URI": mongo_uri, "FHIR_DATABASE": database,
            "FHIR_TRUSTED_ISSUERS": json.dumps([issuer.trusted()]),
            "FHIR_AUDIENCES": json.dumps(["urn:fhir-exchange-server:tests"]),
            "FHIR_LOG_LEVEL": "WARNING", **EXPORT_ENV}
    servers: list[Server] = []

    def start() -> Server:
        servers.append(Server(env, tmp_path))
        return servers[-1]

    headers = {"Authorization": f"Bearer {issuer.token(scope='system/*.rs')}"}
    yield start, seeded, headers, tmp_path / "data" / "exports", (mongo_uri, database)
    for server in servers:
        server.kill()
    with MongoClient(mongo_uri) as mongo:
        mongo.drop_database(database)


def _percent(response: httpx.Response) -> int:
    progress = response.headers.get("x-progress", "")
    return int(progress.split("%")[0]) if "%" in progress else -1


def _poll_until(status: str, headers: dict, done, timeout: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(status, headers={**headers, "Accept": "application/json"})
        if done(response):
            return response
        assert time.monotonic() < deadline, (response.status_code, response.headers)
        time.sleep(0.05)


def test_killed_server_resumes_the_export_after_restart(setup):
    start, seeded, headers, exports, (uri, database) = setup
    first = start()
    response = httpx.get(f"{first.base}/$export", params={"_type": "Patient,Encounter"},
                         headers={**KICK_OFF, **headers})
    assert response.status_code == 202, response.text
    job = response.headers["content-location"].rsplit("/", 1)[1]
    _poll_until(f"{first.base}/$export-status/{job}", headers,
                lambda r: r.status_code == 202 and _percent(r) >= 20)
    first.kill()
    written_before = sorted(p.name for p in (exports / job).iterdir())
    assert written_before

    second = start()
    status = f"{second.base}/$export-status/{job}"
    response = _poll_until(status, headers, lambda r: r.status_code != 202)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"][0]["url"].endswith(f"/{written_before[0]}")  # resumed, kept
    found: dict[str, list[str]] = {}
    with httpx.Client(headers=headers, timeout=60) as http:
        for item in body["output"]:
            lines = download(http, item["url"])
            assert len(lines) == item["count"]
            found.setdefault(item["type"], []).extend(line["id"] for line in lines)
    for kind, expected in seeded.items():
        assert len(found[kind]) == len(expected), kind  # no duplicates
        assert set(found[kind]) == expected, kind  # nothing lost
    with MongoClient(uri) as mongo:
        stored = mongo[database]["export_jobs"].find_one({"_id": job})
    assert stored["attempts"] == 2 and stored["status"] == "completed"
    assert sorted(p.name for p in (exports / job).iterdir()) == sorted(
        item["url"].rsplit("/", 1)[1] for item in body["output"])


def test_cancel_while_running_stops_the_export(setup):
    start, _, headers, exports, _ = setup
    server = start()
    response = httpx.get(f"{server.base}/$export", headers={**KICK_OFF, **headers})
    status = response.headers["content-location"]
    _poll_until(status, headers, lambda r: r.status_code == 202 and _percent(r) >= 5)
    assert httpx.delete(status, headers=headers).status_code == 202
    assert httpx.get(status, headers=headers).status_code == 404
    directory = exports / status.rsplit("/", 1)[1]
    deadline = time.monotonic() + 5
    while directory.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not directory.exists()
    time.sleep(1)
    assert not directory.exists()  # the worker stopped: it writes no more files
