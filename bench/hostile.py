"""Hostile load (issue 14): the requests that once froze the server, each run against a fresh
server on an embedded mongod, while a `/metadata` probe every 50 ms measures whether
everyone else is still answered.

    python bench/hostile.py
    python bench/hostile.py --patients 300 --body-timeout 10   # smaller data, shorter wait

Cases: a Patient with 8,000 names (POST); 20,000 repeated search parameters (POST _search);
a 16 MiB form to the token endpoint (no authentication needed); eight concurrent
`_count=1000` pages with `_revinclude:iterate` over generated patients; slow clients (headers
and bodies a byte at a time); a flood of unauthenticated requests. Prints per case the
statuses answered, the time, the worst and median probe latency during it, and the server
process's peak resident memory during it (VmHWM, reset before each case).
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from bench_server import bearer, running_server

from examples.generator import Generator
from fhir_server.embedded_mongo import EmbeddedMongo

FHIR_JSON = {"Content-Type": "application/fhir+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PROBE_EVERY = 0.05


class Probe:
    """GET /metadata every 50 ms from its own thread; a probe still waiting when the case
    ends counts with the time it has waited so far."""

    def __init__(self, base: str):
        self.base = base
        self.latencies: list[float] = []
        self.failures = 0
        self.stopped = threading.Event()
        self.waiting_since: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Probe":
        self.thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=120) as client:
            while not self.stopped.is_set():
                started = self.waiting_since = time.perf_counter()
                try:
                    if client.get(f"{self.base}/metadata").status_code != 200:
                        self.failures += 1
                except httpx.HTTPError:
                    self.failures += 1
                self.waiting_since = None
                self.latencies.append(time.perf_counter() - started)
                self.stopped.wait(PROBE_EVERY)

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        if self.waiting_since is not None:
            self.latencies.append(time.perf_counter() - self.waiting_since)
        self.thread.join(1)


class Memory:
    """The server process's peak resident set: VmHWM, reset through clear_refs (Linux)."""

    def __init__(self, pid: int):
        self.pid = pid

    def _status(self, key: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def reset_peak(self) -> None:
        # Without it (not Linux, no permission) VmHWM is the peak since the server started.
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak_mib(self) -> float:
        return self._status("VmHWM")

    def current_mib(self) -> float:
        return self._status("VmRSS")


@dataclass
class Result:
    case: str
    statuses: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    probe_worst: float = 0.0
    probe_median: float = 0.0
    probe_failures: int = 0
    peak_mib: float = 0.0


def _status_text(statuses: Counter) -> str:
    return " ".join(f"{status}×{count}" if count > 1 else str(status)
                    for status, count in sorted(statuses.items(), key=lambda kv: str(kv[0])))


async def _request(client: httpx.AsyncClient, statuses: Counter, method: str, url: str,
                   **kwargs) -> None:
    try:
        response = await client.request(method, url, **kwargs)
        statuses[response.status_code] += 1
    except httpx.HTTPError as error:
        statuses[type(error).__name__] += 1


# ---------------------------------------------------------------- the cases

async def many_names(base: str, statuses: Counter, args) -> None:
    names = [{"use": "official", "family": f"Nguyễn{i}", "given": ["Văn", "An"]}
             for i in range(args.names)]
    patient = {"resourceType": "Patient", "name": names}
    async with httpx.AsyncClient(timeout=600) as client:
        await _request(client, statuses, "POST", f"{base}/Patient", json=patient,
                       headers={**FHIR_JSON, **bearer()})


async def repeated_parameters(base: str, statuses: Counter, args) -> None:
    form = "&".join(["name=Nguyen"] * args.repeats)
    async with httpx.AsyncClient(timeout=600) as client:
        await _request(client, statuses, "POST", f"{base}/Patient/_search", content=form,
                       headers={**FORM, **bearer()})


async def huge_token_form(base: str, statuses: Counter, args) -> None:
    assertion = "A" * (16 * 1024 * 1024)
    form = ("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth"
            f"%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}")
    async with httpx.AsyncClient(timeout=600) as client:
        await _request(client, statuses, "POST", f"{base}/auth/token", content=form,
                       headers=FORM)


INCLUDE_PAGE = ("_count=1000&_revinclude=Encounter:subject"
                "&_revinclude:iterate=DocumentReference:encounter"
                "&_include:iterate=Encounter:service-provider&_include:iterate=Encounter:participant")


async def include_pages(base: str, statuses: Counter, args) -> None:
    async with httpx.AsyncClient(timeout=600, headers=bearer()) as client:
        await asyncio.gather(*(
            _request(client, statuses, "GET", f"{base}/Patient?{INCLUDE_PAGE}")
            for _ in range(args.pages)
        ))


async def _slow_client(base: str, statuses: Counter, body: bool, limit: float) -> None:
    """Headers (or, with `body`, a declared 100 kB body) sent a byte every half second,
    until the server answers or closes, or `limit` seconds pass."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = (f"POST {parts.path}/Patient HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/fhir+json\r\nContent-Length: 100000\r\n")
    trickle = "{" + " " * 99999 if body else head
    if body:
        writer.write(f"{head}Authorization: {bearer()['Authorization']}\r\n\r\n".encode())
    started = time.perf_counter()
    answer = asyncio.ensure_future(reader.read(64))
    try:
        for byte in trickle.encode():
            if answer.done() or time.perf_counter() - started > limit:
                break
            writer.write(bytes([byte]))
            try:
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait([answer], timeout=0.5)
        if not answer.done():
            await asyncio.wait([answer], timeout=max(0.0, limit - (time.perf_counter() - started)))
        line = answer.result() if answer.done() and not answer.exception() else b""
        status = line.split(b" ")[1].decode() if line.startswith(b"HTTP/") else (
            "closed" if answer.done() else f"open after {limit:.0f} s")
        statuses[f"{'body' if body else 'headers'}:{status}"] += 1
    finally:
        answer.cancel()
        writer.close()


async def slow_clients(base: str, statuses: Counter, args) -> None:
    await asyncio.gather(*(
        _slow_client(base, statuses, body=index % 2 == 1, limit=args.slow_limit)
        for index in range(args.slow_clients)
    ))


async def flood(base: str, statuses: Counter, args) -> None:
    queue = list(range(args.flood))
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def worker() -> None:
            while queue:
                queue.pop()
                await _request(client, statuses, "GET", f"{base}/Patient?name=a")
        await asyncio.gather(*(worker() for _ in range(64)))


Case = Callable[[str, Counter, argparse.Namespace], Awaitable[None]]
CASES: list[tuple[str, Case]] = [
    ("Patient with {names} names", many_names),
    ("{repeats} repeated search parameters", repeated_parameters),
    ("16 MiB form to /auth/token", huge_token_form),
    ("{pages}× _count=1000 + _revinclude:iterate", include_pages),
    ("{slow_clients} slow clients (headers, body)", slow_clients),
    ("flood: {flood} unauthenticated", flood),
]


def run_case(name: str, case: Case, base: str, memory: Memory, args) -> Result:
    result = Result(name.format(**vars(args)))
    memory.reset_peak()
    with Probe(base) as probe:
        started = time.perf_counter()
        asyncio.run(case(base, result.statuses, args))
        result.seconds = time.perf_counter() - started
        time.sleep(PROBE_EVERY * 2)  # the probe's view right after, too
    result.probe_worst = max(probe.latencies, default=float("nan"))
    result.probe_median = statistics.median(probe.latencies) if probe.latencies else float("nan")
    result.probe_failures = probe.failures
    result.peak_mib = memory.peak_mib()
    return result


# ---------------------------------------------------------------- data and output

async def load_patients(base: str, patients: int) -> int:
    """`patients` generated records (patient, encounters, notes) as transactions."""
    generator = Generator(seed=14)
    bundles = [generator.staff_bundle()] + [generator.patient_bundle(3, 2)
                                            for _ in range(patients)]
    async with httpx.AsyncClient(timeout=600, headers={**FHIR_JSON, **bearer()}) as client:
        staff = await client.post(base, json=bundles[0])
        staff.raise_for_status()
        queue = list(reversed(bundles[1:]))

        async def worker() -> None:
            while queue:
                (await client.post(base, json=queue.pop())).raise_for_status()
        await asyncio.gather(*(worker() for _ in range(4)))
    return sum(len(b["entry"]) for b in bundles)


def print_table(results: list[Result], idle: Result) -> None:
    header = (f"{'case':44} {'answered':26} {'time s':>7} {'probe worst ms':>15} "
              f"{'probe p50 ms':>13} {'probe fails':>11} {'peak RSS MiB':>13}")
    print(header)
    print("-" * len(header))
    for r in [idle, *results]:
        print(f"{r.case:44} {_status_text(r.statuses)[:26]:26} {r.seconds:7.2f} "
              f"{r.probe_worst * 1000:15.0f} {r.probe_median * 1000:13.1f} "
              f"{r.probe_failures:11d} {r.peak_mib:13.0f}")


async def _idle(base: str, statuses: Counter, args) -> None:
    await asyncio.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=20000)
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--patients", type=int, default=600,
                        help="generated records loaded for the _revinclude pages")
    parser.add_argument("--slow-clients", type=int, default=20)
    parser.add_argument("--slow-limit", type=float, default=90,
                        help="seconds a slow client keeps trying before giving up")
    parser.add_argument("--body-timeout", type=float, default=None,
                        help="FHIR_BODY_TIMEOUT_SECONDS of the server (default: its own)")
    parser.add_argument("--flood", type=int, default=5000)
    args = parser.parse_args()
    extra = {"FHIR_BODY_TIMEOUT_SECONDS": str(args.body_timeout)} if args.body_timeout else {}
    # The benchmark issuer's own rate limit is lifted (bench_server); the per-address one
    # before authentication is left as configured: the flood is what it is for.
    mongo = EmbeddedMongo(Path(tempfile.mkdtemp(prefix="bench-hostile-")))
    uri = mongo.start()
    try:
        with running_server(uri, f"bench_hostile_{os.getpid()}", sign_writes=False,
                            extra_env=extra) as (server, base):
            memory = Memory(server.pid)
            started = time.perf_counter()
            loaded = asyncio.run(load_patients(base, args.patients))
            print(f"loaded {loaded} resources ({args.patients} patients) in "
                  f"{time.perf_counter() - started:.0f} s; "
                  f"server RSS {memory.current_mib():.0f} MiB")
            idle = run_case("idle (2 s, for comparison)", _idle, base, memory, args)
            results = [run_case(name, case, base, memory, args) for name, case in CASES]
    finally:
        mongo.stop()
    print_table(results, idle)
    print(json.dumps({r.case: {"answered": dict(r.statuses), "seconds": round(r.seconds, 2),
                               "probe_worst_ms": round(r.probe_worst * 1000),
                               "peak_rss_mib": round(r.peak_mib)} for r in results},
                     ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
