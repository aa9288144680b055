"""The `fhir-server` command run for real: serve with its embedded mongod, restarts,
signals, start-up failure, and loading data files."""

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
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


@pytest.mark.parametrize("options", [(), ("--dev",)])
def test_port_in_use_fails_start_up_and_leaves_no_mongod(spawn, mongods, tmp_path, options):
    """Also with --dev, whose demo data leaves the export workers' first clean-up in a
    MongoDB call as the bind fails: a cancellation PyMongo swallowed there made the shut-down
    wait forever (and SIGTERM went unheard)."""
    data = tmp_path / "data"
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        server = spawn(data, *options, port=blocker.getsockname()[1])
        code = server.process.wait(120)
    assert code != 0, server.output()
    assert "address already in use" in server.output().lower(), server.output()
    assert mongods(data) == []


@pytest.mark.parametrize(("name", "value", "says"), [
    ("FHIR_METRICS", "private", "FHIR_METRICS: Input should be 'off' or 'public'"),
    ("FHIR_TRUSTED_PROXIES", '["not-an-ip"]', "'not-an-ip' is no IP address"),
    ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/metrics", "/nonexistent/metrics is no directory"),
    # A JSON setting given no JSON was a pydantic-settings traceback, exit 1.
    ("FHIR_REQUIRED_PROFILES", "Patient=vn-core-patient", "FHIR_REQUIRED_PROFILES: not JSON"),
    ("FHIR_REQUIRED_PROFILES", "", "FHIR_REQUIRED_PROFILES: not JSON"),
    # The resource type is named as written, not upper-cased as the setting's name is.
    ("FHIR_REQUIRED_PROFILES", '{"Patient": "x"}', "FHIR_REQUIRED_PROFILES.Patient: Input"),
    # 0 started a server whose token endpoint was 500 to every client (probe DM).
    ("FHIR_ACCESS_TOKEN_LIFETIME", "0",
     "FHIR_ACCESS_TOKEN_LIFETIME: Input should be greater than 0"),
    # A Vietnamese host made every write a 500 once stored: its Location is no header value.
    ("FHIR_BASE_URL", "https://bệnhviện.vn/fhir", "(https://xn--bnhvin-ik8be.vn/fhir)"),
    # Values no server can work with started one: -1 bytes made every request 413, a page
    # size of 0 or below the default every search wrong, a heartbeat at the lease's length
    # let a second worker take over an export still running, a base with no scheme made
    # every Location relative.
    ("FHIR_MAX_BODY_BYTES", "-1", "FHIR_MAX_BODY_BYTES: Input should be greater than 0"),
    ("FHIR_MAX_PAGE_SIZE", "0", "FHIR_MAX_PAGE_SIZE: Input should be greater than 0"),
    ("FHIR_MAX_PAGE_SIZE", "10", "FHIR_MAX_PAGE_SIZE: Value error, 10 is not at least "
     "FHIR_DEFAULT_PAGE_SIZE (50)"),
    ("FHIR_MAX_CONNECTIONS", "0", "FHIR_MAX_CONNECTIONS: Input should be greater than 0"),
    ("FHIR_RATE_LIMIT_PER_MINUTE", "-5", "FHIR_RATE_LIMIT_PER_MINUTE: Input should be greater"),
    ("FHIR_EXPORT_WORKERS", "-1", "FHIR_EXPORT_WORKERS: Input should be greater"),
    ("FHIR_EXPORT_HEARTBEAT_SECONDS", "60", "FHIR_EXPORT_HEARTBEAT_SECONDS: Value error, 60.0 "
     "is not below FHIR_EXPORT_LEASE_SECONDS (60.0)"),
    ("FHIR_BASE_URL", "fhir.benhvien.vn/fhir", "is no absolute http or https URL"),
    ("FHIR_CSC_URL", "csc.example/csc/v2", "is no absolute http or https URL"),
    # These were a traceback once the server started (exit 3), the mongod started too.
    ("FHIR_DATABASE", "fhir data", "FHIR_DATABASE: Value error, 'fhir data' is no MongoDB"),
    ("FHIR_SEAL_KEY", "/nonexistent/seal.p12", "/nonexistent/seal.p12 is no readable file"),
    ("FHIR_TRUST_ANCHORS", '["/nonexistent/ca.pem"]', "/nonexistent/ca.pem is no readable"),
    ("FHIR_TRUSTED_ISSUERS", '[{"issuer": "https://broker", "jwks_url": "https://broker/k"}]',
     "issuer https://broker: unknown jwks_url"),
    ("FHIR_TRUSTED_ISSUERS", '[{"issuer": "https://broker"}]',
     "give exactly one of jwks_uri, jwks_file, jwks"),
    # A file as the packages directory was read as no package installed, silently.
    ("FHIR_PACKAGES", __file__, f"FHIR_PACKAGES: Value error, {__file__} is no directory"),
    # A JWKS of no keys array made every request with a token a 500.
    ("FHIR_TRUSTED_ISSUERS", '[{"issuer": "https://broker", "jwks": {"keys": "k1"}}]',
     "issuer https://broker: its JWKS is no JSON object with a 'keys' array"),
    ("FHIR_TRUSTED_ISSUERS", json.dumps([{"issuer": "https://broker", "jwks_file": __file__}]),
     f"issuer https://broker: jwks_file {__file__} is no JSON"),
    # Files that hold no key or certificate were a traceback once the server started.
    ("FHIR_SEAL_KEY", __file__, "FHIR_SEAL_KEY: Unable to load PEM file"),
    ("FHIR_TRUST_ANCHORS", json.dumps([__file__]), "FHIR_TRUST_ANCHORS: Unable to load PEM"),
    # Python's logging refused `FOO` with a traceback (exit 1); uvicorn's `WARN` once the
    # packages had loaded (exit 1).
    ("FHIR_LOG_LEVEL", "FOO", "FHIR_LOG_LEVEL: not one of CRITICAL, ERROR, WARNING, INFO"),
    ("FHIR_LOG_LEVEL", "WARN", "FHIR_LOG_LEVEL: not one of CRITICAL, ERROR, WARNING, INFO"),
])
def test_a_bad_setting_is_one_line_before_anything_starts(spawn, mongods, tmp_path, name,
                                                          value, says):
    """A traceback before (or after the embedded mongod had started), it is a line naming
    the setting, exit 2, as the other settings' errors are."""
    data = tmp_path / "data"
    server = spawn(data, env={name: value})
    assert server.process.wait(60) == 2, server.output()
    output = server.output()
    assert "Traceback" not in output and f"cannot start: {name}" in output, output
    assert says in output, output
    assert mongods(data) == []


def test_unreachable_mongodb_is_one_line_and_no_server(spawn, tmp_path):
    """A configured MongoDB that does not answer: exit 1 with one line naming it, no
    traceback, and no port left listening."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]  # nothing listens once the socket closes
    for uri in (f"mongodb://127.0.0.1:{dead_port}/", "mongodb://[::1"):
        server = spawn(tmp_path / "data", env={"FHIR_MONGODB_URI": uri})
        assert server.process.wait(60) == 1, server.output()
        output = server.output()
        assert "Traceback" not in output, output
        assert "FHIR_MONGODB_URI" in output, output
        expected = f"127.0.0.1:{dead_port}" if "127" in uri else "not a usable MongoDB URI"
        assert expected in output, output
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", server.port)) != 0


@pytest.mark.parametrize("profile", ["vn-core-observation-lab-code", "no-such-profile"])
def test_a_required_profile_that_cannot_be_checked_stops_start_up(spawn, tmp_path, profile):
    """Required, a profile the server cannot use (its base is not installed) would refuse
    every write of the type: the server does not start, saying why in one line."""
    url = f"http://fhir.ehealth.gov.vn/core/StructureDefinition/{profile}"
    server = spawn(tmp_path / "data",
                   env={"FHIR_REQUIRED_PROFILES": json.dumps({"Observation": [url]})})
    assert server.process.wait(60) == 2, server.output()
    assert "Traceback" not in server.output(), server.output()
    assert f"cannot start: FHIR_REQUIRED_PROFILES: profile {url}" in server.output()


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


@pytest.mark.parametrize(("args", "says"), [
    (("serve", "--port", "99999"), "argument --port: '99999' is not a port number"),
    (("serve", "--port", "0"), "argument --port: '0' is not a port number"),
    (("token", "--sub", "001085012345", "--lifetime", "-5"),
     "argument --lifetime: '-5' is not a positive number"),
])
def test_an_argument_out_of_range_is_a_usage_error(cli, tmp_path, args, says):
    """A port beyond 65535 was a traceback from bind() (exit 1) after the packages had
    loaded, a negative token lifetime one from minting the token."""
    result = cli(*args, "--data-dir", tmp_path / "data")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and says in result.stderr, result.stderr


def test_python_m_fhir_server_is_the_command(tmp_path):
    """`python -m fhir_server` runs `fhir-server` (where its script is not on PATH); it was
    "No module named fhir_server.__main__", exit 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    done = subprocess.run([sys.executable, "-m", "fhir_server", "token", "--sub", "001085012345",
                           "--data-dir", tmp_path / "data"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].count(".") == 2, done.stdout  # a JWT


def test_load_of_a_path_that_does_not_exist_starts_nothing(cli, mongods, tmp_path):
    """As `verify` and `package install`: one line, exit 2, no mongod started. It started
    the embedded mongod, loaded nothing and failed the path as a resource of no type, exit 1."""
    data = tmp_path / "data"
    result = cli("load", tmp_path / "nope.ndjson", "--data-dir", data)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{tmp_path / 'nope.ndjson'} is not a file or directory" in result.stderr
    assert not (data / "mongo").exists() and mongods(data) == []


def test_start_up_waits_for_mongodb_as_long_as_the_setting_says(spawn, tmp_path):
    """The start-up check waited 5 s whatever FHIR_MONGODB_SERVER_SELECTION_TIMEOUT said: a
    cluster electing its primary for longer than that stopped a server told to wait 30 s."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    server = spawn(tmp_path / "data", env={"FHIR_MONGODB_URI": f"mongodb://127.0.0.1:{dead_port}/",
                                           "FHIR_MONGODB_SERVER_SELECTION_TIMEOUT": "1.5"})
    assert server.process.wait(60) == 1, server.output()
    assert f"no MongoDB primary at 127.0.0.1:{dead_port} answered within 1.5 s" in server.output()


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


@pytest.mark.parametrize("command", [("serve", "--workers", "1"),
                                     ("token", "--sub", "001085012345")])
def test_a_data_dir_that_is_a_file_is_one_line(cli, tmp_path, command):
    """`serve` went on to a traceback (NotADirectoryError, exit 1) after the packages had
    loaded, `token` at once."""
    taken = tmp_path / "data"
    taken.write_text("not a directory", encoding="utf-8")
    result = cli(*command, "--data-dir", taken / "inner")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert (f"cannot start: FHIR_DATA_DIR: Value error, {taken / 'inner'} is no directory, "
            f"nor can one be made there: {taken} is a file") in result.stderr, result.stderr


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
