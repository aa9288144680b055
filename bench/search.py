"""Search benchmark: a seeded data set of synthetic Vietnamese patients, encounters and
documents, searched through the HTTP API next to the same MongoDB queries sent directly with
PyMongo (the server's own compiled filter, sort and limit), in the same run on the same mongod.

    python bench/search.py                     # 100,000 patients, 500,000 encounters, 200,000 docs
    python bench/search.py --patients 2000 --encounters 10000 --documents 4000 --requests 100
    python bench/search.py --keep              # keep the data in --data-dir; reruns skip seeding
    python bench/search.py --keep --total none # the server does not count matches (_total=none)

Prints per query the server's and raw PyMongo's p50/p95/p99 latency (ms) and requests/second
at the same concurrency, their p50 ratio, and the average entries per request of each.
"""

import argparse
import asyncio
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import quote

import httpx
from pymongo import MongoClient

from examples.generator import HISTORY_START, Generator
from fhir_server.conformance.registry import RESOURCE_TYPES
from fhir_server.embedded_mongo import EmbeddedMongo
from fhir_server.search import paging
from fhir_server.search.compiler import Compiler
from fhir_server.search.index import index_keys
from fhir_server.search.request import SearchRequest, parse_query, parse_request
from fhir_server.search.types.reference import local_references
from fhir_server.search.types.string import fold
from fhir_server.services.versions import Version, stamp, storage_documents
from fhir_server.storage.database import Database

CHUNK_PATIENTS = 1000  # patients (with their encounters and documents) per seeding job
KEEP_DIR = Path(tempfile.gettempdir()) / "fhir-bench-search"
SEEDED_FLAG = "bench_search_seeded"
PAGES = 20  # deep paging: pages followed through `next` links per walk
DEFAULT_COUNT, MAX_COUNT, MAX_INCLUDED = 50, 1000, 1000  # as the server's defaults
Timings = list[tuple[float, int]]  # (seconds, entries) of each request a call made


# -- seeding ---------------------------------------------------------------------------------

def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _insert(db, resources: list[dict], now: datetime) -> None:
    """Store version 1 of each resource (which has its id) as the server would."""
    batches: dict[str, tuple[list, list]] = {}
    for resource in resources:
        kind, resource_id = resource["resourceType"], resource["id"]
        version = Version(kind, resource_id, 1, now, stamp(resource, resource_id, 1, now), "POST")
        for batch, document in zip(batches.setdefault(kind, ([], [])), storage_documents(version),
                                   strict=True):
            batch.append(document)
    for kind, (current, history) in batches.items():
        db[kind].insert_many(current, ordered=False)
        db[f"{kind}_history"].insert_many(history, ordered=False)


def _chunk_resources(seed: int, chunk: int, patients: int, encounters: int, documents: int,
                     staff: list[tuple[str, str]]) -> list[dict]:
    """Patients, encounters of random ones of them, and notes of random ones of those."""
    generator = Generator(seed * 1_000_003 + chunk)
    rng = generator.rng
    people = []
    for _ in range(patients):
        practitioner, organization = rng.choice(staff)
        people.append((generator.patient(organization) | {"id": _new_id(rng)}, practitioner,
                       organization))
    visits = []
    for _ in range(encounters):
        patient, practitioner, organization = rng.choice(people)
        earliest = max(date.fromisoformat(patient["birthDate"]), HISTORY_START)
        visits.append(generator.encounter(f"Patient/{patient['id']}", practitioner, organization,
                                          earliest=earliest) | {"id": _new_id(rng)})
    notes = []
    for _ in range(documents):
        visit = rng.choice(visits)
        notes.append(generator.document_reference(
            visit["subject"]["reference"], f"Encounter/{visit['id']}",
            visit["participant"][0]["individual"]["reference"], encounter=visit,
        ) | {"id": _new_id(rng)})
    return [patient for patient, *_ in people] + visits + notes


def _seed_chunk(job: tuple) -> int:
    """Worker process: generate, index and insert one chunk; returns its resource count."""
    uri, name, now, *chunk = job
    resources = _chunk_resources(*chunk)
    with MongoClient(uri, tz_aware=True, uuidRepresentation="standard") as client:
        _insert(client[name], resources, now)
    return len(resources)


def _staff(seed: int) -> tuple[list[dict], list[tuple[str, str]]]:
    """The generator's organizations and practitioners with ids, and the (practitioner,
    organization) reference pairs that care for the patients."""
    generator, rng = Generator(seed), random.Random(seed)
    organizations = [e["resource"] | {"id": _new_id(rng)} for e in generator.organization_entries]
    practitioners = [e["resource"] | {"id": _new_id(rng)} for e in generator.practitioner_entries]
    pairs = [(f"Practitioner/{p['id']}", f"Organization/{organizations[i % 3]['id']}")
             for i, p in enumerate(practitioners)]
    return organizations + practitioners, pairs


def _jobs(uri: str, name: str, sizes: tuple[int, int, int], seed: int, staff: list) -> list:
    """One job per CHUNK_PATIENTS patients, with their share of encounters and documents."""
    patients, now, jobs = sizes[0], datetime.now(UTC).replace(microsecond=0), []
    for chunk, start in enumerate(range(0, patients, CHUNK_PATIENTS)):
        stop = min(patients, start + CHUNK_PATIENTS)
        shares = [n * stop // patients - n * start // patients for n in sizes[1:]]
        jobs.append((uri, name, now, seed, chunk, stop - start, *shares, staff))
    return jobs


def seed_database(uri: str, name: str, sizes: tuple[int, int, int], seed: int) -> None:
    """A fresh database: resources inserted by parallel workers, then every search index."""
    started = time.perf_counter()
    staff, pairs = _staff(seed)
    with MongoClient(uri, tz_aware=True) as client:
        client.drop_database(name)
        _insert(client[name], staff, datetime.now(UTC))
    jobs, done, total = _jobs(uri, name, sizes, seed, pairs), 0, sum(sizes)
    with get_context("spawn").Pool(os.cpu_count()) as pool:
        for count in pool.imap_unordered(_seed_chunk, jobs):
            if (done + count) * 10 // total > done * 10 // total:
                print(f"  {done + count:,} resources, "
                      f"{(done + count) / (time.perf_counter() - started):,.0f}/s", flush=True)
            done += count
    inserted = time.perf_counter() - started
    asyncio.run(_create_indexes(uri, name))
    print(f"  generated and inserted in {inserted:.0f} s, "
          f"indexes built in {time.perf_counter() - started - inserted:.0f} s")
    with MongoClient(uri) as client:
        client[name]["server_settings"].insert_one({"_id": SEEDED_FLAG})


async def _create_indexes(uri: str, name: str) -> None:
    database = Database(uri, name, {kind: index_keys(kind) for kind in RESOURCE_TYPES})
    try:
        await database.prepare()
    finally:
        await database.close()


def is_seeded(uri: str, name: str, sizes: tuple[int, int, int]) -> bool:
    with MongoClient(uri) as client:
        db = client[name]
        counts = tuple(db[kind].estimated_document_count()
                       for kind in ("Patient", "Encounter", "DocumentReference"))
        return counts == sizes and db["server_settings"].find_one({"_id": SEEDED_FLAG}) is not None


# -- the query mix: FHIR URL templates filled with values sampled from the data --------------

QUERIES = [
    ("identifier", "Patient?identifier={identifier}"),
    ("name prefix", "Patient?name={name_prefix}"),
    ("family", "Patient?family={family}"),
    ("encounters in year",
     "Encounter?patient={patient}&date=ge{year}-01-01&date=lt{next_year}-01-01"),
    ("documents by type", "DocumentReference?type=http://loinc.org|{note_type}&_count=20"),
    ("chain", "Encounter?subject:Patient.identifier={identifier}"),
    ("_include", "Encounter?patient={patient}&_include=Encounter:subject"),
    ("_revinclude", "Patient?identifier={identifier}&_revinclude=Encounter:subject"),
    ("_sort=-date", "Encounter?patient={patient}&_sort=-date"),
]
DEEP_PAGING = "Encounter?class=AMB&_count=50"  # `next` links followed PAGES pages deep


def template_values(patient: dict, encounter: dict, document: dict, i: int) -> dict[str, str]:
    """URL-encoded values for the templates: alternately the CCCD or BHYT number, the
    first letters of the family or given name without diacritics (as users type them), a
    patient with encounters and the year of one of them, a note type in use."""
    identifier, name = patient["identifier"][i % 2], patient["name"][0]
    year = int(encounter["period"]["start"][:4])
    values = {
        "identifier": f"{identifier['system']}|{identifier['value']}",
        "name_prefix": fold(name["family"] if i % 2 else name["given"][-1])[:3],
        "family": name["family"],
        "patient": encounter["subject"]["reference"],
        "year": str(year),
        "next_year": str(year + 1),
        "note_type": document["type"]["coding"][0]["code"],
    }
    return {key: quote(value, safe="/") for key, value in values.items()}


async def sample_resources(db, size: int) -> list[tuple[dict, dict, dict]]:
    """`size` random (Patient, Encounter, DocumentReference) resources."""
    samples = []
    for kind in ("Patient", "Encounter", "DocumentReference"):
        cursor = await db[kind].aggregate([{"$sample": {"size": size}}])
        samples.append([document["resource"] for document in await cursor.to_list()])
    return list(zip(*samples, strict=False))


# -- the raw PyMongo baseline ----------------------------------------------------------------

@dataclass
class Plan:
    """The MongoDB queries of one search, as the server compiles them."""

    kind: str
    subqueries: list[tuple[str, dict, list[str], int]]  # of chains: type, filter, fields, limit
    filter: dict
    sort: list[tuple[str, int]]
    limit: int
    request: SearchRequest


async def _find(db, kind: str, query: dict, limit: int, projection: list[str] | None = None,
                sort: list[tuple[str, int]] | None = None) -> list[dict]:
    """What ResourceStore.find sends: current, non-deleted documents in sort order."""
    cursor = db[kind].find({**query, "deleted": False}, projection)
    return await cursor.sort(sort or [("_id", 1)]).limit(limit).to_list()


async def make_plan(db, base: str, url: str) -> Plan:
    """Compile `Type?query` with the server's compiler, recording the sub-queries of chains."""
    kind, _, query_string = url.partition("?")
    request, subqueries = parse_request(kind, parse_query(query_string), MAX_COUNT), []

    async def lookup(target: str, query: dict, fields: list[str], limit: int) -> list[dict]:
        subqueries.append((target, query, fields, limit))
        return await _find(db, target, query, limit, fields)

    query, _ = await Compiler(lookup, base).compile(kind, request.criteria, strict=True)
    count = DEFAULT_COUNT if request.count is None else request.count
    return Plan(kind, subqueries, query, paging.sort_fields(request.sort), count + 1, request)


async def _raw_included(db, plan: Plan, matches: list[dict]) -> int:
    """`_include` and `_revinclude`: the second query the server runs for each."""
    included = 0
    for rule in plan.request.includes:
        wanted: dict[str, set[str]] = {}
        for document in matches:
            for target, target_id in local_references(document["search"][rule.code]):
                if target in RESOURCE_TYPES and rule.target_type in (None, target):
                    wanted.setdefault(target, set()).add(target_id)
        for target, ids in wanted.items():
            query = {"_id": {"$in": sorted(ids)}}
            included += len(await _find(db, target, query, MAX_INCLUDED))
    for rule in plan.request.revincludes:
        targets = [f"{plan.kind}/{document['_id']}" for document in matches]
        query = {"$or": [{f"search.{rule.code}": {"$in": targets}}]}
        included += len(await _find(db, rule.source_type, query, MAX_INCLUDED))
    return included


async def raw_search(db, plan: Plan, pages: int) -> Timings:
    """The search's queries, then the next pages: each keyset page starts after the last
    row of the previous one, as the server's `next` links do."""
    timings, query, started = [], plan.filter, time.perf_counter()
    for kind, subquery, fields, limit in plan.subqueries:
        await _find(db, kind, subquery, limit, fields)
    while len(timings) < pages:
        documents = await _find(db, plan.kind, query, plan.limit, sort=plan.sort)
        matches = documents[: plan.limit - 1]
        entries = len(matches) + await _raw_included(db, plan, matches)
        timings.append((time.perf_counter() - started, entries))
        if len(documents) < plan.limit:
            break
        position, started = paging.position(matches[-1], plan.sort), time.perf_counter()
        query = {"$and": [plan.filter, paging.after(plan.sort, position)]}
    return timings


# -- the server ------------------------------------------------------------------------------

def start_server(uri: str, database: str, data_dir: Path) -> tuple[subprocess.Popen, str]:
    """`fhir-server serve` in its own process, so the load generator does not share its GIL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "FHIR_MONGODB_URI": uri, "FHIR_DATABASE": database,
           "FHIR_DATA_DIR": str(data_dir), "FHIR_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, deadline = f"http://127.0.0.1:{port}/fhir", time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/metadata").status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


async def server_search(client: httpx.AsyncClient, url: str | None, pages: int) -> Timings:
    """GET the URL, then follow `next` links for up to `pages` pages in all."""
    timings = []
    while url is not None and len(timings) < pages:
        started = time.perf_counter()
        response = await client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:500]}")
        bundle = response.json()
        timings.append((time.perf_counter() - started, len(bundle.get("entry", []))))
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return timings


# -- measuring and reporting -----------------------------------------------------------------

async def measure(calls: list[Callable[[], Awaitable[Timings]]], concurrency: int
                  ) -> tuple[list[Timings], float]:
    """Run the calls, `concurrency` at a time: their timings and the wall-clock seconds."""
    pending, results, started = iter(calls), [], time.perf_counter()

    async def worker() -> None:
        for call in pending:
            results.append(await call())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.perf_counter() - started


async def compare(client, db, base: str, urls: list[str], concurrency: int, pages: int = 1
                  ) -> list[tuple[list[Timings], float]]:
    """Server and raw timings of the searches (raw runs them once before, to warm up)."""
    plans = [await make_plan(db, base, url) for url in urls]
    raw_calls = [partial(raw_search, db, plan, pages) for plan in plans]
    await measure(raw_calls, concurrency)
    server = await measure([partial(server_search, client, f"{base}/{url}", pages)
                            for url in urls], concurrency)
    return [server, await measure(raw_calls, concurrency)]


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _summary(results: tuple[list[Timings], float]) -> tuple[float, ...]:
    """p50, p95, p99 (ms), requests/second, average entries per request."""
    timings = [timing for call in results[0] for timing in call]
    latencies = [1000 * seconds for seconds, _ in timings]
    return (*(_percentile(latencies, p) for p in (50, 95, 99)), len(timings) / results[1],
            sum(entries for _, entries in timings) / len(timings))


HEADER = (f"{'':<20}{'server (HTTP)':^32} |{'raw PyMongo':^32} |\n{'query':<20}"
          + f"{'p50':>8}{'p95':>8}{'p99':>8}{'req/s':>8} |" * 2
          + f"{'ratio':>7}{'entries':>9}{'raw':>7}")


def print_row(label: str, server: tuple, raw: tuple) -> None:
    columns = [_summary(server), _summary(raw)]
    cells = "".join("".join(f"{v:>8.2f}" for v in c[:3]) + f"{c[3]:>8.0f} |" for c in columns)
    ratio = columns[0][0] / columns[1][0]
    print(f"{label:<20}{cells}{ratio:>7.1f}{columns[0][4]:>9.1f}{columns[1][4]:>7.1f}", flush=True)


def print_pages(server: tuple, raw: tuple) -> None:
    """p50 of each page depth of the deep-paging walks."""
    print(f"{'page':>4}{'server':>9}{'raw':>9}")
    for page in range(PAGES):
        depth = [[call[page][0] for call in results[0] if len(call) > page]
                 for results in (server, raw)]
        if all(depth):
            print(f"{page + 1:>4}" + "".join(f"{1000 * _percentile(d, 50):>9.2f}" for d in depth))


async def benchmark(uri: str, name: str, base: str, args: argparse.Namespace) -> None:
    database = Database(uri, name, {})
    total = f"&_total={args.total}" if args.total else ""
    samples = await sample_resources(database.db, args.requests)
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        print(f"\n{args.requests} requests per query, concurrency {args.concurrency}, ms; "
              f"ratio = server p50 / raw p50; entries = average per request\n{HEADER}")
        for label, template in QUERIES:
            urls = [template.format(**template_values(*sample, i)) + total
                    for i, sample in enumerate(samples)]
            print_row(label, *await compare(client, database.db, base, urls, args.concurrency))
        walks = [DEEP_PAGING + total] * max(1, args.requests // PAGES)
        results = await compare(client, database.db, base, walks, args.concurrency, PAGES)
    print_row(f"deep paging ({PAGES} p.)", *results)
    print(f"\n{walks[0]}: {len(walks)} walks of {PAGES} pages, p50 ms per page")
    print_pages(*results)
    await database.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--encounters", type=int, default=500_000)
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200, help="per query")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--total", choices=("none", "estimate", "accurate"),
                        help="add _total=... to every server request (default: none sent)")
    parser.add_argument("--mongodb-uri", default=os.environ.get("FHIR_MONGODB_URI"))
    parser.add_argument("--keep", action="store_true",
                        help="keep the database, and reuse it if already seeded at these sizes")
    parser.add_argument("--data-dir", type=Path,
                        help=f"embedded mongod files (default: a temp dir; {KEEP_DIR} with --keep)")
    args = parser.parse_args()
    if args.patients < 1 or args.encounters < 1 or args.requests < 1:
        parser.error("--patients, --encounters and --requests must be positive")
    return args


def main() -> None:
    args = parse_args()
    sizes = (args.patients, args.encounters, args.documents)
    temporary = args.data_dir is None and not args.keep
    data_dir = args.data_dir or (KEEP_DIR if args.keep else Path(tempfile.mkdtemp(prefix="bs-")))
    name = "bench_search_{}_{}_{}_{}".format(*sizes, args.seed)
    mongo, server, uri = None, None, args.mongodb_uri
    if uri is None:
        mongo = EmbeddedMongo(data_dir)
        uri = mongo.start()
    try:
        if args.keep and is_seeded(uri, name, sizes):
            print(f"reusing the seeded database {name}")
        else:
            print("seeding {}: {:,} patients, {:,} encounters, {:,} documents".format(name, *sizes))
            started = time.perf_counter()
            seed_database(uri, name, sizes, args.seed)
            print(f"seeding took {time.perf_counter() - started:.0f} s")
        server, base = start_server(uri, name, data_dir)
        asyncio.run(benchmark(uri, name, base, args))
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        if args.mongodb_uri and not args.keep:
            with MongoClient(uri) as client:
                client.drop_database(name)
        if mongo is not None:
            mongo.stop()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
