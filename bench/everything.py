"""`Patient/$everything` benchmark: one patient with about 2,000 resources across ten clinical
types (the `examples.clinical` data set, every record re-pointed at one patient), paged at
100 through the HTTP API, next to the same page queries sent with PyMongo in the same run on
the same mongod (per type: the compartment filter, `_id` order, a limit of one more than the
room left; then the referenced Practitioners, Organizations, Locations and Medications).

    python bench/everything.py --rounds 5
"""

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from bench_server import bearer, running_server
from pymongo import MongoClient

from examples.clinical import bulk_data_set
from fhir_server.conformance.search_parameters import compartment_parameters
from fhir_server.embedded_mongo import EmbeddedMongo

PAGE = 100


def one_patient_record(seed: int, patients: int) -> tuple[str, list[dict]]:
    """The data set of `patients` records, all re-pointed at the first patient."""
    data = bulk_data_set(seed, patients)
    first, *others = data.pop("Patient")
    text = json.dumps([r for resources in data.values() for r in resources])
    for other in others:
        text = text.replace(f'"Patient/{other["id"]}"', f'"Patient/{first["id"]}"')
    return first["id"], [first, *json.loads(text)]


async def load(base: str, resources: list[dict]) -> None:
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal", **bearer()}
    async with httpx.AsyncClient(timeout=300) as client:
        for start in range(0, len(resources), 200):
            entries = [{"resource": r, "request": {"method": "PUT",
                                                    "url": f"{r['resourceType']}/{r['id']}"}}
                       for r in resources[start:start + 200]]
            bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
            response = await client.post(base, json=bundle, headers=headers)
            failed = [e for e in response.json()["entry"]
                      if not e["response"]["status"].startswith("2")]
            if response.status_code != 200 or failed:
                raise RuntimeError(f"loading failed: {response.status_code} {failed[:1]}")


def server_pages(base: str, patient_id: str) -> tuple[list[float], int]:
    """Seconds per page of one walk through `$everything`, and the resources seen."""
    times, seen = [], 0
    url = f"{base}/Patient/{patient_id}/$everything?_count={PAGE}"
    with httpx.Client(timeout=120, headers=bearer()) as client:
        while url:
            started = time.perf_counter()
            bundle = client.get(url).raise_for_status().json()
            times.append(time.perf_counter() - started)
            seen += len(bundle.get("entry", []))
            url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"),
                       None)
    return times, seen


def raw_pages(db, patient_id: str, referenced: list[tuple[str, str]]) -> tuple[list[float], int]:
    """The same walk with PyMongo: the compartment's types in order, keyset on `_id`."""
    compartment = f"Patient/{patient_id}"
    types = ["Patient", *sorted(set(compartment_parameters("Patient")) - {"Patient"})]
    types = [t for t in types if t not in ("Provenance", "AuditEvent")]
    present = set(db.list_collection_names())
    times, seen, index, after = [], 0, 0, ""
    projection = {"search": 0, "sort": 0, "missing": 0, "compartments": 0, "references": 0}
    while index < len(types):
        started, page = time.perf_counter(), []
        while index < len(types) and len(page) <= PAGE:
            kind = types[index]
            found = [] if kind not in present else list(
                db[kind].find({"compartments": compartment, "_id": {"$gt": after},
                               "deleted": False}, projection)
                .sort("_id", 1).limit(PAGE + 1 - len(page)))
            page += found
            if len(page) > PAGE:
                after = page[PAGE - 1]["_id"]
                page = page[:PAGE]
                break
            index, after = index + 1, ""
        if index >= len(types):  # the referenced resources, on the last page(s)
            for kind in sorted({kind for kind, _ in referenced}):
                ids = [i for k, i in referenced if k == kind]
                page += list(db[kind].find({"_id": {"$in": ids}, "deleted": False}, projection))
        times.append(time.perf_counter() - started)
        seen += len(page)
    return times, seen


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=60, help="records merged into one")
    parser.add_argument("--rounds", type=int, default=5, help="walks through every page")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    patient_id, resources = one_patient_record(args.seed, args.patients)
    mongo = EmbeddedMongo(Path(tempfile.mkdtemp(prefix="bench-everything-")))
    uri = mongo.start()
    database = f"bench_everything_{os.getpid()}"
    try:
        with running_server(uri, database, sign_writes=False) as (_, base):
            asyncio.run(load(base, resources))
            server_times, raw_times = [], []
            with MongoClient(uri) as client:
                db = client[database]
                referenced = sorted({(r["resourceType"], r["id"]) for r in resources
                                     if r["resourceType"] in ("Practitioner", "Organization",
                                                              "Location", "Medication")})
                for _ in range(args.rounds):
                    times, seen = server_pages(base, patient_id)
                    server_times += times
                    times, raw_seen = raw_pages(db, patient_id, referenced)
                    raw_times += times
    finally:
        mongo.stop()
    kinds = {r["resourceType"] for r in resources}
    print(f"one patient: {len(resources)} resources of {len(kinds)} types; "
          f"$everything _count={PAGE}: {seen} resources in {len(server_times) // args.rounds} "
          f"pages (raw walk: {raw_seen}), {args.rounds} rounds")
    server_p50, server_p95 = percentiles(server_times)
    raw_p50, raw_p95 = percentiles(raw_times)
    print(f"server page  p50 {server_p50 * 1000:7.1f} ms  p95 {server_p95 * 1000:7.1f} ms")
    print(f"raw PyMongo  p50 {raw_p50 * 1000:7.1f} ms  p95 {raw_p95 * 1000:7.1f} ms")
    print(f"ratio server/raw: p50 {server_p50 / raw_p50:.1f}  p95 {server_p95 / raw_p95:.1f}")


if __name__ == "__main__":
    main()
