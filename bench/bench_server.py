"""The server the benchmarks measure: `fhir-server serve` in its own process (so the load
generator does not share its GIL), trusting a benchmark token issuer, and the bearer token of
a backend-services client (`client_id`, no person) with every system scope: verification is
part of what is measured, rate limiting is not."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from fhir_server.auth.keys import SigningKey, mint_token

ISSUER = "https://issuer.bench.invalid"
AUDIENCE = "urn:fhir-exchange-server:bench"
CLIENT_ID = "bench"
KEY = SigningKey.generate()
SERVER_ENV = {
    "FHIR_TRUSTED_ISSUERS": json.dumps(
        [{"issuer": ISSUER, "jwks": KEY.public_jwks(), "issues_client_tokens": True}]
    ),
    "FHIR_AUDIENCES": json.dumps([AUDIENCE]),
    "FHIR_RATE_LIMIT_PER_MINUTE": str(10**9),
    # One load generator is one address: the per-address limit would answer 429.
    "FHIR_RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "0",
}


PERSON = "001085012345"
LOG_LINES = 200  # of the server's log, printed when a benchmark fails


def bearer(person: bool = False) -> dict[str, str]:
    """The Authorization header of a token valid for an hour: the backend client's, or with
    `person` a VNeID user's (whose writes are signed through the CSC signing service)."""
    if person:
        token = mint_token(KEY, ISSUER, AUDIENCE, PERSON, "user/*.cruds", 3600,
                           name="Nguyễn Văn An")
    else:
        token = mint_token(KEY, ISSUER, AUDIENCE, CLIENT_ID, "system/*.cruds", 3600,
                           extra={"client_id": CLIENT_ID})
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def running_server(mongo_uri: str, database: str, sign_writes: bool = True,
                   data_dir: str | None = None,
                   extra_env: dict[str, str] | None = None,
                   workers: int = 1) -> Iterator[tuple[subprocess.Popen, str]]:
    """The server process and its FHIR base, once it answers, for the block; stopped (SIGTERM)
    after it. It signs with the development CA, seal and CSC signing service of `data_dir`
    (`--dev`: demo data is loaded too), or
    not at all without `sign_writes`; `extra_env` adds settings; `workers` server processes
    (one by default, so that figures compare across machines). The installed packages are
    not stored as resources: that background work would skew every figure. The server's log
    (warnings and errors) is printed if the block fails."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "FHIR_MONGODB_URI": mongo_uri, "FHIR_DATABASE": database,
           "FHIR_LOG_LEVEL": "WARNING", "FHIR_SIGN_WRITES": str(sign_writes).lower(),
           "FHIR_PUBLISH_PACKAGES": "false", **SERVER_ENV, **(extra_env or {})}
    dev = ["--dev", "--data-dir", data_dir] if data_dir else []
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*_server_command(), "serve", "--port", str(port), "--workers", str(workers), *dev],
            env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_until_it_answers(process, f"http://127.0.0.1:{port}/fhir", port, workers)
            _wait_until_idle(process.pid)
            yield process, f"http://127.0.0.1:{port}/fhir"
        except BaseException:
            log.seek(0)
            tail = log.read().decode(errors="replace").splitlines()[-LOG_LINES:]
            print("the server's log, last lines:", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            process.terminate()
            process.wait(30)


def _server_command() -> list[str]:
    """`fhir-server`, or with FHIR_BENCH_PROFILE=FILE set, `fhir-server` under the CPU-time
    profiler writing to FILE (`cpu_profile.py`)."""
    profile = os.environ.get("FHIR_BENCH_PROFILE")
    if profile:
        return [sys.executable, str(Path(__file__).with_name("cpu_profile.py")), "--out", profile]
    return [sys.executable, "-m", "fhir_server.cli"]


def _wait_until_it_answers(process: subprocess.Popen, base: str, port: int,
                           workers: int) -> None:
    """Until every worker listens: kept-alive connections opened while only the first one
    did would all stay with it, and the figures would be those of one process."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if (httpx.get(f"{base}/metadata").status_code == 200
                    and _listening_sockets(port) >= workers):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def _wait_until_idle(pid: int, seconds: float = 60) -> None:
    """Until the server's processes (workers, the audit drainer) have finished starting:
    the drainer loads the definitions after the server answers, and that CPU would be
    counted against the first figures. Idle: under a tenth of a core for half a second."""
    deadline, busy = time.monotonic() + seconds, _cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        before, busy = busy, _cpu_seconds(pid)
        if busy - before < 0.05:
            return


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants so far (Linux /proc; elsewhere 0)."""
    ticks, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text(encoding="ascii")
            ticks += sum(int(field) for field in stat.rsplit(")", 1)[1].split()[11:13])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(kid) for kid in (task / "children").read_text().split()]
        except OSError:  # ended meanwhile, or not Linux
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def _listening_sockets(port: int) -> int:
    """How many sockets listen on `port` here (Linux: one per worker, as each has its own
    SO_REUSEPORT socket); elsewhere `workers` is taken on trust."""
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            rows = [line.split() for line in table.readlines()[1:]]
    except OSError:
        return sys.maxsize
    listening = "0A"
    return sum(1 for row in rows
               if int(row[1].rsplit(":", 1)[1], 16) == port and row[3] == listening)


async def post_all(url: str, bodies: list[dict], concurrency: int, person: bool = False,
                   expected: int = 200) -> float:
    """Seconds to POST every body to `url` from `concurrency` workers (FHIR JSON,
    `Prefer: return=minimal`); any other status than `expected` stops the run."""
    queue = list(reversed(bodies))
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal",
               **bearer(person)}

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            response = await client.post(url, json=queue.pop(), headers=headers)
            if response.status_code != expected:
                raise RuntimeError(f"POST {url} failed: {response.status_code} {response.text}")

    async with httpx.AsyncClient(timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - started
