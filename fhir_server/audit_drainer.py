"""The audit drainer: a process of its own that stores the audit spool's AuditEvents in MongoDB
(services/audit.py), so that building their search indexes, about a quarter of the CPU of a
read by id, is not done by the processes answering requests, and never holds up their event
loops. The primary server process of a data directory starts it (FHIR_AUDIT_DRAIN_PROCESS),
starts it again if it dies, and stops it when it stops itself; it dies with that process.
Every server process stands by: it drains while no drainer does (this one died, or has not
started yet), and leaves the spool to it again after."""

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from multiprocessing.process import BaseProcess

from fhir_server.collector import collector_tuned_for_serving
from fhir_server.restart_backoff import RestartBackoff
from fhir_server.settings import Settings, log_level

log = logging.getLogger(__name__)
# For its last drain (services/audit.py gives that at most 5 s), then it is killed.
_STOP_SECONDS = 15


class Drainer:
    """The audit drainer of this server, started again when it dies, unless a SIGTERM
    stopped it (the server processes drain in its place meanwhile, on their event loops): at
    once, then ever later while it keeps dying (RestartBackoff). Create it on the thread that
    lives as long as the server, as a drainer dies with the thread that started it."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._process = _start(settings)
        self._watch = asyncio.create_task(self._restart_when_dead())

    async def stop(self) -> None:
        """SIGTERM: it drains what it can within a few seconds, then exits."""
        self._watch.cancel()
        await asyncio.gather(self._watch, return_exceptions=True)
        await asyncio.to_thread(_stop, self._process)

    async def _restart_when_dead(self) -> None:
        backoff = RestartBackoff()
        while True:
            await _ended(self._process)
            # Stopped as asked: a service manager's SIGTERM to the whole process group (the
            # server is stopping too) ends it with 0, or before its handler is set, -SIGTERM.
            if self._process.exitcode in (0, -signal.SIGTERM):
                return
            log.error("the audit drainer (pid %s) exited with code %s; the server processes "
                      "drain until another runs", self._process.pid, self._process.exitcode)
            if delay := backoff.delay():
                log.warning("the audit drainer keeps dying: next start in %.0f s", delay)
                await asyncio.sleep(delay)
            self._process = _start(self._settings)


def _start(settings: Settings) -> BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=_main, args=(settings, os.getpid()), name="fhir-server audit drainer")
    process.start()
    return process


async def _ended(process: BaseProcess) -> None:
    """Once `process` has ended (its sentinel becomes readable), reaped."""
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    loop.add_reader(process.sentinel, ended.set)
    try:
        await ended.wait()
    finally:
        loop.remove_reader(process.sentinel)
    process.join()


def _stop(process: BaseProcess) -> None:
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
    logging.basicConfig(level=log_level() or "INFO")
    asyncio.run(_drain(settings))


async def _drain(settings: Settings) -> None:
    from fhir_server.conformance import definitions
    from fhir_server.conformance.packages import installation_directory
    from fhir_server.search.index import index_plan, use_timezone
    from fhir_server.services.audit import AuditTrail
    from fhir_server.storage.database import Database

    if settings.mongodb_uri is None:
        raise ValueError("the audit drainer needs settings.mongodb_uri")
    # A SIGTERM while the definitions load (seconds on a busy machine) is taken once they are:
    # the drainer then drains before it exits, as it would later (it was killed at once, and
    # a server stopped just after its start left the events it spooled to its next start).
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    # The search index the server processes would build: same definitions, same time zone.
    definitions.load(installation_directory(settings.packages, settings.data_dir))
    use_timezone(settings.timezone)
    database = Database(settings.mongodb_uri, settings.database, index_plan,
                        settings.mongodb_server_selection_timeout)
    trail = AuditTrail(database, settings.data_dir)
    trail.start(append=False)
    try:
        with collector_tuned_for_serving():  # it allocates per event as a server per request
            await stopping.wait()
    finally:
        await trail.stop()
        await database.close()
