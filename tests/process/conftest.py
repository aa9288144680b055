"""Fixtures for tests that run the real `fhir-server` command in subprocesses.

Every process gets its own data directory and a free port, and runs without
FHIR_MONGODB_URI so that it starts its own embedded mongod.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import process_issuer
import pytest
from proc_table import proc_files

FHIR_SERVER = Path(sys.executable).parent / "fhir-server"
READY_TIMEOUT = 90
STOP_TIMEOUT = 30
DEV_BANNER_END = "Stop it with Ctrl-C."


# Where the servers under test sign: set from the session's development signing service.
SIGNING_SETTINGS: dict[str, str] = {}


@pytest.fixture(scope="session", autouse=True)
def signing_settings(signing_service) -> None:
    """Servers started here sign as the in-process test servers do (conftest.test_settings)."""
    SIGNING_SETTINGS.update({
        "FHIR_CSC_URL": signing_service.url,
        "FHIR_CSC_TOKEN": signing_service.token,
        "FHIR_SEAL_KEY": str(signing_service.seal_key_path),
        "FHIR_SEAL_CERTIFICATES": str(signing_service.seal_chain_path),
        "FHIR_TRUST_ANCHORS": json.dumps([str(signing_service.anchor_path)]),
        "FHIR_ORGANIZATION_NAME": signing_service.seal_name,
        "FHIR_ORGANIZATION_TAX_CODE": signing_service.seal_tax_code,
    })


def clean_env(args: tuple = ()) -> dict[str, str]:
    """The environment without any FHIR_* setting (so no FHIR_MONGODB_URI), except the
    test token issuer to trust, no package definitions stored in the background (as in
    conftest.test_settings) and, unless `args` has --dev (which brings its own), the signing
    service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["FHIR_PUBLISH_PACKAGES"] = "false"
    signing = {} if "--dev" in args else SIGNING_SETTINGS
    return env | process_issuer.SETTINGS | signing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mongod_pids(data_dir: Path) -> list[int]:
    """Live mongod processes whose command line mentions `data_dir`."""
    needle = str(Path(data_dir).resolve())
    pids = []
    for pid, raw in proc_files("cmdline"):
        argv = [a.decode(errors="replace") for a in raw.split(b"\0")]
        if argv and Path(argv[0]).name == "mongod" and any(needle in a for a in argv):
            pids.append(pid)
    return pids


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def run_cli(*args: object, cwd: Path, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(FHIR_SERVER), *map(str, args)], cwd=cwd,
                          env=clean_env(args) | (env or {}),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


class ServerProcess:
    """`fhir-server serve` in a subprocess leading a process group of its own (as in a
    terminal), its output kept in files."""

    def __init__(self, workdir: Path, data_dir: Path, args: tuple[str, ...],
                 port: int | None = None, env: dict[str, str] | None = None):
        self.workdir = workdir
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.dev = "--dev" in args
        self.stdout_path = workdir / f"serve-{self.port}-{time.monotonic_ns()}.out"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        command = [str(FHIR_SERVER), "serve", "--port", str(self.port),
                   "--data-dir", str(data_dir), *args]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(command, cwd=workdir,
                                            env=clean_env(args) | (env or {}),
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                            process_group=0)

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def output(self) -> str:
        return self.stdout() + self.stderr_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll GET [base]/metadata until it answers 200 (with --dev, until the banner it
        prints then is out too)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.process.returncode}:\n{self.output()[-4000:]}")
            with contextlib.suppress(httpx.TransportError):
                if (httpx.get(f"{self.base}/metadata", timeout=5).status_code == 200
                        and (not self.dev or DEV_BANNER_END in self.stdout())):
                    return
            time.sleep(0.2)
        raise AssertionError(f"server not ready in {timeout}s:\n{self.output()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send `sig` and return the exit code; fail if it takes longer than `timeout`."""
        self.process.send_signal(sig)
        return self._exit_code(sig, timeout)

    def stop_group(self, sig: int, timeout: float = STOP_TIMEOUT) -> int:
        """`sig` to the server's whole process group, as a terminal sends SIGINT on Ctrl-C and
        a service manager SIGTERM. The exit code."""
        os.killpg(self.process.pid, sig)
        return self._exit_code(sig, timeout)

    def _exit_code(self, sig: int, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"server still running {timeout}s after signal {sig}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `fhir-server serve` processes; all are killed after the test, with any mongod
    they left behind under tmp_path."""
    started: list[ServerProcess] = []

    def start(data_dir: Path, *args: str, port: int | None = None,
              env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(tmp_path, data_dir, args, port, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
    for pid in mongod_pids(tmp_path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """Run `fhir-server ARGS...` to completion (in tmp_path, without FHIR_* settings but
    `env`'s)."""

    def run(*args: object, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return run_cli(*args, cwd=tmp_path, timeout=timeout, env=env)

    yield run
    for pid in mongod_pids(tmp_path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def mongods() -> Callable[[Path], list[int]]:
    """`mongods(data_dir)`: the pids of live mongod processes using data_dir."""
    return mongod_pids


@pytest.fixture
def eventually() -> Callable[..., bool]:
    """`eventually(predicate, timeout)`: poll until the predicate holds; False on timeout."""
    return wait_for
