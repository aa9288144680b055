"""A three-member MongoDB replica set from the bundled `mongod`, and `fhir-server serve`
processes that use it through FHIR_MONGODB_URI, as servers on several hosts would."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import process_issuer
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

# Children die with the test run, even a killed one.
from fhir_server.embedded_mongo import die_with_parent, find_mongod

FHIR_SERVER = Path(sys.executable).parent / "fhir-server"
NAME = "rs0"
ALREADY_INITIALIZED = 23


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


class ReplicaSet:
    """Three mongods on loopback ports, files under `directory`; `stop()` kills them all."""

    def __init__(self, directory: Path, members: int = 3):
        self.hosts = [f"127.0.0.1:{free_port()}" for _ in range(members)]
        self.processes: dict[str, subprocess.Popen] = {}
        for number, host in enumerate(self.hosts):
            db_path = directory / f"member-{number}"
            db_path.mkdir(parents=True)
            self.processes[host] = subprocess.Popen(
                [find_mongod(), "--dbpath", str(db_path), "--port", host.rsplit(":", 1)[1],
                 "--bind_ip", "127.0.0.1", "--replSet", NAME, "--logpath",
                 str(db_path / "mongod.log"), "--quiet",
                 # Three of them share two cores and the test's memory.
                 "--wiredTigerCacheSizeGB", "0.25", "--oplogSize", "64"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent)

    @property
    def uri(self) -> str:
        return f"mongodb://{','.join(self.hosts)}/?replicaSet={NAME}"

    def initiate(self, timeout: float = 60) -> None:
        """Make the set (default election settings) and wait until it has a primary and
        every member is a healthy secondary or the primary."""
        first = self.hosts[0]
        with MongoClient(first, directConnection=True, serverSelectionTimeoutMS=500) as client:

            def initiated() -> bool:
                try:
                    client.admin.command("replSetInitiate", {"_id": NAME, "members": [
                        {"_id": n, "host": host} for n, host in enumerate(self.hosts)]})
                except OperationFailure as failure:
                    return failure.code == ALREADY_INITIALIZED  # an earlier try did it
                except PyMongoError:
                    return False
                return True

            wait_until(initiated, timeout, "replSetInitiate")

            def settled() -> bool:
                states = [m["stateStr"] for m in
                          client.admin.command("replSetGetStatus")["members"]]
                return sorted(states) == ["PRIMARY"] + ["SECONDARY"] * (len(self.hosts) - 1)

            wait_until(lambda: _quietly(settled), timeout, "a primary and two secondaries")

    def primary(self, client: MongoClient) -> str | None:
        """The host of the primary as the live members see it, if there is one."""
        with contextlib.suppress(PyMongoError):
            return client.admin.command("hello").get("primary")
        return None

    @staticmethod
    def is_primary(client: MongoClient) -> bool:
        return _quietly(lambda: client.admin.command("hello").get("isWritablePrimary", False))

    def kill(self, host: str) -> None:
        process = self.processes[host]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)


def _quietly(check) -> bool:
    try:
        return check()
    except PyMongoError:
        return False


def server_environment(uri: str, signing) -> dict[str, str]:
    """FHIR_* settings of a server on `uri`: the process tests' token issuer, signing through
    the session's development signing service, no rate limit in the way of the test's
    threads, and export workers that take over a job quickly if a worker lost it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    return env | process_issuer.SETTINGS | {
        "PYTHONUNBUFFERED": "1",
        "FHIR_MONGODB_URI": uri,
        "FHIR_DATABASE": "failover",
        "FHIR_PUBLISH_PACKAGES": "false",
        "FHIR_RATE_LIMIT_PER_MINUTE": "10000000",
        "FHIR_RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "0",
        "FHIR_EXPORT_LEASE_SECONDS": "10",
        "FHIR_EXPORT_HEARTBEAT_SECONDS": "2",
        "FHIR_EXPORT_POLL_SECONDS": "0.5",
        "FHIR_CSC_URL": signing.url,
        "FHIR_CSC_TOKEN": signing.token,
        "FHIR_SEAL_KEY": str(signing.seal_key_path),
        "FHIR_SEAL_CERTIFICATES": str(signing.seal_chain_path),
        "FHIR_TRUST_ANCHORS": json.dumps([str(signing.anchor_path)]),
        "FHIR_ORGANIZATION_NAME": signing.seal_name,
        "FHIR_ORGANIZATION_TAX_CODE": signing.seal_tax_code,
    }


class Server:
    """`fhir-server serve` (one process) on a free port, its output in
    `<workdir>/serve-<port>.log`."""

    def __init__(self, workdir: Path, data_dir: Path, env: dict[str, str]):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.root = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(FHIR_SERVER), "serve", "--port", str(self.port), "--workers", "1",
                 "--data-dir", str(data_dir)], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"server exited:\n{self.log_path.read_text()[-4000:]}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{self.root}/health/ready", timeout=5).status_code == 200
        return False

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
