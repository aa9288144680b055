"""Read benchmark: GET /fhir/Patient/{id} through the HTTP API next to a raw `find_one` loop
(async PyMongo) on the same ids, the same mongod and the same concurrency, in one run.

    python bench/read.py                        # 2,000 patients, 15 s each side
    python bench/read.py --seconds 30 --concurrency 16
    python bench/read.py --keep                 # keep the data; reruns skip seeding
    python bench/read.py --keep --workers 2     # two server processes (`serve --workers`)

Prints requests/second and p50/p95 latency (ms) of each side and the ratio of their
requests/second (the goal: the server reads at least half as fast as raw `find_one`).
While it runs, `py-spy record -p <server pid>` profiles the server (see bench/README.md).
"""

import argparse
import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable

from bench_server import bearer, running_server
from lean_http import LeanClient
from pymongo import AsyncMongoClient
from search import KEEP_DIR, seeded_mongo

WARM_UP_SECONDS = 2.0


async def _load(call: Callable[[str], Awaitable[None]], ids: list[str], concurrency: int,
                seconds: float) -> tuple[list[float], float]:
    """Latencies of `call` on random ids from `concurrency` workers for `seconds`, and the
    wall-clock time they took."""
    latencies: list[float] = []
    rng = random.Random(0)
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        while (now := time.perf_counter()) < deadline:
            await call(rng.choice(ids))
            latencies.append(time.perf_counter() - now)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def _percentile(values: list[float], p: float) -> float:
    """Nearest rank, in ms."""
    return 1000 * sorted(values)[max(0, -int(-p * len(values) // 100) - 1)]


def _row(label: str, latencies: list[float], elapsed: float) -> float:
    rate = len(latencies) / elapsed
    print(f"{label:<16}{rate:>10.0f}{_percentile(latencies, 50):>9.2f}"
          f"{_percentile(latencies, 95):>9.2f}{len(latencies):>10}", flush=True)
    return rate


async def benchmark(uri: str, name: str, base: str, args: argparse.Namespace) -> None:
    mongo = AsyncMongoClient(uri, tz_aware=True, uuidRepresentation="standard",
                             maxPoolSize=args.concurrency)
    patients = mongo[name]["Patient"]
    ids = [document["_id"] async for document in patients.find({}, {"_id": 1})]
    client = LeanClient(base, bearer(), args.concurrency)
    try:

        async def server_read(resource_id: str) -> None:
            status, body = await client.get(f"{base}/Patient/{resource_id}")
            if status != 200:
                raise RuntimeError(f"read failed: {status} {body[:500]!r}")

        async def raw_read(resource_id: str) -> None:
            if await patients.find_one({"_id": resource_id}) is None:
                raise RuntimeError(f"Patient/{resource_id} not found")

        for call in (server_read, raw_read):  # warm connections, caches and the JIT-less rest
            await _load(call, ids, args.concurrency, WARM_UP_SECONDS)
        print(f"\n{len(ids):,} patients, concurrency {args.concurrency}, {args.seconds:g} s each"
              f"\n{'':<16}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'requests':>10}")
        server = _row("server (HTTP)", *await _load(server_read, ids, args.concurrency,
                                                     args.seconds))
        raw = _row("raw find_one", *await _load(raw_read, ids, args.concurrency, args.seconds))
    finally:
        await client.aclose()
    print(f"ratio (server req/s / raw req/s): {server / raw:.2f}")
    await mongo.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for option, default in (("patients", 2000), ("concurrency", 8), ("seed", 1),
                            ("workers", 1)):
        parser.add_argument(f"--{option}", type=int, default=default)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per side")
    parser.add_argument("--mongodb-uri", default=os.environ.get("FHIR_MONGODB_URI"))
    parser.add_argument("--keep", action="store_true", help="keep the database (embedded: in "
                        f"{KEEP_DIR}) and reuse it if already seeded at this size")
    args = parser.parse_args()
    if min(args.patients, args.concurrency, args.workers) < 1 or args.seconds <= 0:
        parser.error("--patients, --concurrency, --workers and --seconds must be positive")
    return args


def main() -> None:
    args = parse_args()
    sizes = (args.patients, 0, 0)
    name = f"bench_read_{args.patients}_{args.seed}"
    with (seeded_mongo(args, name, sizes) as uri,
          running_server(uri, name, workers=args.workers) as (server, base)):
        print(f"server pid {server.pid}", flush=True)
        asyncio.run(benchmark(uri, name, base, args))


if __name__ == "__main__":
    main()
