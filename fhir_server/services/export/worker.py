"""Export workers: background tasks that claim export jobs from MongoDB and run them
(DESIGN.md §4). Any number of server processes run them; a job is leased to one worker at a
time and the lease is renewed by a heartbeat, so the job of a worker that died is taken over
(and resumed from its saved progress) once the lease runs out. Expired jobs and their files
are removed here too."""

import asyncio
import logging
import os
import socket
import uuid
from contextlib import suppress
from datetime import datetime, timedelta

from fhir_server.errors import FhirError
from fhir_server.services.background import cancel_all
from fhir_server.services.export.output import Output, Progress
from fhir_server.services.export.run import ExportRun
from fhir_server.services.versions import utc_now
from fhir_server.settings import Settings
from fhir_server.storage.export_files import ExportFiles
from fhir_server.storage.export_jobs import (
    CANCELLED,
    COMPLETED,
    FAILED,
    ExportJob,
    ExportJobStore,
    LeaseLost,
)
from fhir_server.storage.export_reads import SnapshotStore
from fhir_server.storage.resources import ResourceStore

log = logging.getLogger(__name__)

MAX_FAILURES = 3  # attempts in a row that fail unexpectedly, saving no progress: job failed
# Attempts in a row that saved no progress, whatever ended them (a worker killed each time,
# e.g. out of memory at the same resource): the next claim fails the job.
MAX_STALLED = 5


class ExportWorkers:
    def __init__(
        self,
        jobs: ExportJobStore,
        reader: SnapshotStore,
        store: ResourceStore,
        files: ExportFiles,
        settings: Settings,
    ):
        self.jobs = jobs
        self.reader = reader
        self.store = store
        self.files = files
        self.settings = settings
        self.lease = timedelta(seconds=settings.export_lease_seconds)
        # Renewed well before it lapses, whatever the settings say.
        self.heartbeat = min(settings.export_heartbeat_seconds, settings.export_lease_seconds / 3)
        self._tasks: list[asyncio.Task] = []
        self._wakeup = asyncio.Event()
        self._due: datetime | None = None
        self._name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def start(self) -> None:
        for number in range(self.settings.export_workers):
            self._tasks.append(asyncio.create_task(self._work(f"{self._name}:{number}")))
        if self._tasks:
            self._tasks.append(asyncio.create_task(self._clean_up_forever()))

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        self._tasks = []

    def wake(self, due: datetime) -> None:
        """A job was queued that may be claimed from `due` on."""
        self._due = due if self._due is None else min(self._due, due)
        self._wakeup.set()

    async def _idle(self) -> None:
        timeout = self.settings.export_poll_seconds
        if self._due is not None:
            timeout = min(timeout, max(0.0, (self._due - utc_now()).total_seconds()))
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        self._wakeup.clear()
        if self._due is not None and self._due <= utc_now():
            self._due = None

    async def _work(self, worker: str) -> None:
        while True:
            try:
                job = await self.jobs.claim(worker, utc_now(), self.lease)
                if job is None:
                    await self._idle()
                else:
                    await self._attempt(job, worker)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("export worker %s: unexpected error", worker)
                await asyncio.sleep(self.settings.export_poll_seconds)

    async def _attempt(self, job: ExportJob, worker: str) -> None:
        """Run (or resume) a claimed job until it is done, lost, or fails."""
        job_id = job.id
        if job.stalled > MAX_STALLED:
            await self._fail(job_id, worker, f"The export stopped {job.stalled - 1} times in a "
                             "row without getting further (its server process ended each time)")
            return
        progress = Progress.from_document(job.progress)
        output = Output(self.files, job_id, progress, self.settings.export_file_max_bytes)
        if not output.resume():
            log.warning("export %s: saved files are incomplete; starting again", job_id)
            await self.jobs.drop_items(job_id)
            output = Output(self.files, job_id, Progress(seq=progress.seq), output.max_bytes)

        failed_before = job.failures  # reset (as stored) once this attempt saves progress

        async def save() -> None:
            nonlocal failed_before
            until = utc_now() + self.lease
            await self.jobs.save_progress(job_id, worker, output.progress.document(), until)
            failed_before = 0

        run = ExportRun(
            job, self.jobs, self.reader, self.store, output, self.settings.export_batch_bytes, save
        )
        running = asyncio.create_task(run.run())
        lost = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(job_id, worker, running, lost))
        try:
            await running
            output.close()
            output.tidy()
            # Durable before it is reported complete (the OS would write it out anyway).
            await asyncio.to_thread(self.files.sync, job_id, output.names())
            now = utc_now()
            expires = now + timedelta(seconds=self.settings.export_retention_seconds)
            await self.jobs.finish(
                job_id, worker, COMPLETED, now, expires, progress=output.progress.document()
            )
        except LeaseLost:
            await self._lost(job_id, output)
        except asyncio.CancelledError:
            output.abandon()
            if lost.is_set():
                await self._lost(job_id, output)
            else:  # this server is stopping: let another worker (or the restart) resume
                with suppress(Exception):
                    await asyncio.shield(self.jobs.release(job_id, worker, utc_now()))
                raise
        except FhirError as error:  # e.g. a _typeFilter chain that now matches too much
            output.abandon()
            await self._fail(job_id, worker, error.diagnostics)
        except Exception as error:
            output.abandon()
            current = await self.jobs.find(job_id)
            if current is None or current.status == CANCELLED:  # its files went away
                await self._lost(job_id, output)
                return
            failures = failed_before + 1
            log.exception("export %s: attempt failed (%d of %d)", job_id, failures, MAX_FAILURES)
            if failures >= MAX_FAILURES:
                await self._fail(job_id, worker, f"The export failed: {type(error).__name__}")
            else:
                retry = utc_now() + timedelta(seconds=2**failures)
                await self.jobs.release(job_id, worker, retry, repr(error))
        else:  # completed: no failure of this attempt any more (the items also go at expiry)
            log.info("export %s completed: %d resources", job_id, output.progress.done)
            await self.jobs.drop_items(job_id)
        finally:
            heartbeat.cancel()

    async def _heartbeat(
        self, job_id: str, worker: str, running: asyncio.Task, lost: asyncio.Event
    ) -> None:
        while not running.done():
            await asyncio.sleep(self.heartbeat)
            try:
                held = await self.jobs.renew(job_id, worker, utc_now() + self.lease)
            except Exception:
                log.exception("export %s: heartbeat failed", job_id)
                continue
            if not held:
                lost.set()
                running.cancel()
                return

    async def _lost(self, job_id: str, output: Output) -> None:
        output.abandon()
        job = await self.jobs.find(job_id)
        if job is None or job.status == CANCELLED:
            await asyncio.to_thread(self.files.remove, job_id)
            log.info("export %s was cancelled", job_id)
        else:
            log.warning("export %s was taken over by another worker", job_id)

    async def _fail(self, job_id: str, worker: str, message: str) -> None:
        now = utc_now()
        expires = now + timedelta(seconds=self.settings.export_retention_seconds)
        try:
            await self.jobs.finish(job_id, worker, FAILED, now, expires, error=message)
        except LeaseLost:  # completed, cancelled or another worker's now: its files are not ours
            log.warning("export %s: not failed (%s): this worker no longer holds it", job_id,
                        message)
            return
        await self.jobs.drop_items(job_id)
        await asyncio.to_thread(self.files.remove, job_id)
        log.warning("export %s failed: %s", job_id, message)

    async def _clean_up_forever(self) -> None:
        """Remove expired jobs (with their files) and files of jobs that no longer exist."""
        interval = max(1.0, min(60.0, self.settings.export_retention_seconds / 2))
        while True:
            try:
                await self.clean_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("removing expired exports failed")
            await asyncio.sleep(interval)

    async def clean_up(self) -> None:
        for job_id in await self.jobs.expired(utc_now()):
            await asyncio.to_thread(self.files.remove, job_id)
            await self.jobs.delete(job_id)
        on_disk = self.files.job_ids()
        if on_disk:
            known = await self.jobs.exists(on_disk)
            for job_id in set(on_disk) - known:
                await asyncio.to_thread(self.files.remove, job_id)

