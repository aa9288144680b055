"""`pip install .` gives a working server: the wheel carries the definitions (profiles/,
terminology/) and the demo data as package data, read with importlib.resources, not from the
source tree. The wheel is built, installed in a new venv and served from outside the checkout.

The new venv gets the test environment's third-party packages through a path file instead of
downloading them again, and the project from the wheel alone (`--no-deps`): what is tested is
that the installed project finds its own files."""

import contextlib
import json
import os
import re
import site
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = re.compile(r"export TOKEN=(\S+)")

pytestmark = pytest.mark.slow


def _run(*command: object, cwd: Path) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _installed_venv(tmp_path: Path) -> Path:
    wheels = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w",
         wheels, ROOT, cwd=tmp_path)
    (wheel,) = wheels.glob("fhir_exchange_server-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    # Third-party packages of the test environment, after the venv's own site-packages.
    (purelib / "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run(venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel,
         cwd=tmp_path)
    return venv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_installed_wheel_serves_from_its_own_files(tmp_path: Path, mongods):
    venv = _installed_venv(tmp_path)
    where = _run(venv / "bin" / "python", "-c",
                 "import fhir_server, profiles, terminology, examples; "
                 "print(fhir_server.__file__, profiles.__file__)", cwd=tmp_path)
    assert str(ROOT) not in where and str(venv) in where, where
    data_dir, port = tmp_path / "data", _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    log = tmp_path / "serve.out"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [venv / "bin" / "fhir-server", "serve", "--dev", "--port", str(port),
             "--data-dir", data_dir], cwd=tmp_path, env=env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline, token = time.monotonic() + 120, None
        while token is None:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            token = next(iter(TOKEN.findall(log.read_text())), None)
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        base = f"http://127.0.0.1:{port}/fhir"
        statement = None
        while statement is None:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            with contextlib.suppress(httpx.TransportError):
                statement = httpx.get(f"{base}/metadata", timeout=30).json()
            time.sleep(0.2)
        assert len(statement["rest"][0]["resource"]) == 146  # R4's types (Parameters too)
        patients = httpx.get(f"{base}/Patient", params={"_count": 1}, headers=headers,
                             timeout=30)
        assert patients.status_code == 200 and patients.json()["entry"], patients.text
        observation = {"resourceType": "Observation", "status": "final",
                       "code": {"text": "Mạch"}, "valueQuantity": {"value": 80}}
        created = httpx.post(f"{base}/Observation", content=json.dumps(observation),
                             headers={**headers, "Content-Type": "application/fhir+json"},
                             timeout=30)
        assert created.status_code == 201, created.text
    finally:
        server.terminate()
        server.wait(30)
        for pid in mongods(tmp_path):
            os.kill(pid, 9)
