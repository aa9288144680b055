"""The development issuer, run for real: `fhir-server serve --dev` prints a working token,
`fhir-server token` mints more, and only a server started with --dev on that data dir trusts
them. Also: the access log of `serve` never shows a whole personal ID."""

import os
import re
import shlex
import signal
import socket
import subprocess

import httpx
from api.helpers import unique_cccd
from process_issuer import bearer

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
TERMINATED = (0, -signal.SIGTERM)
JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json",
            "Content-Type": "application/fhir+json"}


def _patient() -> dict:
    return {"resourceType": "Patient",
            "identifier": [{"system": CCCD, "value": unique_cccd()}],
            "name": [{"family": "Phạm", "given": ["Minh", "Châu"]}], "gender": "female"}


def _banner_token(stdout: str) -> str:
    match = re.search(r"export TOKEN=(\S+)", stdout)
    assert match, stdout
    return match.group(1)


def _minted(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert JWT.match(token), result.stdout
    return token


def _search(base: str, token: str) -> httpx.Response:
    return httpx.get(f"{base}/Patient", params={"_count": "2"}, headers=_headers(token),
                     timeout=30)


def _create(base: str, token: str) -> httpx.Response:
    return httpx.post(f"{base}/Patient", json=_patient(), headers=_headers(token), timeout=30)


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_dev_tokens_work_with_dev_only(spawn, cli, tmp_path):
    data = tmp_path / "data"
    port = _port()
    dev = spawn(data, "--dev", port=port)
    dev.wait_ready()
    banner = _banner_token(dev.stdout())
    assert _search(dev.base, banner).status_code == 200
    created = _create(dev.base, banner)
    assert created.status_code == 201, created.text  # the banner token has user/*.cruds

    minted = _minted(cli("token", "--data-dir", data, "--sub", "001085012345",
                         "--name", "Nguyễn Văn An", "--scope", "user/*.rs", "--aud", dev.base))
    found = _search(dev.base, minted)
    assert found.status_code == 200, found.text
    assert found.json()["type"] == "searchset"
    refused = _create(dev.base, minted)
    assert refused.status_code == 403, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"

    # --patient: the launch patient, to which patient/ scopes keep.
    some = [entry["resource"]["id"] for entry in found.json()["entry"]][:2]
    launched = _minted(cli("token", "--data-dir", data, "--sub", "079203001234",
                           "--scope", "patient/*.rs", "--patient", some[1], "--aud", dev.base))
    own = _search(dev.base, launched)
    assert [entry["resource"]["id"] for entry in own.json()["entry"]] == [some[1]], own.text
    bad = cli("token", "--data-dir", data, "--sub", "079203001234", "--patient", "a/b")
    assert bad.returncode == 2 and "--patient" in bad.stderr, bad.stderr
    assert dev.stop() in TERMINATED

    # The same data dir and port, without --dev: the development issuer is not trusted.
    plain = spawn(data, port=port)
    plain.wait_ready()
    _assert_401(_search(plain.base, minted))
    _assert_401(_search(plain.base, banner))
    _assert_401(_create(plain.base, banner))
    trusted = httpx.get(f"{plain.base}/Patient", headers={**bearer(), "Accept":
                                                          "application/fhir+json"}, timeout=30)
    assert trusted.status_code == 200, trusted.text  # the configured issuer still works
    assert plain.stop() in TERMINATED


def test_the_more_tokens_hint_of_serve_dev_yields_a_working_token(spawn, tmp_path):
    """`serve --dev` prints `More tokens: fhir-server token ...`; following it on a server
    that is not on the default port must give a token that server accepts."""
    data = tmp_path / "data"
    dev = spawn(data, "--dev")
    dev.wait_ready()
    (hint,) = [line.split("More tokens:", 1)[1] for line in dev.stdout().splitlines()
               if "More tokens:" in line]
    command = shlex.split(hint.replace("<12 digits>", "079203001234"))
    assert command[:2] == ["fhir-server", "token"], hint
    result = subprocess.run([str(dev.process.args[0]), *command[1:]], cwd=tmp_path,
                            env=_env_without_fhir(), capture_output=True, text=True, timeout=120)
    token = _minted(result)
    response = _search(dev.base, token)
    assert response.status_code == 200, (hint, response.status_code, response.text)
    assert dev.stop() in TERMINATED


def _env_without_fhir() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}


def test_serve_access_log_masks_personal_ids(spawn, tmp_path):
    data = tmp_path / "data"
    dev = spawn(data, "--dev")
    dev.wait_ready()
    person = "079203001234"
    banner = _banner_token(dev.stdout())
    response = httpx.get(f"{dev.base}/Patient", params={"identifier": f"{CCCD}|{person}"},
                         headers=_headers(banner), timeout=30)
    assert response.status_code == 200, response.text
    unauthorised = httpx.get(f"{dev.base}/Patient/{person}", timeout=30)
    assert unauthorised.status_code == 401
    assert dev.stop() in TERMINATED
    output = dev.output()
    assert "/fhir/Patient" in output, output[-3000:]  # the access log is there
    assert person not in output, [line for line in output.splitlines() if person in line]
    assert f"{person[:3]}*******{person[-2:]}" in output, output[-3000:]
    assert "Logging error" not in output, output[-3000:]


def test_token_refuses_an_invalid_personal_id(cli, tmp_path):
    for sub in ("123", "001985012345", "00108501234", "000085012345"):
        result = cli("token", "--data-dir", tmp_path / "data", "--sub", sub)
        assert result.returncode == 2, (sub, result.stdout, result.stderr)
        assert not [line for line in result.stdout.splitlines() if JWT.match(line.strip())]
        assert "--sub" in result.stderr, result.stderr


def test_token_without_aud_is_for_the_server_running_on_the_data_dir(spawn, cli, tmp_path):
    data = tmp_path / "data"
    dev = spawn(data, "--dev", port=_port())  # not the default 8080
    dev.wait_ready()
    token = _minted(cli("token", "--data-dir", data, "--sub", "079203001234"))
    response = _search(dev.base, token)
    assert response.status_code == 200, response.text
    assert dev.stop() in TERMINATED
    stopped = cli("token", "--data-dir", data, "--sub", "079203001234")
    assert "no server is running" in stopped.stderr, stopped.stderr
    assert _minted(stopped)  # still a token, for FHIR_BASE_URL or the default


def test_client_register_on_a_dev_data_dir_warns_of_nothing(spawn, cli, tmp_path):
    data = tmp_path / "data"
    dev = spawn(data, "--dev")
    dev.wait_ready()
    result = cli("client", "register", "--data-dir", data, "--client-id", "his-1",
                 "--jwks-url", "https://his.example/jwks.json", "--scope", "system/*.rs")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr and "signer" not in result.stderr, result.stderr
    assert dev.stop() in TERMINATED
