"""Ingest benchmark: N patient transaction Bundles through the HTTP API — without signing,
signed by the organisation seal (a backend client) and signed by the person through the CSC
signing service — next to a raw PyMongo insert_many of the same resources, in the same run on
the same mongod.

    python bench/ingest.py --bundles 200 --concurrency 4
"""

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
from bench_server import bearer, start_server
from pymongo import MongoClient

from examples.generator import Generator
from fhir_server.embedded_mongo import EmbeddedMongo


async def post_bundles(base: str, bundles: list[dict], concurrency: int, person: bool) -> float:
    queue = list(reversed(bundles))
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal",
               **bearer(person)}

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            response = await client.post(base, json=queue.pop(), headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"transaction failed: {response.status_code} {response.text}")

    async with httpx.AsyncClient(timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - started


def raw_insert(mongo_uri: str, bundles: list[dict]) -> float:
    """The baseline: each bundle's resources inserted with insert_many per collection."""
    with MongoClient(mongo_uri) as client:
        db = client["bench_raw"]
        db.drop_collection("resources")
        started = time.perf_counter()
        for bundle in bundles:
            by_type: dict[str, list[dict]] = {}
            for entry in bundle["entry"]:
                resource = entry["resource"]
                by_type.setdefault(resource["resourceType"], []).append({"resource": resource})
            for resource_type, documents in by_type.items():
                db[resource_type].insert_many(documents)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundles", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mongodb-uri", default=os.environ.get("FHIR_MONGODB_URI"))
    args = parser.parse_args()

    generator = Generator(args.seed)
    bundles = [generator.patient_bundle() for _ in range(args.bundles)]
    resources = sum(len(b["entry"]) for b in bundles)
    mongo = None
    uri = args.mongodb_uri
    if uri is None:
        mongo = EmbeddedMongo(Path(tempfile.mkdtemp(prefix="bench-ingest-")))
        uri = mongo.start()
    runs = {  # label: (sign_writes, person)
        "server, signing off": (False, False),
        "server, seal-signed (backend client)": (True, False),
        "server, person-signed (CSC service)": (True, True),
    }
    seconds = {}
    try:
        for number, (label, (sign_writes, person)) in enumerate(runs.items()):
            data_dir = tempfile.mkdtemp(prefix="bench-ingest-data-")
            database = f"bench_ingest_{os.getpid()}_{number}"
            server, base = start_server(uri, database, sign_writes, data_dir)
            try:
                seconds[label] = asyncio.run(post_bundles(base, bundles, args.concurrency, person))
            finally:
                server.terminate()
                server.wait(30)
        seconds["raw PyMongo insert_many"] = raw_insert(uri, bundles)
    finally:
        if mongo is not None:
            mongo.stop()
    print(f"bundles={args.bundles} resources={resources} concurrency={args.concurrency}")
    raw_rate = resources / seconds["raw PyMongo insert_many"]
    for label, elapsed in seconds.items():
        rate = resources / elapsed
        print(f"{label:<40} {rate:8.0f} resources/s  ({elapsed:6.2f} s)  "
              f"ratio to raw {rate / raw_rate:.3f}")
    unsigned = resources / seconds["server, signing off"]
    for label in list(runs)[1:]:
        print(f"{label}: {resources / seconds[label] / unsigned:.2f} of the unsigned throughput")


if __name__ == "__main__":
    main()
