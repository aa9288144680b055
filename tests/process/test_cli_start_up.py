"""`fhir-server` refusing to start, in one line and before anything runs: bad settings and
arguments, a port or data dir it cannot use, an unreachable MongoDB, a required profile it
cannot check; and the command run as `python -m fhir_server`."""

import json
import os
import socket
import subprocess
import sys

import pytest


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
