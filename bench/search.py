"""Search benchmark: a seeded data set of synthetic Vietnamese patients, encounters and
documents, searched through the HTTP API next to the same MongoDB queries sent directly with
PyMongo (the server's own compiled filter, sort and limit), in the same run on the same mongod.

    python bench/search.py                     # 100,000 patients, 500,000 encounters, 200,000 docs
    python bench/search.py --patients 2000 --encounters 10000 --documents 4000 --requests 100
    python bench/search.py --keep              # keep the data; reruns skip seeding
    python bench/search.py --keep --total none # the server does not count matches (_total=none)
    python bench/search.py --keep --workers 2  # two server processes (`serve --workers`)

Prints per query the server's and raw PyMongo's p50/p95/p99 latency (ms) and requests/second
at the same concurrency, their p50 ratio, and the average entries per request of each.
"""

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import quote

import orjson
from bench_server import bearer, running_server
from lean_http import LeanClient
from pymongo import MongoClient

from examples.generator import HISTORY_START, STAFF_HOSPITALS, Generator
from fhir_server.conformance.registry import is_supported
from fhir_server.embedded_mongo import EmbeddedMongo
from fhir_server.search import paging
from fhir_server.search.compiler import Compiler
from fhir_server.search.index import index_plan, index_version
from fhir_server.search.request import SearchRequest, parse_query, parse_request
from fhir_server.search.types.reference import local_references
from fhir_server.search.types.string import fold
from fhir_server.services.search import ResponseLimits
from fhir_server.services.versions import Version, stamp, storage_documents
from fhir_server.storage.database import Database
from fhir_server.storage.records import CurrentVersion

CHUNK_PATIENTS = 1000  # patients (with their encounters and documents) per seeding job
KEEP_DIR = Path(tempfile.gettempdir()) / "fhir-bench-search"
PAGES = 20  # deep paging: pages followed through `next` links per walk
DEFAULT_COUNT, MAX_COUNT = 50, 1000  # the server's default settings
SAMPLED_TYPES = ("Patient", "Encounter", "DocumentReference")
Timings = list[tuple[float, int]]  # (seconds, entries) of each request a call made


def _with_id(resource: dict, rng: random.Random) -> dict:
    return resource | {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}


def _insert(db, resources: list[dict], now: datetime) -> None:
    """Store version 1 of each resource (which has its id) as the server would."""
    stored: dict[str, list[tuple[dict, dict]]] = {}
    for r in resources:
        version = Version(r["resourceType"], r["id"], 1, now, stamp(r, r["id"], 1, now), "POST")
        stored.setdefault(version.resource_type, []).append(storage_documents(version))
    for kind, documents in stored.items():
        db[kind].insert_many([current for current, _ in documents], ordered=False)
        db[f"{kind}_history"].insert_many([history for _, history in documents], ordered=False)


def _chunk_resources(seed: int, chunk: int, patients: int, encounters: int, documents: int,
                     staff: list[tuple[str, str]]) -> list[dict]:
    """Patients, encounters of random ones of them, and notes of random ones of those."""
    generator = Generator(seed * 1_000_003 + chunk)
    rng = generator.rng
    people = [(_with_id(generator.patient(organization), rng), practitioner, organization)
              for practitioner, organization in (rng.choice(staff) for _ in range(patients))]
    visits = []
    for _ in range(encounters):
        patient, practitioner, organization = rng.choice(people)
        earliest = max(date.fromisoformat(patient["birthDate"]), HISTORY_START)
        visits.append(_with_id(generator.encounter(
            f"Patient/{patient['id']}", practitioner, organization, earliest=earliest), rng))
    notes = [_with_id(generator.document_reference(
        visit["subject"]["reference"], f"Encounter/{visit['id']}",
        visit["participant"][0]["individual"]["reference"], encounter=visit), rng)
        for visit in (rng.choice(visits) for _ in range(documents))]
    return [patient for patient, *_ in people] + visits + notes


def _seed_chunk(job: tuple) -> int:
    """Worker process: generate, index and insert one chunk; returns its resource count."""
    uri, name, now, *chunk = job
    resources = _chunk_resources(*chunk)
    with MongoClient(uri, tz_aware=True, uuidRepresentation="standard") as client:
        _insert(client[name], resources, now)
    return len(resources)


def _staff(seed: int) -> tuple[list[dict], list[tuple[str, str]]]:
    """The generator's staff with ids, and the (practitioner, organization) references."""
    generator, rng = Generator(seed), random.Random(seed)
    staff = [_with_id(entry["resource"], rng)
             for entry in generator.organization_entries + generator.practitioner_entries]
    organizations, practitioners = staff[:STAFF_HOSPITALS], staff[STAFF_HOSPITALS:]
    pairs = [(p, organizations[i % STAFF_HOSPITALS]) for i, p in enumerate(practitioners)]
    return staff, [(f"Practitioner/{p['id']}", f"Organization/{o['id']}") for p, o in pairs]


def seed_database(uri: str, name: str, sizes: tuple[int, int, int], seed: int) -> None:
    """A fresh database: chunks of CHUNK_PATIENTS patients with their share of encounters and
    documents, generated and inserted by parallel workers; then every search index."""
    print("seeding {}: {:,} patients, {:,} encounters, {:,} documents".format(name, *sizes))
    started, now = time.perf_counter(), datetime.now(UTC).replace(microsecond=0)
    staff, pairs = _staff(seed)
    with MongoClient(uri, tz_aware=True) as client:
        client.drop_database(name)
        _insert(client[name], staff, now)
    jobs, patients, done = [], sizes[0], 0
    for chunk, start in enumerate(range(0, patients, CHUNK_PATIENTS)):
        stop = min(patients, start + CHUNK_PATIENTS)
        shares = [n * stop // patients - n * start // patients for n in sizes[1:]]
        jobs.append((uri, name, now, seed, chunk, stop - start, *shares, pairs))
    with get_context("spawn").Pool(os.cpu_count()) as pool:
        for count in pool.imap_unordered(_seed_chunk, jobs):
            done += count
            if done * 10 // sum(sizes) > (done - count) * 10 // sum(sizes):
                print(f"  {done:,} resources, {done / (time.perf_counter() - started):,.0f}/s")
    inserted = time.perf_counter() - started
    asyncio.run(_create_indexes(uri, name))
    print(f"seeding took {time.perf_counter() - started:.0f} s: generated and inserted in "
          f"{inserted:.0f} s, indexes built in {time.perf_counter() - started - inserted:.0f} s")


async def _create_indexes(uri: str, name: str) -> None:
    database = Database(uri, name, index_plan)
    await database.prepare()
    await database.close()


def is_seeded(uri: str, name: str, sizes: tuple[int, int, int]) -> bool:
    """Whether the database has these numbers of resources indexed by this code (else the server
    re-indexes them in the background); server start-up creates any missing MongoDB index."""
    with MongoClient(uri) as client:
        db = client[name]
        return all(db[kind].estimated_document_count() == size
                   and (db[kind].find_one({}, ["indexVersion"]) or {}).get("indexVersion")
                   == index_version() for kind, size in zip(SAMPLED_TYPES, sizes, strict=True))


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
    values = dict(identifier=f"{identifier['system']}|{identifier['value']}", family=name["family"],
                  name_prefix=fold(name["family"] if i % 2 else name["given"][-1])[:3],
                  patient=encounter["subject"]["reference"], year=year, next_year=year + 1,
                  note_type=document["type"]["coding"][0]["code"])
    return {key: quote(str(value), safe="/") for key, value in values.items()}


async def sample_resources(db, size: int) -> list[tuple[dict, dict, dict]]:
    """`size` random (Patient, Encounter, DocumentReference) resources."""
    cursors = [await db[kind].aggregate([{"$sample": {"size": size}}]) for kind in SAMPLED_TYPES]
    samples = [[document["resource"] for document in await c.to_list()] for c in cursors]
    return list(zip(*samples, strict=False))


@dataclass
class Plan:
    """The MongoDB queries of one search, as the server compiles them."""
    subqueries: list[tuple[str, dict, list[str], int]]  # of chains: type, filter, fields, limit
    filter: dict
    sort: list[tuple[str, int]]
    limit: int
    request: SearchRequest
    base: str


async def _find(db, kind: str, query: dict, limit: int, projection: list[str] | None = None,
                sort: list[tuple[str, int]] | None = None) -> list[dict]:
    """What ResourceStore.find sends: current, non-deleted documents in sort order."""
    cursor = db[kind].find({**query, "deleted": False}, projection)
    return await cursor.sort(sort or [("_id", 1)]).limit(limit).to_list()


async def make_plan(db, base: str, url: str) -> Plan:
    """Compile `Type?query` with the server's compiler, recording the sub-queries of chains."""
    kind, _, query_string = url.partition("?")
    request, subqueries = parse_request(kind, parse_query(query_string), MAX_COUNT), []

    async def lookup(target: str, query: dict, fields: list[str],
                     limit: int) -> list[CurrentVersion]:
        subqueries.append((target, query, fields, limit))
        found = await _find(db, target, query, limit, fields)
        return [CurrentVersion.from_document(document) for document in found]
    query, _ = await Compiler(lookup, base).compile(kind, request.criteria, strict=True)
    count = DEFAULT_COUNT if request.count is None else request.count
    return Plan(subqueries, query, paging.sort_fields(request.sort), count + 1, request, base)


async def _raw_included(db, plan: Plan, matches: list[dict]) -> int:
    """`_include` and `_revinclude`: the second query the server runs for each (references
    are relative or absolute with the server's base URL)."""
    included = 0
    for rule in plan.request.includes:
        found = {(kind, id_) for document in matches
                 for kind, id_ in local_references(document["search"].get(rule.code, []), plan.base)
                 if is_supported(kind) and rule.target_type in (None, kind)}
        for target in {kind for kind, _ in found}:
            query = {"_id": {"$in": sorted(id_ for kind, id_ in found if kind == target)}}
            included += len(await _find(db, target, query, ResponseLimits().max_resources))
    for rule in plan.request.revincludes:
        targets = [f"{plan.request.resource_type}/{document['_id']}" for document in matches]
        targets += [f"{plan.base}/{target}" for target in targets]
        query = {"$or": [{f"search.{rule.code}": {"$in": targets}}]}
        included += len(await _find(db, rule.source_type, query, ResponseLimits().max_resources))
    return included


async def raw_search(db, plan: Plan, pages: int) -> Timings:
    """The search's queries, then keyset pages after the previous page's last row (`next`)."""
    timings, query, started = [], plan.filter, time.perf_counter()
    for kind, subquery, fields, limit in plan.subqueries:
        await _find(db, kind, subquery, limit, fields)
    while len(timings) < pages:
        documents = await _find(db, plan.request.resource_type, query, plan.limit, sort=plan.sort)
        matches = documents[: plan.limit - 1]
        entries = len(matches) + await _raw_included(db, plan, matches)
        timings.append((time.perf_counter() - started, entries))
        if len(documents) < plan.limit:
            break
        last = CurrentVersion.from_document(matches[-1])  # the record paging reads
        position, started = paging.position(last, plan.sort), time.perf_counter()
        query = {"$and": [plan.filter, paging.after(plan.sort, position)]}
    return timings


async def server_search(client: LeanClient, url: str | None, pages: int) -> Timings:
    """GET the URL, then follow `next` links for up to `pages` pages in all."""
    timings = []
    while url is not None and len(timings) < pages:
        started = time.perf_counter()
        status, body = await client.get(url)
        if status != 200:
            raise RuntimeError(f"GET {url}: {status} {body[:500]!r}")
        bundle = orjson.loads(body)
        timings.append((time.perf_counter() - started, len(bundle.get("entry", []))))
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return timings


async def measure(calls: list[Callable[[], Awaitable[Timings]]], concurrency: int) -> tuple:
    """Run the calls, `concurrency` at a time: their timings and the wall-clock seconds."""
    pending, results, started = iter(calls), [], time.perf_counter()
    async def worker() -> None:
        for call in pending:
            results.append(await call())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.perf_counter() - started


async def compare(client, db, base: str, urls: list[str], concurrency: int, pages: int = 1) -> list:
    """Server and raw timings of the searches; each side runs them once before, to warm up
    (MongoDB's cache, and the server's: a worker's first search of a type compiles its
    search parameters)."""
    plans = [await make_plan(db, base, url) for url in urls]
    raw_calls = [partial(raw_search, db, plan, pages) for plan in plans]
    server_calls = [partial(server_search, client, f"{base}/{url}", pages) for url in urls]
    await measure(raw_calls, concurrency)
    await measure(server_calls, concurrency)
    server = await measure(server_calls, concurrency)
    return [server, await measure(raw_calls, concurrency)]


def _percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    return sorted(values)[max(0, -int(-p * len(values) // 100) - 1)]


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
    print(f"{label:<20}{cells}{columns[0][0] / columns[1][0]:>7.1f}{columns[0][4]:>9.1f}"
          f"{columns[1][4]:>7.1f}", flush=True)


async def benchmark(uri: str, name: str, base: str, args: argparse.Namespace) -> None:
    database = Database(uri, name, index_plan)
    total = f"&_total={args.total}" if args.total else ""
    samples = await sample_resources(database.db, args.requests)
    client = LeanClient(base, bearer(), args.concurrency)
    try:
        print(f"\n{args.requests} requests per query, concurrency {args.concurrency}, ms; "
              f"ratio = server p50 / raw p50; entries = average per request\n{HEADER}")
        for label, template in QUERIES:
            urls = [template.format(**template_values(*sample, i)) + total
                    for i, sample in enumerate(samples)]
            print_row(label, *await compare(client, database.db, base, urls, args.concurrency))
        walks = [DEEP_PAGING + total] * max(1, args.requests // PAGES)
        results = await compare(client, database.db, base, walks, args.concurrency, PAGES)
    finally:
        await client.aclose()
    print_row(f"deep paging ({PAGES} p.)", *results)
    print(f"\n{walks[0]}: {len(walks)} walks of {PAGES} pages, p50 ms per page\n"
          f"{'page':>4}{'server':>9}{'raw':>9}")
    for page in range(PAGES):
        depth = [[call[page][0] for call in result[0] if len(call) > page] for result in results]
        if all(depth):
            print(f"{page + 1:>4}" + "".join(f"{1000 * _percentile(d, 50):>9.2f}" for d in depth))
    await database.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for option, default in (("patients", 100_000), ("encounters", 500_000), ("documents", 200_000),
                            ("requests", 200), ("concurrency", 8), ("seed", 1),
                            ("workers", 1)):
        parser.add_argument(f"--{option}", type=int, default=default)
    parser.add_argument("--total", choices=("none", "estimate", "accurate"),
                        help="add _total=... to every server request (default: none sent)")
    parser.add_argument("--mongodb-uri", default=os.environ.get("FHIR_MONGODB_URI"))
    parser.add_argument("--keep", action="store_true", help="keep the database (embedded: in "
                        f"{KEEP_DIR}) and reuse it if already seeded at these sizes")
    args = parser.parse_args()
    if min(args.patients, args.encounters, args.requests, args.workers) < 1:
        parser.error("--patients, --encounters, --requests and --workers must be positive")
    return args


@contextmanager
def seeded_mongo(args: argparse.Namespace, name: str, sizes: tuple[int, int, int]):
    """The URI of a mongod holding the seeded database `name`: the embedded one unless
    `--mongodb-uri`, kept (in KEEP_DIR) and reused with `--keep`, else removed after."""
    mongo, uri = None, args.mongodb_uri
    if uri is None:
        mongo = EmbeddedMongo(KEEP_DIR if args.keep else Path(tempfile.mkdtemp(prefix="bs-")))
        uri = mongo.start()
    try:
        if args.keep and is_seeded(uri, name, sizes):
            print(f"reusing the seeded database {name}")
        else:
            seed_database(uri, name, sizes, args.seed)
        yield uri
    finally:
        if args.mongodb_uri and not args.keep:
            with MongoClient(uri) as client:
                client.drop_database(name)
        if mongo is not None:
            mongo.stop()
            if not args.keep:
                shutil.rmtree(mongo.db_path.parent, ignore_errors=True)


def main() -> None:
    args = parse_args()
    sizes = (args.patients, args.encounters, args.documents)
    name = "bench_search_{}_{}_{}_{}".format(*sizes, args.seed)
    with (seeded_mongo(args, name, sizes) as uri,
          running_server(uri, name, workers=args.workers) as (_, base)):
        asyncio.run(benchmark(uri, name, base, args))


if __name__ == "__main__":
    main()
