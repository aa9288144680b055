"""`fhir-server serve --workers N`: N server processes on one port sharing the one mongod
their parent started; stopping or killing the parent takes them all down."""

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import proc_table
import pytest
from api.helpers import unique_cccd
from process_issuer import bearer
from prometheus_client.parser import text_string_to_metric_families

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
TERMINATED = (0, -signal.SIGTERM)
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
             **bearer()}


_workers = proc_table.workers


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _socket_inode(client_port: int) -> str:
    """The inode of the server side of the local TCP connection from `client_port`."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == client_port:
                return fields[9]
    raise AssertionError(f"no connection from port {client_port}")


def _served_by(response: httpx.Response, workers: list[int]) -> int:
    """The worker holding the (kept-alive) connection `response` came on."""
    client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    link = f"socket:[{_socket_inode(client_port)}]"
    for pid in workers:
        for fd in (Path("/proc") / str(pid) / "fd").iterdir():
            with suppress(OSError):
                if os.readlink(fd) == link:
                    return pid
    raise AssertionError(f"no worker holds the connection from port {client_port}")


@contextmanager
def _client_per_worker(base: str, workers: list[int]):
    """worker pid → a client whose connection that worker serves: new connections are
    opened until the kernel has given one to each."""
    clients: dict[int, httpx.Client] = {}
    try:
        for _ in range(60):
            client = httpx.Client(headers=FHIR_JSON, timeout=30)
            worker = _served_by(client.get(f"{base}/metadata"), workers)
            if worker in clients:
                client.close()
            else:
                clients[worker] = client
            if len(clients) == len(workers):
                break
        assert sorted(clients) == sorted(workers), "connections reach one worker only"
        yield clients
    finally:
        for client in clients.values():
            client.close()


def _patient(value: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": CCCD, "value": value}],
            "name": [{"family": "Trần", "given": ["Minh"]}], "gender": "male"}


@pytest.mark.slow
def test_two_workers_share_the_data_and_one_mongod_and_stop_together(spawn, mongods, eventually,
                                                                     tmp_path):
    data = tmp_path / "data"
    server = spawn(data, "--dev", "--workers", "2")
    server.wait_ready()
    assert eventually(lambda: len(_workers(server.process.pid)) == 2, 30), server.output()
    first, second = workers = _workers(server.process.pid)
    assert len(mongods(data)) == 1
    metadata = httpx.get(f"{server.base}/metadata", timeout=30)
    assert metadata.status_code == 200
    assert metadata.json()["resourceType"] == "CapabilityStatement"
    # The demo data set was loaded once, before the workers started.
    demo = httpx.get(f"{server.base}/Patient", params={"_summary": "count"},
                     headers=FHIR_JSON, timeout=30)
    assert demo.status_code == 200 and demo.json()["total"] > 0, demo.text

    # Connections are spread over the workers; written through one, read and changed
    # through the other, and back.
    with _client_per_worker(server.base, workers) as through:
        created = through[first].post(f"{server.base}/Patient", json=_patient(unique_cccd()))
        assert created.status_code == 201, created.text
        assert _served_by(created, workers) == first
        location = f"{server.base}/Patient/{created.json()['id']}"
        read = through[second].get(location)
        assert read.status_code == 200, read.text
        assert read.json() == created.json()
        updated = through[second].put(location, json={**read.json(), "gender": "female"})
        assert updated.status_code == 200, updated.text
        again = through[first].get(location)
        assert again.status_code == 200
        assert (again.json()["gender"], again.json()["meta"]["versionId"]) == ("female", "2")
        # Writers of one resource in both workers take turns (storage.write_turns): none
        # is refused because the other's signature was being made meanwhile.
        def update(worker: int, writer: int) -> list[int]:
            return [through[worker].put(location, json={**again.json(),
                                                        "birthDate": f"19{writer}{n}-01-01"}
                                        ).status_code for n in range(5)]

        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = pool.map(update, [first, first, second, second], range(4))
            assert [status for written in statuses for status in written] == [200] * 20
        assert through[second].get(location).json()["meta"]["versionId"] == "22"

    assert sorted(_workers(server.process.pid)) == sorted(workers)  # none was replaced
    assert len(mongods(data)) == 1
    # A worker that dies is replaced; the other serves meanwhile.
    os.kill(first, signal.SIGKILL)
    assert eventually(lambda: len(set(_workers(server.process.pid)) - {first}) == 2, 60), (
        server.output())
    assert httpx.get(f"{server.base}/metadata", timeout=30).status_code == 200
    workers = _workers(server.process.pid)
    assert server.stop(signal.SIGTERM) in TERMINATED, server.output()
    assert not any(_alive(pid) for pid in workers)
    assert mongods(data) == []


@pytest.mark.slow
def test_a_killed_server_takes_its_workers_and_mongod_down(spawn, mongods, eventually,
                                                          tmp_path):
    data = tmp_path / "data"
    server = spawn(data, "--workers", "2")
    server.wait_ready()
    assert eventually(lambda: len(_workers(server.process.pid)) == 2, 30), server.output()
    workers = _workers(server.process.pid)
    server.process.kill()
    server.process.wait(10)
    assert eventually(lambda: not any(_alive(pid) for pid in workers), 30)
    assert eventually(lambda: mongods(data) == [], 30)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.base}/metadata", timeout=5)


def test_workers_must_be_a_positive_number(cli, tmp_path):
    result = cli("serve", "--data-dir", tmp_path / "data", "--workers", "0")
    assert result.returncode == 2
    assert "--workers" in result.stderr


@pytest.mark.slow
def test_a_rate_limit_holds_for_the_server_not_for_each_worker(spawn, eventually, tmp_path):
    limit = {"FHIR_RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "60", "FHIR_RATE_LIMIT_ADDRESS_BURST": "30"}
    server = spawn(tmp_path / "data", "--workers", "2", env=limit)
    server.wait_ready()
    assert eventually(lambda: len(_workers(server.process.pid)) == 2, 30), server.output()
    # A new connection per request: the kernel spreads them over both workers.
    statuses = [httpx.get(f"{server.base}/metadata", timeout=30).status_code
                for _ in range(60)]
    assert set(statuses) == {200, 429}, statuses
    # One address's 30 at once (and one a second since), not 30 from each worker.
    assert 25 <= statuses.count(200) <= 40, statuses


def _requests_counted(scrape: httpx.Response) -> float:
    assert scrape.status_code == 200, scrape.text
    return sum(sample.value for family in text_string_to_metric_families(scrape.text)
               for sample in family.samples if sample.name == "fhir_requests_total")


@pytest.mark.slow
def test_every_worker_answers_a_scrape_with_the_metrics_of_all(spawn, eventually, tmp_path):
    """Each worker counted only its own requests: a counter scraped through one worker,
    then the other, went backwards (PROMETHEUS_MULTIPROC_DIR was the operator's to set)."""
    server = spawn(tmp_path / "data", "--workers", "2", env={"FHIR_METRICS": "public"})
    server.wait_ready()
    assert eventually(lambda: len(_workers(server.process.pid)) == 2, 30), server.output()
    root = server.base.removesuffix("/fhir")
    with _client_per_worker(server.base, _workers(server.process.pid)) as through:
        for client in through.values():
            for _ in range(5):
                assert client.get(f"{server.base}/Patient", params={"_count": "1"}
                                  ).status_code == 200
        counted = [_requests_counted(client.get(f"{root}/metrics"))
                   for client in [*through.values(), *through.values()]]
    # Every request so far, the metadata reads that found the workers included, whichever
    # worker answers; a scrape is no FHIR request and counts none.
    assert counted[0] >= 10 and len(set(counted)) == 1, counted
    worker = _workers(server.process.pid)[0]
    environment = (Path("/proc") / str(worker) / "environ").read_bytes().split(b"\0")
    (shared,) = [Path(os.fsdecode(variable.partition(b"=")[2])) for variable in environment
                 if variable.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert shared.is_dir()
    assert server.stop(signal.SIGTERM) in TERMINATED, server.output()
    assert not shared.exists()  # the serve's own: removed when it stops


@pytest.mark.slow
def test_a_second_server_on_a_served_data_dir_says_so_in_one_line(spawn, cli, mongods,
                                                                  tmp_path):
    """It printed the banner and a token, then died with a traceback (the mongod's files
    locked); the running server is untouched."""
    data = tmp_path / "data"
    server = spawn(data, "--dev", "--workers", "1")
    server.wait_ready()
    for workers in ("1", "2"):
        # Its own port, taken: refused for the data dir before it would bind (port 0 is no
        # port `serve` takes).
        second = cli("serve", "--data-dir", data, "--port", str(server.port), "--workers",
                     workers)
        assert second.returncode == 2, second.stderr
        assert second.stderr.strip().splitlines() == [
            f"cannot start: a server is serving {data} already at {server.base}"], second.stderr
        assert "TOKEN" not in second.stdout
    assert len(mongods(data)) == 1
    assert httpx.get(f"{server.base}/metadata", timeout=30).status_code == 200
