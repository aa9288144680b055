"""An export reads its resources without holding the event loop: the driver decoded each
MongoDB batch it read (up to 16 MiB) at once on the loop, and with resources of many small
elements every other request of the process waited for it, even `/health/live` (0.25-0.33 s
a batch on an idle machine, up to 2.7 s on a loaded one). Now a chunk of about 1 MiB at a
time is decoded, in a worker thread."""

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import bson
import httpx
import pytest
from bulk_helpers import manifest, started, stored_directly
from pymongo import MongoClient

# Patients of 1,000 contacts each (40 KB of BSON): 18 MB, more than one batch.
DENSE_PATIENTS = 450
CONTACTS = 1000
BATCH_BYTES = 16 * 1024 * 1024  # MongoDB's most in one reply


@pytest.fixture(scope="module")
def export_settings() -> dict:
    """Checkpoints and files of the server's usual sizes: the export takes two seconds, not five."""
    return {"export_batch_bytes": 4 * 1024 * 1024, "export_file_max_bytes": 64 * 1024 * 1024}


@pytest.fixture(scope="module")
def dense(server) -> list[dict]:
    """Element-dense Patients, stored straight into MongoDB (creating one through the API
    indexes it for seconds). They share their contacts: hundreds of thousands of objects
    held by the tests would make each garbage collection of the process hold it longer."""
    contacts = [{"name": {"family": f"F{n}"}} for n in range(CONTACTS)]
    patients = [{"resourceType": "Patient", "id": str(uuid.uuid4()), "contact": contacts}
                for _ in range(DENSE_PATIENTS)]
    with MongoClient(server.settings.mongodb_uri, tz_aware=True) as mongo:
        stored_directly(mongo[server.settings.database], "Patient", patients)
    return patients


def seconds_to_decode(patient: dict, size: int) -> float:
    """How long decoding `size` bytes of such Patients takes here and now (the machine may be
    loaded): for a batch, how long the event loop was held."""
    document = bson.encode(patient)
    batch = document * (size // len(document))
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        bson.decode_all(batch)
        timings.append(time.perf_counter() - start)
    return min(timings)


@contextmanager
def live_answers(server) -> Iterator[list[tuple[int, float]]]:
    """(status, seconds) of each `GET /health/live`, asked every 10 ms while the block runs."""
    answers: list[tuple[int, float]] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=server.base.removesuffix("/fhir"), timeout=30) as http:
            while not stop.is_set():
                start = time.perf_counter()
                status = http.get("/health/live").status_code
                answers.append((status, time.perf_counter() - start))
                stop.wait(0.01)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        yield answers
    finally:
        stop.set()
        thread.join()


def test_health_is_answered_promptly_while_an_export_reads_element_dense_resources(
        client, server, dense):
    with live_answers(server) as answers:
        body = manifest(client, started(client, params={"_type": "Patient"}))
    assert sum(item["count"] for item in body["output"]) == len(dense)
    assert answers and {status for status, _ in answers} == {200}
    # Before, the longest answer was about a batch's decoding (0.55-1 s here); since, 20-70 ms.
    longest = max(seconds for _, seconds in answers)
    assert longest < seconds_to_decode(dense[0], BATCH_BYTES // 2), sorted(answers)[-3:]
