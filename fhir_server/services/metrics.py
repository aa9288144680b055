"""The server's Prometheus metrics outside HTTP: signing latency, bulk export output, and
the gauges read when /metrics is scraped (audit spool, export jobs)."""

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

from fhir_server.services.audit import AuditTrail
from fhir_server.storage.database import DatabaseUnreachable
from fhir_server.storage.export_jobs import (
    CANCELLED,
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    ExportJobStore,
)
from fhir_server.storage.metrics import export_jobs_by_status

SIGNING_SECONDS = Histogram(
    "fhir_signing_seconds",
    "Time to sign the versions of one write: seal (in memory), remote (one request to the "
    "signing service for a person), presigned (a person's signatures fetched earlier).",
    ["signer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EXPORTED_RESOURCES = Counter(
    "fhir_export_resources", "Resources bulk export workers of this process wrote to NDJSON."
)
# Read at scrape time; with PROMETHEUS_MULTIPROC_DIR the scraped process's value counts.
AUDIT_SPOOL_BYTES = Gauge(
    "fhir_audit_spool_undrained_bytes",
    "Bytes of AuditEvents in the local spool not yet stored in MongoDB.",
    multiprocess_mode="mostrecent",
)
EXPORT_JOBS = Gauge(
    "fhir_export_jobs", "Bulk export jobs kept in MongoDB, by status.", ["status"],
    multiprocess_mode="mostrecent",
)
MONGODB_ANSWERED = Gauge(
    "fhir_mongodb_answered_scrape",
    "1 when MongoDB answered the scrape's reading of the export jobs within a second, else 0 "
    "(the fhir_export_jobs then keep the last values read).",
    multiprocess_mode="mostrecent",
)
_STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)
# A scrape is answered within Prometheus's timeout (10 s by default) while MongoDB is down,
# when the metrics matter most.
_JOBS_READ_SECONDS = 1.0


@contextmanager
def signing_latency(signer: str) -> Iterator[None]:
    """Observe how long the block took, unless it raised (e.g. signatures still needed)."""
    started = time.perf_counter()
    yield
    SIGNING_SECONDS.labels(signer).observe(time.perf_counter() - started)


async def read_gauges(audit: AuditTrail | None, jobs: ExportJobStore | None) -> None:
    """Set the gauges that are read from the spool and MongoDB rather than counted."""
    if audit is not None:
        AUDIT_SPOOL_BYTES.set(await asyncio.to_thread(audit.spool.undrained_bytes))
    if jobs is None:
        return
    try:
        counts = await asyncio.wait_for(export_jobs_by_status(jobs), _JOBS_READ_SECONDS)
    except (TimeoutError, DatabaseUnreachable):
        MONGODB_ANSWERED.set(0)
        return
    MONGODB_ANSWERED.set(1)
    for status in _STATUSES:
        EXPORT_JOBS.labels(status).set(counts.get(status, 0))
