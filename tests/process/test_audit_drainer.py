"""`fhir-server serve` stores its AuditEvents in MongoDB from a process of its own, the audit
drainer: the process answering requests does not, and no event is lost when the drainer dies
(the server drains in its place until it has started another) or when the server stops."""

import os
import signal
from pathlib import Path

import httpx
import pytest
from proc_table import children
from process_issuer import bearer

FHIR_JSON = {"Accept": "application/fhir+json"}


def _drainers(data_dir: Path) -> list[int]:
    """The processes holding the audit spool's drainer lock open."""
    lock = str((data_dir / "audit-spool" / "drainer.lock").resolve())
    holders = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:  # ended meanwhile, or not ours to look into
            continue
        if lock in links:
            holders.append(int(proc.name))
    return holders


def _audited_searches(http: httpx.Client, count: int) -> list[str]:
    """The request ids (= AuditEvent ids) of `count` searches."""
    ids = []
    for _ in range(count):
        response = http.get("/Patient", params={"_count": "1"})
        assert response.status_code == 200, response.text
        ids.append(response.headers["X-Request-Id"])
    return ids


def _stored(http: httpx.Client, event_ids: list[str]) -> bool:
    found = http.get("/AuditEvent", params={"_id": ",".join(event_ids), "_summary": "count"})
    return found.status_code == 200 and found.json()["total"] == len(event_ids)


@pytest.mark.slow
def test_the_audit_drainer_stores_events_its_death_loses_none_and_it_is_restarted(
        spawn, eventually, mongods, tmp_path):
    data = tmp_path / "data"
    server = spawn(data, "--workers", "1")
    server.wait_ready()
    with httpx.Client(base_url=server.base, headers={**FHIR_JSON, **bearer()},
                      timeout=30) as http:
        first = _audited_searches(http, 5)
        assert eventually(lambda: _stored(http, first), 30), first

        def drained_by_a_child() -> bool:
            # A loaded machine may start the drainer after these were stored: the server
            # drains meanwhile, and holds the lock only while it does.
            holders = _drainers(data)
            return len(holders) == 1 and holders[0] in children(server.process.pid)

        assert eventually(drained_by_a_child, 30), _drainers(data)
        (drainer,) = _drainers(data)

        os.kill(drainer, signal.SIGKILL)
        after = _audited_searches(http, 5)
        # Until another drainer runs, the server process drains in the dead one's place.
        assert eventually(lambda: _stored(http, after), 30), after

        def restarted() -> bool:
            holders = _drainers(data)
            return (len(holders) == 1 and holders[0] not in (drainer, server.process.pid)
                    and holders[0] in children(server.process.pid))

        assert eventually(restarted, 30), _drainers(data)
        later = _audited_searches(http, 5)
        assert eventually(lambda: _stored(http, later), 30), later

    assert server.stop() in (0, -signal.SIGTERM)
    assert eventually(lambda: mongods(data) == [], 30)
    assert _drainers(data) == []


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGTERM to the group", "Ctrl-C"])
def test_what_is_spooled_when_the_server_stops_is_stored_by_then(spawn, eventually, mongods,
                                                                 tmp_path, stop):
    """Stopped by SIGTERM to the server, to its whole process group (a service manager) or by
    Ctrl-C in its terminal (SIGINT to the group): the embedded mongod outlives the last drain,
    and a drainer that stopped as asked is not taken for a dead one."""
    data = tmp_path / "data"
    server = spawn(data, "--workers", "1")
    server.wait_ready()
    with httpx.Client(base_url=server.base, headers={**FHIR_JSON, **bearer()},
                      timeout=30) as http:
        assert eventually(lambda: len(_drainers(data)) == 1, 30)
        _audited_searches(http, 20)
    if stop == "SIGTERM":
        assert server.stop() in (0, -signal.SIGTERM)
    elif stop == "Ctrl-C":
        assert server.stop_group(signal.SIGINT) in (0, -signal.SIGINT)
    else:
        assert server.stop_group(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert eventually(lambda: mongods(data) == [], 30)
    assert "the audit drainer (pid" not in server.output(), server.output()[-4000:]
    # Stored segments are deleted: the drainer's last drain took everything.
    assert sorted(p.name for p in (data / "audit-spool").glob("*.jsonl")) == []
