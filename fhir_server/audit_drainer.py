"""The audit drainer: a process of its own that stores the audit spool's AuditEvents in MongoDB
(services/audit.py), so that building their search indexes, about a quarter of the CPU of a
read by id, is not done by the processes answering requests, and never holds up their event
loops. The primary server process of a data directory starts it (FHIR_AUDIT_DRAIN_PROCESS),
and stops it when it stops itself; it dies with that process. Every server process stands by:
it drains while no drainer does (this one died, or has not started yet), and leaves the spool
to it again after."""

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from multiprocessing.process import BaseProcess

from fhir_server.collector import collector_tuned_for_serving
from fhir_server.settings import Settings

log = logging.getLogger(__name__)
# For its last drain (services/audit.py gives that at most 5 s), then it is killed.
_STOP_SECONDS = 15


def start(settings: Settings) -> BaseProcess:
    """The drainer of `settings` (with its `mongodb_uri`), started. Call it from the thread
    that lives as long as the server: the drainer is killed when that thread ends."""
    process = multiprocessing.get_context("spawn").Process(
        target=_main, args=(settings, os.getpid()), name="fhir-server audit drainer")
    process.start()
    return process


def stop(process: BaseProcess) -> None:
    """SIGTERM: it drains what it can within a few seconds, then exits (blocking)."""
    process.terminate()
    process.join(_STOP_SECONDS)
    if process.is_alive():
        log.error("the audit drainer still ran %s s after SIGTERM: killed", _STOP_SECONDS)
        process.kill()
        process.join()


def _main(settings: Settings, parent: int) -> None:
    from fhir_server.embedded_mongo import die_with_parent

    die_with_parent(signal.SIGKILL)
    if os.getppid() != parent:  # it died before the signal was asked for
        sys.exit(1)
    # Ctrl-C reaches the whole process group: the server stops first, then stops this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=os.environ.get("FHIR_LOG_LEVEL", "INFO"))
    asyncio.run(_drain(settings))


async def _drain(settings: Settings) -> None:
    from fhir_server.conformance import definitions
    from fhir_server.conformance.packages import installation_directory
    from fhir_server.search.index import index_plan, use_timezone
    from fhir_server.services.audit import AuditTrail
    from fhir_server.storage.database import Database

    if settings.mongodb_uri is None:
        raise ValueError("the audit drainer needs settings.mongodb_uri")
    # The search index the server processes would build: same definitions, same time zone.
    definitions.load(installation_directory(settings.packages, settings.data_dir))
    use_timezone(settings.timezone)
    database = Database(settings.mongodb_uri, settings.database, index_plan,
                        settings.mongodb_server_selection_timeout)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    trail = AuditTrail(database, settings.data_dir)
    trail.start(append=False)
    try:
        with collector_tuned_for_serving():  # it allocates per event as a server per request
            await stopping.wait()
    finally:
        await trail.stop()
        await database.close()
