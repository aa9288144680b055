"""Validation cost: Patients per second parsed (`json.loads`, the floor), validated against
the base R4 definitions, and validated against the VN Core Patient profile as well, in one
process; then the write path, `POST /Patient` through HTTP (seal-signed) on a server without
and with `FHIR_REQUIRED_PROFILES` requiring VN Core for Patients, next to a raw PyMongo
`insert_one` of the same resources on the same mongod, in the same run.

    python bench/validate.py --patients 400 --concurrency 4

The Patients are the generator's (examples/generator.py) with their identifiers in the
Ministry of Health's systems, so that VN Core's identifier slices (CCCD, BHYT, patient number)
match and their fixed values are checked.
"""

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from bench_server import post_all, running_server
from pymongo import MongoClient

from examples.generator import Generator
from fhir_server.conformance.validation import validation_issues
from fhir_server.embedded_mongo import EmbeddedMongo

VN_CORE_PATIENT = "http://fhir.ehealth.gov.vn/core/StructureDefinition/vn-core-patient"
_SID = "http://fhir.ehealth.gov.vn/core/sid/"
_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
# The generator's identifier systems → VN Core's slices: (system, use, type code, display).
_VN_CORE_SLICES = {
    "http://fhir.hl7.org.vn/core/sid/cccd": (
        _SID + "national_id", "official", "NI", "National unique individual identifier"),
    "http://fhir.hl7.org.vn/core/sid/bhyt": (
        _SID + "insurance_number", "official", "SB", "Social Beneficiary Identifier"),
    "http://benhvien-demo.vn/fhir/sid/mrn": (
        _SID + "patient-internal-id", "secondary", "PI", "Patient internal identifier"),
}


def vn_core_patients(count: int, seed: int) -> list[dict]:
    generator, patients = Generator(seed), []
    for _ in range(count):
        patient = generator.patient()
        for identifier in patient["identifier"]:
            system, use, code, display = _VN_CORE_SLICES[identifier["system"]]
            identifier.update(system=system, use=use, type={
                "coding": [{"system": _V2_0203, "code": code, "display": display}]})
        patients.append(patient)
    return patients


def _rate(label: str, count: int, seconds: float, floor: float | None = None) -> None:
    ratio = f"   {seconds / floor:6.2f}x the time of the line above" if floor else ""
    print(f"  {label:<44} {count / seconds:9.0f} /s{ratio}")


def in_process(patients: list[dict], rounds: int) -> None:
    texts = [json.dumps(patient, ensure_ascii=False) for patient in patients]
    for patient in patients[:5]:  # compile the trees and the profile once
        validation_issues(patient, (VN_CORE_PATIENT,))
    errors = [i for p in patients for i in validation_issues(p, (VN_CORE_PATIENT,))
              if i.severity == "error"]
    if errors:
        raise SystemExit(f"the bench Patients do not conform to VN Core: {errors[0]}")
    timings = {}
    for label, work in (
        ("json.loads", lambda: [json.loads(text) for text in texts]),
        ("json.loads + base R4 validation",
         lambda: [validation_issues(json.loads(text)) for text in texts]),
        ("json.loads + base + VN Core Patient profile",
         lambda: [validation_issues(json.loads(text), (VN_CORE_PATIENT,)) for text in texts]),
    ):
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - started)
        timings[label] = best
    print(f"in process, {len(patients)} Patients, best of {rounds} rounds:")
    previous = None
    for label, seconds in timings.items():
        _rate(label, len(patients), seconds, previous)
        previous = seconds


def raw_insert(mongo_uri: str, patients: list[dict]) -> float:
    with MongoClient(mongo_uri) as client:
        collection = client["bench_validate_raw"]["Patient"]
        collection.drop()
        started = time.perf_counter()
        for patient in patients:
            collection.insert_one({"resource": patient})
        return time.perf_counter() - started


def write_path(uri: str, patients: list[dict], concurrency: int) -> None:
    runs = {
        "POST /Patient, base validation": {},
        "POST /Patient, VN Core required": {
            "FHIR_REQUIRED_PROFILES": json.dumps({"Patient": [VN_CORE_PATIENT]})},
    }
    seconds = {"raw PyMongo insert_one": raw_insert(uri, patients)}
    for number, (label, env) in enumerate(runs.items()):
        data_dir = tempfile.mkdtemp(prefix="bench-validate-data-")
        database = f"bench_validate_{os.getpid()}_{number}"
        with running_server(uri, database, True, data_dir, env) as (_, base):
            asyncio.run(post_all(f"{base}/Patient", patients[:20], concurrency,
                                 expected=201))  # warm up
            seconds[label] = asyncio.run(post_all(f"{base}/Patient", patients[20:],
                                                  concurrency, expected=201))
    count = len(patients) - 20
    print(f"write path, {count} Patients (seal-signed), concurrency {concurrency}:")
    _rate("raw PyMongo insert_one", len(patients), seconds["raw PyMongo insert_one"])
    previous = None
    for label in runs:
        _rate(label, count, seconds[label], previous)
        previous = seconds[label]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mongodb-uri", default=os.environ.get("FHIR_MONGODB_URI"))
    args = parser.parse_args()
    patients = vn_core_patients(args.patients + 20, args.seed)
    in_process(patients, args.rounds)
    mongo, uri = None, args.mongodb_uri
    if uri is None:
        mongo = EmbeddedMongo(Path(tempfile.mkdtemp(prefix="bench-validate-")))
        uri = mongo.start()
    try:
        write_path(uri, patients, args.concurrency)
    finally:
        if mongo is not None:
            mongo.stop()


if __name__ == "__main__":
    main()
