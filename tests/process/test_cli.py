"""The `fhir-server` command run for real: serve with its embedded mongod, restarts,
signals, connection limits, and loading data files (refusals to start:
test_cli_start_up.py)."""

import gzip
import json
import re
import signal
import socket
import time
import uuid

import httpx
from api.helpers import unique_cccd
from process_issuer import bearer

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
# A clean stop on SIGTERM: exit 0, or (uvicorn re-raises the signal after its graceful
# shutdown) death by SIGTERM.
TERMINATED = (0, -signal.SIGTERM)
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
             **bearer()}


def _patient(value: str, family: str = "Hoàng", given: tuple[str, ...] = ("Thị", "Lan"),
             **extra) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": CCCD, "value": value}],
        "name": [{"use": "official", "family": family, "given": list(given)}],
        "gender": "female",
        "birthDate": "1992-07-19",
        "address": [{"line": ["45 Nguyễn Trãi"], "district": "Thanh Xuân", "city": "Hà Nội",
                     "country": "VN"}],
        **extra,
    }


def _patient_ids(base: str, value: str) -> list[str]:
    response = httpx.get(f"{base}/Patient", params={"identifier": f"{CCCD}|{value}"},
                         headers=FHIR_JSON, timeout=30)
    assert response.status_code == 200, response.text
    return [entry["resource"]["id"] for entry in response.json().get("entry", [])]


def _patient_count(base: str) -> int:
    """Patients on the server, following `next` links."""
    count, url, params = 0, f"{base}/Patient", {"_count": "100"}
    for _ in range(1000):
        response = httpx.get(url, params=params, headers=FHIR_JSON, timeout=30)
        assert response.status_code == 200, response.text
        bundle = response.json()
        count += len(bundle.get("entry", []))
        links = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
        if not links:
            return count
        url, params = links[0], None
    raise AssertionError("paging does not end")


def _read(base: str, path: str) -> httpx.Response:
    return httpx.get(f"{base}/{path}", headers=FHIR_JSON, timeout=30)


def _without_version(resource: dict) -> dict:
    meta = {k: v for k, v in resource.get("meta", {}).items()
            if k not in ("versionId", "lastUpdated")}
    result = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    return {**result, "meta": meta} if meta else result


def test_help_mentions_every_setting_with_its_default(cli):
    """FHIR_LOG_LEVEL, read before the settings, was missing; a default made by a factory
    showed as `PydanticUndefined` (FHIR_REQUIRED_PROFILES's `{}`)."""
    for args in (["--help"], ["serve", "--help"]):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        assert "FHIR_MONGODB_URI" in result.stdout, result.stdout
        assert "FHIR_LOG_LEVEL" in result.stdout, result.stdout
        assert "PydanticUndefined" not in result.stdout, result.stdout


def test_dev_server_loads_demo_data_and_stops_cleanly_on_sigterm(spawn, mongods, tmp_path):
    data = tmp_path / "data"
    server = spawn(data, "--dev")
    server.wait_ready()
    metadata = _read(server.base, "metadata")
    assert metadata.json()["resourceType"] == "CapabilityStatement"
    assert metadata.json()["fhirVersion"] == "4.0.1"
    assert "server" not in metadata.headers  # the server software is not advertised
    assert server.base in server.stdout()
    assert _patient_count(server.base) > 0
    assert len(mongods(data)) == 1
    assert server.stop(signal.SIGTERM) in TERMINATED
    assert mongods(data) == []


def test_a_server_bound_to_every_address_names_this_machine_in_its_urls(spawn, tmp_path):
    """`--host 0.0.0.0` put `http://0.0.0.0:PORT/fhir`, where no client can connect, in
    every Location and link."""
    server = spawn(tmp_path / "data", "--dev", "--host", "0.0.0.0", "--workers", "1")
    server.wait_ready()
    public = f"http://{socket.gethostname()}:{server.port}/fhir"
    assert f"at {public}" in server.stdout()
    assert _read(server.base, "metadata").json()["implementation"]["url"] == public


def test_restart_keeps_the_data_and_loads_the_demo_once(spawn, mongods, tmp_path):
    data = tmp_path / "data"
    first = spawn(data, "--dev")
    first.wait_ready()
    demo_patients = _patient_count(first.base)
    assert demo_patients > 0
    value = unique_cccd()
    response = httpx.post(f"{first.base}/Patient", json=_patient(value), headers=FHIR_JSON,
                          timeout=30)
    assert response.status_code == 201, response.text
    patient = response.json()
    assert first.stop() in TERMINATED
    assert mongods(data) == []

    second = spawn(data, "--dev")
    second.wait_ready()
    again = _read(second.base, f"Patient/{patient['id']}")
    assert again.status_code == 200, again.text
    assert again.json() == patient
    assert _patient_ids(second.base, value) == [patient["id"]]
    assert _patient_count(second.base) == demo_patients + 1
    assert second.stop() in TERMINATED
    assert mongods(data) == []


def test_the_demo_is_not_mixed_into_data_loaded_before(cli, spawn, mongods, tmp_path):
    """`fhir-server load` into a new data dir, then `serve --dev`: the demo's patients,
    encounters and documents were added to the loaded ones."""
    data, files = tmp_path / "data", tmp_path / "files"
    files.mkdir()
    (files / "patient.json").write_text(json.dumps(_patient(unique_cccd())))
    loaded = cli("load", "--dev", "--data-dir", data, files, timeout=300)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    server = spawn(data, "--dev")
    server.wait_ready()
    assert _patient_count(server.base) == 1
    assert server.stop() in TERMINATED
    assert mongods(data) == []


def test_sigkill_of_the_server_takes_its_mongod_down(spawn, mongods, eventually, tmp_path):
    data = tmp_path / "data"
    server = spawn(data)
    server.wait_ready()
    value = unique_cccd()
    response = httpx.post(f"{server.base}/Patient", json=_patient(value), headers=FHIR_JSON,
                          timeout=30)
    assert response.status_code == 201, response.text
    assert len(mongods(data)) == 1
    server.process.kill()
    server.process.wait(10)
    assert eventually(lambda: mongods(data) == [], 30), mongods(data)
    # The mongod was stopped, not lost: a new server finds the data.
    restarted = spawn(data)
    restarted.wait_ready()
    assert _patient_ids(restarted.base, value) == [response.json()["id"]]
    assert restarted.stop() in TERMINATED
    assert mongods(data) == []


def _status_on(sock: socket.socket, port: int) -> int:
    """Send a GET /health/live (a few bytes back) on an open connection, kept alive; its
    status, 0 if the server closed the connection instead."""
    head = _answer_on(sock, port).split(b"\r\n", 1)[0]
    return int(head.split()[1]) if head else 0


def _answer_on(sock: socket.socket, port: int) -> bytes:
    """What the server first sends back to a GET /health/live on an open connection."""
    sock.sendall(f"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    sock.settimeout(30)
    return sock.recv(65536)


def test_connections_beyond_the_limit_are_503_not_a_starved_process(spawn, tmp_path):
    """FHIR_MAX_CONNECTIONS: a flood of connections (28,000 used up the 20,000 descriptors
    of the process, and everyone's were reset) is answered 503 while the process holds that
    many, and served again once some close."""
    server = spawn(tmp_path / "data", "--workers", "1", env={"FHIR_MAX_CONNECTIONS": "3"})
    server.wait_ready()
    held: list[socket.socket] = []
    try:
        held += [_served_connection(server.port), _served_connection(server.port)]
        with socket.create_connection(("127.0.0.1", server.port)) as extra:
            busy = _answer_on(extra, server.port)  # uvicorn then closes it
            # FHIR's 503, which a client can act on (it was a bare text one).
            assert busy.startswith(b"HTTP/1.1 503"), busy
            assert b"\r\nretry-after: 1\r\n" in busy.lower(), busy
            assert b'"resourceType":"OperationOutcome"' in busy, busy
        held.pop().close()
        _served_connection(server.port).close()  # once the server has seen those two close
    finally:
        for sock in held:
            sock.close()


def _served_connection(port: int) -> socket.socket:
    """A kept-alive connection the server answered 200 on: tried again while it still counts
    connections that just closed (the readiness poll's, one refused)."""
    for _ in range(100):
        sock = socket.create_connection(("127.0.0.1", port))
        if _status_on(sock, port) == 200:
            return sock
        sock.close()
        time.sleep(0.1)
    raise AssertionError("no connection was served")


def _write_json(path, document) -> str:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_load_transaction_collection_and_ndjson_files(cli, spawn, mongods, tmp_path):
    data = tmp_path / "data"
    run = uuid.uuid4().hex[:10]
    mother, child = unique_cccd(), unique_cccd()
    visit_system = f"http://benhvien-tu-du-{run}.vn/fhir/sid/encounter"
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": patient_url, "resource": _patient(mother),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Encounter", "status": "finished",
                      "identifier": [{"system": visit_system, "value": "KB-0001"}],
                      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                "code": "IMP"},
                      "subject": {"reference": patient_url}},
         "request": {"method": "POST", "url": "Encounter"}},
    ]}
    doctor = {"resourceType": "Practitioner", "id": f"bs-{run}",
              "name": [{"family": "Trịnh", "given": ["Quốc", "Khánh"], "prefix": ["BS."]}]}
    hospital = {"resourceType": "Organization", "id": f"bv-{run}",
                "name": "Bệnh viện Phụ sản Trung ương"}
    collection = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"Practitioner/{doctor['id']}", "resource": doctor},
        {"fullUrl": f"Organization/{hospital['id']}", "resource": hospital},
    ]}
    newborn = _patient(child, family="Hoàng", given=("Minh", "Khôi"), gender="male",
                       birthDate="2024-05-02", id=f"sosinh-{run}")
    ndjson = tmp_path / "patients.ndjson"
    extra = [unique_cccd(), unique_cccd()]
    lines = [newborn] + [_patient(v, family="Đỗ", given=("Văn", "Hùng")) for v in extra]
    ndjson.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines),
                      encoding="utf-8")

    loaded = cli("load", "--data-dir", data, _write_json(tmp_path / "tx.json", transaction))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert mongods(data) == []
    loaded = cli("load", "--data-dir", data, _write_json(tmp_path / "coll.json", collection),
                 ndjson)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert mongods(data) == []

    server = spawn(data)
    server.wait_ready()
    (mother_id,) = _patient_ids(server.base, mother)
    visits = httpx.get(f"{server.base}/Encounter",
                       params={"identifier": f"{visit_system}|KB-0001"},
                       headers=FHIR_JSON, timeout=30).json()
    assert [e["resource"]["subject"] for e in visits["entry"]] == [
        {"reference": f"Patient/{mother_id}"}]
    for resource in (doctor, hospital, newborn):
        stored = _read(server.base, f"{resource['resourceType']}/{resource['id']}")
        assert stored.status_code == 200, stored.text
        assert _without_version(stored.json()) == _without_version(resource)
    assert _patient_ids(server.base, child) == [newborn["id"]]
    for value in extra:
        assert len(_patient_ids(server.base, value)) == 1
    assert server.stop() in TERMINATED
    assert mongods(data) == []


def test_load_of_an_invalid_resource_fails_naming_the_entry(cli, spawn, mongods, tmp_path):
    data = tmp_path / "data"
    kept, bad = unique_cccd(), unique_cccd()
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient(kept), "request": {"method": "POST", "url": "Patient"}},
        {"resource": _patient(bad, gender="xx"), "request": {"method": "POST", "url": "Patient"}},
    ]}
    result = cli("load", "--data-dir", data, _write_json(tmp_path / "bad-tx.json", transaction))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Bundle.entry[1]" in output, output
    assert "Traceback" not in output, output
    assert mongods(data) == []

    ndjson = tmp_path / "bad.ndjson"
    ndjson.write_text(json.dumps(_patient(unique_cccd())) + "\n"
                      + json.dumps(_patient(unique_cccd(), gender="xx")) + "\n", encoding="utf-8")
    result = cli("load", "--data-dir", data, ndjson)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert re.search(r"entry\W*1\b|line\W*2\b|:2\b", output), output
    assert "gender" in output, output
    assert mongods(data) == []

    server = spawn(data)
    server.wait_ready()
    assert _patient_ids(server.base, kept) == []
    assert _patient_ids(server.base, bad) == []
    assert server.stop() in TERMINATED
    assert mongods(data) == []


def test_reindex_command_reports_and_then_finds_nothing_stale(cli, mongods, tmp_path):
    data = tmp_path / "data"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient(unique_cccd()), "request": {"method": "POST", "url": "Patient"}}]}
    assert cli("load", "--data-dir", data, _write_json(tmp_path / "one.json", bundle)
               ).returncode == 0
    result = cli("reindex", "--data-dir", data, "--type", "Patient")
    assert result.returncode == 0, result.stderr
    # Written by this release: already indexed with the current definitions.
    assert result.stdout.strip().splitlines() == ["Patient: 0 re-indexed"]
    assert mongods(data) == []


def test_load_into_a_running_server_obeys_its_required_profiles(cli, spawn, mongods,
                                                                 tmp_path):
    """The loader took FHIR_REQUIRED_PROFILES from its own environment only, so it stored
    into a running server's database what that server refuses on every write (probe CF)."""
    data = tmp_path / "data"
    required = {"Patient": ["http://fhir.ehealth.gov.vn/core/StructureDefinition/vn-core-patient"]}
    server = spawn(data, env={"FHIR_REQUIRED_PROFILES": json.dumps(required)})
    server.wait_ready()
    ndjson = tmp_path / "plain.ndjson"
    ndjson.write_text(json.dumps(_patient(unique_cccd())) + "\n", encoding="utf-8")
    result = cli("load", "--data-dir", data, ndjson)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "vn-core-patient" in output, output
    assert server.stop() in TERMINATED
    assert mongods(data) == []


def test_load_of_a_path_that_does_not_exist_starts_nothing(cli, mongods, tmp_path):
    """As `verify` and `package install`: one line, exit 2, no mongod started. It started
    the embedded mongod, loaded nothing and failed the path as a resource of no type, exit 1."""
    data = tmp_path / "data"
    result = cli("load", tmp_path / "nope.ndjson", "--data-dir", data)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{tmp_path / 'nope.ndjson'} is not a file or directory" in result.stderr
    assert not (data / "mongo").exists() and mongods(data) == []


def test_load_skips_a_byte_order_mark(cli, tmp_path):
    """Files saved by Windows tools start with a UTF-8 byte order mark, which a request body
    may (json_format.loads) and RFC 8259 §8.1 lets a parser ignore: each such file was one
    failure, "Unexpected UTF-8 BOM", exit 1."""
    bom = "\N{BYTE ORDER MARK}"
    (tmp_path / "a.ndjson").write_text(bom + json.dumps(_patient(unique_cccd())) + "\n",
                                       encoding="utf-8")
    (tmp_path / "b.json").write_text(bom + json.dumps(_patient(unique_cccd())), encoding="utf-8")
    with gzip.open(tmp_path / "c.ndjson.gz", "wt", encoding="utf-8") as packed:
        packed.write(bom + json.dumps(_patient(unique_cccd())) + "\n")
    result = cli("load", "--data-dir", tmp_path / "data", tmp_path / "a.ndjson",
                 tmp_path / "b.json", tmp_path / "c.ndjson.gz")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^Patient\s+3\s+0\s", result.stdout, re.MULTILINE), result.stdout


def test_load_keeps_its_batches_within_the_bundle_limit(cli, tmp_path):
    """With FHIR_MAX_BUNDLE_ENTRIES below the 500 lines of a batch, every NDJSON batch, and a
    collection Bundle of more resources than it, was refused whole (413): nothing loaded. A
    transaction stays one, all or nothing."""
    ndjson = tmp_path / "patients.ndjson"
    ndjson.write_text("".join(json.dumps(_patient(unique_cccd())) + "\n" for _ in range(5)),
                      encoding="utf-8")
    collection = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"resource": _patient(unique_cccd())} for _ in range(4)]}
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient(unique_cccd()), "request": {"method": "POST", "url": "Patient"}}
        for _ in range(4)]}
    result = cli("load", "--data-dir", tmp_path / "data", ndjson,
                 _write_json(tmp_path / "collection.json", collection),
                 _write_json(tmp_path / "transaction.json", transaction),
                 env={"FHIR_MAX_BUNDLE_ENTRIES": "3"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"^Patient\s+9\s+4\s", result.stdout, re.MULTILINE), result.stdout
    assert "transaction.json:1: 413 The Bundle has 4 entries" in result.stdout, result.stdout


def test_load_of_one_resource_twice_in_a_file_stores_the_last(cli, spawn, tmp_path):
    """Two lines of one id (a resource and its later version, or files concatenated) were two
    entries of one batch writing one resource: both failed, neither version was stored."""
    data, patient = tmp_path / "data", _patient(unique_cccd(), id=f"twice-{uuid.uuid4().hex[:8]}")
    ndjson = tmp_path / "twice.ndjson"
    ndjson.write_text(json.dumps(patient) + "\n" + json.dumps({**patient, "gender": "male"})
                      + "\n", encoding="utf-8")
    result = cli("load", "--data-dir", data, ndjson)
    assert result.returncode == 0, result.stdout + result.stderr
    server = spawn(data)
    server.wait_ready()
    stored = _read(server.base, f"Patient/{patient['id']}")
    assert stored.status_code == 200, stored.text
    assert stored.json()["gender"] == "male" and stored.json()["meta"]["versionId"] == "2"
    assert server.stop() in TERMINATED
