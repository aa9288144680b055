"""Which server runs on a data directory, and at what base URL: written by the server when it
has started, removed when it stops, so that `fhir-server token` mints for the server that is
actually running (its `aud` must be that server's base URL). Of several worker processes
serving one data directory, the primary (`claim_primary`) records it and does the other
start-up work needed once; `serve_workers` runs such workers."""

import asyncio
import fcntl
import functools
import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fhir_server.conformance.packages import installation_directory
from fhir_server.settings import STARTED_AT_VARIABLE, Settings, log_level

_RECORD = "server.json"
# While the mongod serve_workers supervises is down: the reason, for its workers to read.
_OUTAGE = "mongod-outage"
_OUTAGE_POLL_SECONDS = 0.5
_WORKER = "FHIR_SERVER_WORKER_OF_EMBEDDED_MONGOD"
# The copy of the installed packages the workers of a running server read, by its pid.
_SNAPSHOT = "packages-serving-"
# A worker's exit status when it could not start (as uvicorn's).
STARTUP_FAILURE = 3
_RESTART_SECONDS = 0.5  # before restarting a worker that died; doubled while it keeps dying
_MAX_RESTART_SECONDS = 30
_STABLE_SECONDS = 60  # a worker that lived this long died by accident, not by its start
_STOP_SECONDS = 30  # for a worker's graceful shutdown, then it is killed
log = logging.getLogger(__name__)
_PRIMARY_LOCK = "primary.lock"
# data dir → the descriptor of its primary lock, held while this process is the primary.
_primary_locks: dict[Path, int] = {}


def _path(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / _RECORD


def record(data_dir: Path, base_url: str, required_profiles: dict[str, list[str]]) -> None:
    """The running server's base URL, and the profiles its writes must conform to, which
    `fhir-server load` into its database obeys too."""
    path = _path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "base_url": base_url,
                                "required_profiles": required_profiles}), encoding="utf-8")


def claim_primary(data_dir: Path) -> bool:
    """Whether this process is the primary of those serving `data_dir`: it re-indexes,
    publishes packages and records the server, once for all. It holds `primary.lock` until
    `clear`; a worker started after the primary died takes over."""
    path = _path(data_dir).with_name(_PRIMARY_LOCK)
    if path in _primary_locks:
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return False
    _primary_locks[path] = descriptor
    return True


def already_serving(data_dir: Path) -> str | None:
    """What serves `data_dir` now, if a server does (its primary holds the lock): a second
    one would find the embedded mongod's files locked after printing a token, and die with
    a traceback."""
    try:
        descriptor = os.open(_path(data_dir).with_name(_PRIMARY_LOCK), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        where = running_base_url(data_dir)
        return f"a server is serving {data_dir} already" + (f" at {where}" if where else "")
    finally:
        os.close(descriptor)  # and the lock with it, if it was taken
    return None


def clear(data_dir: Path) -> None:
    """Forget this process's record (another process's stays), and its primacy."""
    path = _path(data_dir)
    descriptor = _primary_locks.pop(path.with_name(_PRIMARY_LOCK), None)
    if descriptor is not None:
        os.close(descriptor)
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def default_base_url(host: str, port: int) -> str:
    """The base URL of a server bound to `host`, without FHIR_BASE_URL: for all addresses
    (`0.0.0.0`, `::`), which no client can connect to, this machine's name; an IPv6 address
    in brackets. Behind a proxy, FHIR_BASE_URL names the public one."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/fhir"


def _running_record(data_dir: Path) -> dict:
    """What a live server process on `data_dir` recorded; empty if none did."""
    try:
        found = json.loads(_path(data_dir).read_text(encoding="utf-8"))
        os.kill(found["pid"], 0)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return found if isinstance(found, dict) else {}


def running_base_url(data_dir: Path) -> str | None:
    """The base URL of a live server process on `data_dir`, if one recorded it."""
    base_url = _running_record(data_dir).get("base_url")
    return base_url if isinstance(base_url, str) else None


def running_required_profiles(data_dir: Path) -> dict[str, list[str]]:
    """FHIR_REQUIRED_PROFILES of a live server process on `data_dir`, if one recorded it."""
    required = _running_record(data_dir).get("required_profiles")
    return required if isinstance(required, dict) else {}


def serve_workers(settings: Settings, workers: int, host: str, port: int,
                  **uvicorn_options: Any) -> int:
    """Serve with `workers` processes on one port, sharing one MongoDB: the configured one,
    else an embedded mongod this process starts, restarts if it dies, and stops after the
    workers. Workers take their settings from the environment set here; one-off work (the
    development keys, the demo data) is done here before they start, so none races another.
    Each worker listens on its own socket (SO_REUSEPORT): the kernel spreads connections over
    them, where on one shared socket the first worker awake would accept every waiting one.
    A worker that dies is replaced; SIGTERM or SIGINT stops them all. The exit status."""
    from fhir_server.embedded_mongo import EmbeddedMongo

    try:
        claim = _claim_port(host, port)
    except OSError as error:
        log.error("cannot serve on %s:%s: %s", host, port, error)
        return 1
    embedded = None
    if settings.mongodb_uri is None:
        embedded = EmbeddedMongo(settings.data_dir)
        settings.mongodb_uri = embedded.start()
        # Started from this (main) thread, which lives as long as the server: the mongod's
        # die-with-parent signal is tied to the thread that started it.
        outages = functools.partial(_relay_outage, _path(settings.data_dir).with_name(_OUTAGE))
        outages(None)  # that of a server killed during an outage
        threading.Thread(target=asyncio.run, args=(embedded.supervise(outages),),
                         daemon=True).start()
    snapshot = _package_snapshot(settings)
    try:
        if settings.dev:
            asyncio.run(_prepare_development(settings))
        os.environ.update(_environment(settings))
        os.environ[STARTED_AT_VARIABLE] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if snapshot is not None:
            os.environ["FHIR_PACKAGES"] = str(snapshot)
        if embedded is not None:
            os.environ[_WORKER] = "1"
        return _supervise(workers, (host, port, uvicorn_options))
    finally:
        for sock in claim:
            sock.close()
        if snapshot is not None:
            shutil.rmtree(snapshot, ignore_errors=True)
        if embedded is not None:
            embedded.stop()


def _package_snapshot(settings: Settings) -> Path | None:
    """A copy of the installed packages, which the workers read: a worker reads them as it
    starts, and one started to replace another must read what the others did, not a package
    installed since (that is for the server's next start). Snapshots left by a server that
    was killed are removed."""
    installed = installation_directory(settings.packages, settings.data_dir)
    for stale in Path(settings.data_dir).glob(f"{_SNAPSHOT}*"):
        owner = stale.name.removeprefix(_SNAPSHOT)
        if not (owner.isdigit() and Path(f"/proc/{owner}").exists()):
            shutil.rmtree(stale, ignore_errors=True)
    if not installed.is_dir():
        return None
    snapshot = Path(settings.data_dir) / f"{_SNAPSHOT}{os.getpid()}"
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(installed, snapshot)
    return snapshot


def _claim_port(host: str, port: int) -> list[socket.socket]:
    """The port held for the workers (bound, never listening) and a name only one server may
    hold for it: another server must not join their SO_REUSEPORT group."""
    guard = socket.socket(socket.AF_UNIX)
    try:
        guard.bind(f"\0fhir-server:{host}:{port}")
        return [guard, _bound_socket(host, port)]
    except OSError:
        guard.close()
        raise


def _bound_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so (else Nagle's
    # algorithm and delayed ACKs hold responses back 40 ms).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _supervise(workers: int, arguments: tuple) -> int:
    """Run the workers until a signal, replacing any that dies after it started serving."""
    spawn = multiprocessing.get_context("spawn")
    arguments = (*arguments, os.getpid())
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda *_: stopping.set())
    processes = []
    for _ in range(workers):
        processes.append(spawn.Process(target=_worker, args=arguments))
        processes[-1].start()
    first = set(processes)  # a first worker that cannot start: the next would fail the same way
    started_at = [time.monotonic()] * workers
    quick_deaths = [0] * workers  # in a row: a worker that keeps dying is restarted ever later
    status = 0
    while not stopping.wait(0.5):
        for index, process in enumerate(processes):
            if process.exitcode == STARTUP_FAILURE and process in first:
                status = STARTUP_FAILURE
                stopping.set()
            elif process.exitcode is not None:
                lived = time.monotonic() - started_at[index]
                quick_deaths[index] = quick_deaths[index] + 1 if lived < _STABLE_SECONDS else 0
                delay = min(_RESTART_SECONDS * 2 ** quick_deaths[index], _MAX_RESTART_SECONDS)
                log.error("worker %s exited with %s: starting another in %.1f s", process.pid,
                          process.exitcode, delay)
                if stopping.wait(delay):
                    break
                processes[index] = spawn.Process(target=_worker, args=arguments)
                processes[index].start()
                started_at[index] = time.monotonic()
    for process in processes:
        process.terminate()  # uvicorn's graceful shutdown
    deadline = time.monotonic() + _STOP_SECONDS  # for all of them together
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():  # a request that does not end: stop waiting for it
            log.error("worker %s still running %s s after SIGTERM: killed", process.pid,
                      _STOP_SECONDS)
            process.kill()
            process.join()
    return status


def _relay_outage(path: Path, reason: str | None) -> None:
    """Tell the workers the shared mongod is down (a file holding the reason) or back."""
    if reason is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(reason, encoding="utf-8")


async def follow_outages(data_dir: Path, report: Callable[[str | None], None]) -> None:
    """In a worker of `serve_workers` (else at once done): report the outages of the mongod
    its parent supervises as the parent finds them, so that requests get 503 at once."""
    if os.environ.get(_WORKER) != "1":
        return
    path, down = _path(data_dir).with_name(_OUTAGE), False
    while True:
        await asyncio.sleep(_OUTAGE_POLL_SECONDS)
        try:
            reason: str | None = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            reason = None
        if down or reason is not None:
            report(reason)
            down = reason is not None


async def _prepare_development(settings: Settings) -> None:
    """The development CA, seal and CSC token made, and the demo data loaded, once."""
    from fhir_server.main import services_for
    from fhir_server.services.demo import load_demo_data

    async with services_for(settings) as (service, processor):
        await load_demo_data(service.database, processor)


def _environment(settings: Settings) -> dict[str, str]:
    """The FHIR_* variables giving a worker the settings the command line changed."""
    changed = {"mongodb_uri": settings.mongodb_uri, "data_dir": str(settings.data_dir),
               "base_url": settings.base_url, "dev": "true" if settings.dev else "false"}
    return {f"FHIR_{name.upper()}": value for name, value in changed.items() if value is not None}


def _worker(host: str, port: int, uvicorn_options: dict[str, Any], supervisor: int) -> None:
    """One worker process: the server on its own listening socket. It is killed with the
    process that started it, as one server process would be: none is left serving, and none
    goes on answering (and auditing) while the shared mongod stops."""
    import uvicorn

    from fhir_server.api.header_timeout import with_client_deadlines
    from fhir_server.embedded_mongo import die_with_parent
    from fhir_server.main import create_app

    die_with_parent(signal.SIGKILL)
    if os.getppid() != supervisor:  # it died before the signal was asked for
        sys.exit(1)
    logging.basicConfig(level=log_level() or "INFO")
    settings = Settings()
    sock = _bound_socket(host, port)
    http = with_client_deadlines(settings.header_timeout_seconds, settings.response_stall_seconds)
    config = uvicorn.Config(create_app(settings, dated=True), host=host, port=port, http=http,
                            **uvicorn_options)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)
