"""`fhir-server serve` supervises its embedded mongod: when it is killed the server notices
within seconds, answers 503 with Retry-After meanwhile (never a long hang), restarts it on
the same data directory, and recovers by itself with every acknowledged write still there;
a mongod that keeps dying is restarted with growing delays, and the log says so."""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from api.helpers import new_patient
from process_issuer import bearer

FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
             **bearer()}
# A request sent before the watchdog noticed waits for the server selection timeout (5 s)
# at most: far below the 30 s (reads) and 120 s (writes) an unsupervised server took.
FAST = 8.0
# How long to wait for the restarts before giving up: three mongod starts on a loaded
# 2-core CI machine took longer than 30 s once.
RECOVERY = 90.0
# The workers of `serve` (two or more on several cores) each look every 0.5 s whether the
# mongod their parent supervises is down or back; the probes' connections reach any of them.
SETTLE = 1.0

pytestmark = pytest.mark.slow


def _only_mongod(mongods, data) -> int:
    (pid,) = mongods(data)
    return pid


def _create_patient(server) -> dict:
    response = httpx.post(f"{server.base}/Patient", json=new_patient(), headers=FHIR_JSON,
                          timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def _ready(server) -> httpx.Response:
    return httpx.get(f"{server.base.removesuffix('/fhir')}/health/ready", timeout=30)


def _probe(server, name: str, patient_id: str) -> tuple[str, float, int, float, str | None]:
    """(probe, when it was sent, status, seconds it took, Retry-After)."""
    sent = time.monotonic()
    if name == "ready":
        response = _ready(server)
    else:
        response = httpx.get(f"{server.base}/Patient/{patient_id}", headers=FHIR_JSON,
                             timeout=60)
    return name, sent, response.status_code, time.monotonic() - sent, \
        response.headers.get("retry-after")


def _recovered(results: list) -> bool:
    """Both probes answered 200 when sent SETTLE seconds or more after the last 503: by then
    every worker process has heard the mongod is back, not only the one that answered."""
    failures = [sent for _, sent, status, _, _ in results if status != 200]
    if not failures:
        return False
    return {name for name, sent, status, _, _ in results
            if status == 200 and sent >= max(failures) + SETTLE} == {"ready", "read"}


def _probe_until_recovered(server, patient_id: str) -> list:
    """Send both probes every 0.2 s, each on its own connection, so that one waiting
    request does not hide what the next ones get; stop once recovered."""
    futures = []
    with ThreadPoolExecutor(16) as pool:
        started = time.monotonic()
        while time.monotonic() - started < RECOVERY:
            futures += [pool.submit(_probe, server, name, patient_id)
                        for name in ("ready", "read")]
            time.sleep(0.2)
            if _recovered([future.result() for future in futures if future.done()]):
                break
        return sorted((future.result() for future in futures), key=lambda r: r[1])


def test_a_killed_mongod_gives_503_at_once_then_recovers_by_itself(spawn, mongods, tmp_path):
    data = tmp_path / "data"
    server = spawn(data, "--dev")
    server.wait_ready()
    patient = _create_patient(server)
    assert _ready(server).status_code == 200
    first = _only_mongod(mongods, data)

    os.kill(first, signal.SIGKILL)
    seen = _probe_until_recovered(server, patient["id"])

    assert all(status in (200, 503) for _, _, status, _, _ in seen), seen
    assert max(seconds for _, _, _, seconds, _ in seen) < FAST, seen
    unavailable = [entry for entry in seen if entry[2] == 503]
    assert {name for name, *_ in unavailable} == {"ready", "read"}, seen
    assert all(int(retry) > 0 for name, _, _, _, retry in unavailable if name == "read"), seen
    assert _recovered(seen), f"no recovery in {RECOVERY} s: {seen}"

    # The same data directory, a new process: what was written before is still there.
    assert _only_mongod(mongods, data) != first
    read = httpx.get(f"{server.base}/Patient/{patient['id']}", headers=FHIR_JSON, timeout=30)
    assert read.json() == patient
    _create_patient(server)
    output = server.output()
    assert f"embedded mongod (pid {first}) exited with code -9; restarting it" in output, output
    assert "embedded mongod restarted" in output


def test_a_mongod_that_keeps_dying_is_restarted_with_growing_delays(spawn, mongods, tmp_path):
    data = tmp_path / "data"
    server = spawn(data, "--dev")
    server.wait_ready()
    patient = _create_patient(server)

    killed: list[int] = []
    deadline = time.monotonic() + RECOVERY
    while len(killed) < 3 and time.monotonic() < deadline:
        pids = [pid for pid in mongods(data) if pid not in killed]
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
        time.sleep(0.05)
    assert len(killed) == 3, killed

    deadline = time.monotonic() + RECOVERY
    while _ready(server).status_code != 200:
        assert time.monotonic() < deadline, server.output()[-4000:]
        time.sleep(0.5)
    output = server.output()
    assert "mongod keeps dying: next restart in 1 s" in output, output
    assert "mongod keeps dying: next restart in 2 s" in output, output
    time.sleep(SETTLE)  # the worker that said ready heard first; the others within SETTLE
    read = httpx.get(f"{server.base}/Patient/{patient['id']}", headers=FHIR_JSON, timeout=30)
    assert read.status_code == 200 and read.json() == patient


def test_metrics_are_answered_at_once_while_mongod_hangs(spawn, mongods, tmp_path):
    """A scrape reads the export jobs from MongoDB: with the mongod stopped (SIGSTOP) it
    waited for the server selection timeout and answered 503, past Prometheus's 10 s scrape
    timeout, when the metrics matter most."""
    data = tmp_path / "data"
    server = spawn(data, "--dev", env={"FHIR_METRICS": "public"})
    server.wait_ready()
    metrics = f"{server.base.removesuffix('/fhir')}/metrics"
    assert "fhir_mongodb_answered_scrape 1.0" in httpx.get(metrics, timeout=30).text
    pid = _only_mongod(mongods, data)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = httpx.get(metrics, timeout=30)
        took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert response.status_code == 200, response.text
    assert took < 3.0, took
    assert "fhir_mongodb_answered_scrape 0.0" in response.text
    assert "fhir_audit_spool_undrained_bytes" in response.text
