"""Ingest benchmark: N transaction Bundles through the HTTP API — without signing, signed
by the organisation seal (a backend client) and signed by the person through the CSC signing
service — next to a raw PyMongo insert_many of the same resources (no indexes), and next to
a raw insert_many of the documents the seal-signed server stored (resources, history,
Provenances, AuditEvents) into collections with the same indexes, in the same run on the
same mongod. Two mixes: `patient` (a patient with encounters and documents, the exchange
content) and `clinical` (Patient, Encounter, 10 Observations, 3 Conditions and 2
MedicationRequests, the clinical record).

    python bench/ingest.py --bundles 200 --concurrency 4 --mix clinical
"""

import argparse
import asyncio
import copy
import itertools
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from bench_server import post_all, running_server
from pymongo import MongoClient

from examples.clinical import bulk_data_set
from examples.generator import Generator
from fhir_server.embedded_mongo import EmbeddedMongo

# The clinical mix: how many of each type one transaction holds (besides its Patient).
CLINICAL_MIX = {"Encounter": 1, "Observation": 10, "Condition": 3, "MedicationRequest": 2}


def clinical_bundles(count: int, seed: int) -> list[dict]:
    """Transactions of one new patient's clinical mix: resources of the `examples.clinical`
    data set under new ids, re-pointed at the bundle's patient and encounter."""
    data = bulk_data_set(seed, max(2, count // 4))
    pools = {kind: itertools.cycle(data[kind]) for kind in ("Patient", *CLINICAL_MIX)}
    bundles = []
    for _ in range(count):
        chosen = [copy.deepcopy(next(pools["Patient"]))]
        chosen += [copy.deepcopy(next(pools[kind]))
                   for kind, number in CLINICAL_MIX.items() for _ in range(number)]
        patient, encounter = chosen[0], chosen[1]
        text = json.dumps(chosen[2:])
        for old in (patient, encounter):
            new_id = str(uuid.uuid4())
            text = text.replace(f'"{old["resourceType"]}/{old["id"]}"',
                                f'"{old["resourceType"]}/{new_id}"')
            old["id"] = new_id
        resources = [patient, encounter, *json.loads(text)]
        for resource in resources[2:]:
            resource["id"] = str(uuid.uuid4())
            for key in ("subject", "patient"):
                if key in resource:
                    resource[key] = {"reference": f"Patient/{patient['id']}"}
            if "encounter" in resource:
                resource["encounter"] = {"reference": f"Encounter/{encounter['id']}"}
        bundles.append({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources]})
    return bundles


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


def _resource_collections(db) -> list[str]:
    """The collections of resources and their history (not guards, settings, chains...)."""
    return [name for name in db.list_collection_names()
            if name[:1].isupper() and not name.startswith("system.")]


def written_ids(mongo_uri: str, database: str) -> dict[str, set]:
    """The `_id`s in each resource collection (to leave the demo data out later)."""
    with MongoClient(mongo_uri) as client:
        db = client[database]
        return {name: set(db[name].distinct("_id")) for name in _resource_collections(db)}


def raw_insert_stored(mongo_uri: str, database: str, before: dict[str, set],
                      bundles: int) -> float:
    """The baseline the issue names: raw insert_many of the very documents the server
    stored (resources, history, Provenances, AuditEvents), into collections with the same
    indexes, one insert_many per collection per Bundle's share."""
    with MongoClient(mongo_uri) as client:
        source, target = client[database], client[f"{database}_raw"]
        client.drop_database(target.name)
        documents = {}
        for name in _resource_collections(source):
            documents[name] = [d for d in source[name].find()
                               if d["_id"] not in before.get(name, set())]
            for index in source[name].list_indexes():
                if index["name"] != "_id_":
                    options = {key: index[key] for key in ("unique", "partialFilterExpression",
                                                           "2dsphereIndexVersion") if key in index}
                    target[name].create_index(list(index["key"].items()), name=index["name"],
                                              **options)
        started = time.perf_counter()
        for number in range(bundles):
            for name, stored in documents.items():
                size = len(stored)
                share = stored[number * size // bundles:(number + 1) * size // bundles]
                if share:
                    target[name].insert_many(share)
        return time.perf_counter() - started


def stored_bytes(mongo_uri: str, database: str) -> dict[str, int]:
    """Bytes of BSON documents and of indexes in a database (MongoDB's dbStats), and on
    disk (compressed)."""
    with MongoClient(mongo_uri) as client:
        client.admin.command("fsync")  # a checkpoint: index and disk sizes are read off files
        stats = client[database].command("dbStats")
    return {"documents": int(stats["dataSize"]), "indexes": int(stats["indexSize"]),
            "disk": int(stats["storageSize"] + stats["indexSize"])}


# The seal-signed server's own stored documents, inserted raw with the same indexes.
STORED_BASELINE = "raw insert_many of the stored documents"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mongodb-uri", default=os.environ.get("FHIR_MONGODB_URI"))
    parser.add_argument("--mix", choices=("patient", "clinical"), default="patient")
    args = parser.parse_args()

    if args.mix == "clinical":
        bundles = clinical_bundles(args.bundles, args.seed)
    else:
        generator = Generator(args.seed)
        bundles = [generator.patient_bundle() for _ in range(args.bundles)]
    resources = sum(len(b["entry"]) for b in bundles)
    mongo = None
    uri = args.mongodb_uri
    scratch = Path(tempfile.mkdtemp(prefix="bench-ingest-"))  # removed at the end
    if uri is None:
        mongo = EmbeddedMongo(scratch / "mongo")
        uri = mongo.start()
    runs = {  # label: (sign_writes, person)
        "server, signing off": (False, False),
        "server, seal-signed (backend client)": (True, False),
        "server, person-signed (CSC service)": (True, True),
    }
    seconds = {}
    per_resource: dict[str, dict[str, int]] = {}
    try:
        for number, (label, (sign_writes, person)) in enumerate(runs.items()):
            data_dir = str(scratch / f"data-{number}")
            database = f"bench_ingest_{os.getpid()}_{number}"
            with running_server(uri, database, sign_writes, data_dir) as (_, base):
                before = stored_bytes(uri, database)  # the demo data of --dev
                demo = written_ids(uri, database)
                seconds[label] = asyncio.run(post_all(base, bundles, args.concurrency, person))
                after = stored_bytes(uri, database)
                per_resource[label] = {kind: (after[kind] - before[kind]) // resources
                                       for kind in after}
            if not person and sign_writes:
                seconds[STORED_BASELINE] = raw_insert_stored(uri, database, demo, len(bundles))
        seconds["raw PyMongo insert_many"] = raw_insert(uri, bundles)
    finally:
        if mongo is not None:
            mongo.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"mix={args.mix} bundles={args.bundles} resources={resources} "
          f"concurrency={args.concurrency}")
    raw_rate = resources / seconds["raw PyMongo insert_many"]
    stored_rate = resources / seconds[STORED_BASELINE]
    print(f"{'':<40} {'resources/s':>20}  ratio to raw  to raw stored")
    for label, elapsed in seconds.items():
        rate = resources / elapsed
        print(f"{label:<40} {rate:8.0f} ({elapsed:6.2f} s)  {rate / raw_rate:12.3f}  "
              f"{rate / stored_rate:13.3f}")
    print("stored bytes per resource (documents + indexes, Provenance and AuditEvent included;"
          " disk is compressed):")
    for label, sizes in per_resource.items():
        print(f"{label:<40} {sizes['documents'] + sizes['indexes']:8,d}  "
              f"(documents {sizes['documents']:,d}, indexes {sizes['indexes']:,d}, "
              f"disk {sizes['disk']:,d})")
    unsigned = resources / seconds["server, signing off"]
    for label in list(runs)[1:]:
        print(f"{label}: {resources / seconds[label] / unsigned:.2f} of the unsigned throughput")


if __name__ == "__main__":
    main()
