"""Bulk Data export (Bulk Data Access IG v2, http://hl7.org/fhir/uv/bulkdata/STU2/export.html;
DESIGN.md §4): kick-off stores a job, workers run it, the client polls its status, downloads
its files, and may cancel it. A job and its files belong to the client (issuer and subject of
the token) that started it; nobody else sees them."""

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from fhir_server.auth.scopes import ALL, Permissions
from fhir_server.auth.tokens import Principal
from fhir_server.errors import BadRequest, Forbidden, NotFound, TooManyRequests
from fhir_server.search.compiler import Compiler
from fhir_server.search.request import parse_query, parse_request
from fhir_server.search.types.date import parse_date
from fhir_server.search.types.reference import LOCAL_REFERENCE
from fhir_server.services.access import require_search
from fhir_server.services.export.output import DELETED, ERROR, OUTPUT, Part, Progress
from fhir_server.services.export.request import (
    GROUP,
    PROVENANCE,
    ExportRequest,
    add_problem,
    export_queries,
    parse_kick_off,
    still_covers,
)
from fhir_server.services.export.run import plan
from fhir_server.services.export.worker import ExportWorkers
from fhir_server.services.scope_searches import scope_filter
from fhir_server.services.versions import format_instant, utc_now
from fhir_server.settings import Settings
from fhir_server.storage.database import Database
from fhir_server.storage.export_files import ExportFiles
from fhir_server.storage.export_jobs import (
    CANCELLED,
    COMPLETED,
    QUEUED,
    ExportJob,
    ExportJobStore,
)
from fhir_server.storage.export_reads import SnapshotStore


@dataclass(frozen=True)
class Download:
    read: Callable[[int, int], Iterator[bytes]]  # (start, length) → the bytes, in chunks
    length: int
    expires: datetime


def owner_of(principal: Principal) -> str:
    return f"{principal.issuer}|{principal.subject}"


def status_path(job_id: str) -> str:
    return f"$export-status/{job_id}"


def file_path(job_id: str, name: str) -> str:
    return f"$export-file/{job_id}/{name}"


class ExportService:
    def __init__(self, database: Database, settings: Settings):
        self.database = database
        self.settings = settings
        self.jobs = ExportJobStore(database.db, database.transaction_session)
        self.files = ExportFiles(settings.data_dir / "exports")
        self.snapshots = SnapshotStore(database.db, database.chains)
        self.workers = ExportWorkers(
            self.jobs, self.snapshots, database.store(timed=False), self.files, settings,
        )

    async def start(self) -> None:
        await self.jobs.prepare()
        self.workers.start()

    async def stop(self) -> None:
        await self.workers.stop()

    # --- kick-off -------------------------------------------------------------------------

    async def kick_off(
        self,
        principal: Principal,
        level: str,
        group_id: str | None,
        params: list[tuple[str, str]],
        strict: bool,
        base: str,
        request_url: str,
    ) -> str:
        """Validate a kick-off and queue its job; returns the job id."""
        owner = owner_of(principal)
        # The parameters first: a request that can never succeed is 400, not a 429 that
        # would have the client retry it.
        request = parse_kick_off(
            level, params, strict, principal.scopes, self.settings.max_page_size, base
        )
        await self._check_type_filters(request, strict, principal, base)
        await self._check_scope_searches(request, params, principal, base)
        # A cheap early refusal before reading a Group's members; `insert_within` below
        # holds the limit under concurrency.
        if await self.jobs.count_unfinished(owner) >= self.settings.export_max_jobs:
            raise self._too_many()
        if level == GROUP:
            assert group_id is not None, "a Group export is an operation on one Group"
            request.group_id = group_id
            request.patients = await self._members(principal, group_id, request, strict, base)
        elif request.patients:
            request.patients = await self._existing_patients(request, principal)
        now = utc_now()
        job_id = uuid.uuid4().hex
        job = ExportJob(
            id=job_id,
            owner=owner,
            who=principal.who,
            scopes=principal.scope_text,
            status=QUEUED,
            request=request_url,
            base=base,
            parameters=request.document(),
            transaction_time=now,
            # Writes stamped before transactionTime may still be committing.
            not_before=now + timedelta(seconds=self.settings.export_settle_seconds),
            created_at=now,
        )
        if not await self.jobs.insert_within(job, self.settings.export_max_jobs):
            raise self._too_many()
        self.workers.wake(job.not_before)
        return job_id

    def _too_many(self) -> TooManyRequests:
        return TooManyRequests(
            f"At most {self.settings.export_max_jobs} exports of one client may be "
            "unfinished; wait for one to finish, or cancel one",
            headers={"Retry-After": "30"},
        )

    async def _members(
        self,
        principal: Principal,
        group_id: str,
        request: ExportRequest,
        strict: bool,
        base: str,
    ) -> list[str]:
        """The ids of the Group's active Patient members (restricted to `patient`)."""
        if not principal.scopes.allows("Group", "r"):
            raise Forbidden("The token's scopes do not allow reading Group")
        group = await self.database.store().current("Group", group_id)
        if group is None or group.deleted:
            raise NotFound(f"Group/{group_id} is not known")
        assert group.resource is not None, "a version not deleted has its resource"
        if group.resource.get("actual") is False:
            # Members by characteristics: this server does not evaluate them, and an empty
            # export would read as "no such patients".
            add_problem(request, strict, f"Group/{group_id} is not an actual group (its "
                        "members are defined by characteristics, which this server does not "
                        "evaluate)", "group")
        members = []
        now = utc_now()
        for member in group.resource.get("member", []):
            if not _is_current(member, now):
                continue
            reference = (member.get("entity") or {}).get("reference") or ""
            reference = reference.rsplit("/_history/", 1)[0].removeprefix(base + "/")
            match = LOCAL_REFERENCE.match(reference)
            if match and match[1] == "Patient":
                members.append(match[2])
            else:  # not the client's doing: never refused
                request.warnings.append(f"Group member '{reference}' is not a Patient here; "
                                        "left out")
        members = list(dict.fromkeys(members))
        unknown = await self._unknown(members, principal, request)
        request.warnings += [f"Group member 'Patient/{member}' is not known here; left out"
                             for member in members if member in unknown]
        members = [member for member in members if member not in unknown]
        if request.patients is None:
            return members
        request.warnings += [
            f"patient: Patient/{outsider} is not a member of Group/{group_id}; left out"
            for outsider in request.patients if outsider not in members]
        return [p for p in members if p in request.patients]

    async def _unknown(self, ids: list[str], principal: Principal,
                       request: ExportRequest) -> set[str]:
        """Of these Patient ids, those that name no current Patient here; none for a token
        that may not read Patients: whether one exists is not its to learn (the export holds
        nothing of one that does not). With `_since` a deleted Patient is known: its deletion
        and those of its compartment since then belong in the manifest's `deleted`."""
        if not ids or not principal.scopes.allows("Patient", "r"):
            return set()
        return set(ids) - await self.snapshots.ids_of("Patient", ids, request.since is not None)

    async def _existing_patients(self, request: ExportRequest,
                                 principal: Principal) -> list[str]:
        """The `patient` ids that exist, the others warned of in the manifest's `error` file,
        never refused: not a parameter the server cannot honour (what `handling` is about)
        but data it does not hold; the IG's "details via a FHIR OperationOutcome" are there,
        and bdt expects the kick-off of ids 123 and 456 to succeed."""
        wanted = request.patients or []
        missing = await self._unknown(wanted, principal, request)
        request.warnings += [f"patient: Patient/{patient} is not known here; left out"
                             for patient in wanted if patient in missing]
        return [p for p in wanted if p not in missing]

    async def _check_scope_searches(self, request: ExportRequest, params: list[tuple[str, str]],
                                    principal: Principal, base: str) -> None:
        """Compile the searches of the granular scopes a type is exported by: a type named in
        `_type` none of whose searches can run is 403 now rather than a failed job later;
        one the export holds by default is left out."""
        store = self.database.store()
        kept = []
        for kind in request.types:
            try:
                for queries in export_queries(principal.scopes, kind):
                    await scope_filter(store, base, kind, queries)
            except Forbidden:
                if any(name == "_type" for name, _ in params):
                    raise
                continue
            kept.append(kind)
        if request.types and not kept:
            raise Forbidden("The token's scopes allow reading and searching none of the "
                            "exportable types by a search this server can run on them")
        request.types = kept

    async def _check_type_filters(
        self, request: ExportRequest, strict: bool, principal: Principal, base: str
    ) -> None:
        """Compile each `_typeFilter` query as a search would, to refuse (or drop, leniently)
        those this server cannot run."""
        compiler = Compiler(
            self.database.store().project, base, partial(require_search, principal.scopes)
        )
        for kind, queries in list(request.type_filters.items()):
            kept = []
            for query in queries:
                criteria = parse_request(kind, parse_query(query), 1).criteria
                if empty := [name for name, value in criteria if not value.strip()]:
                    # `status:cancelled` with no `=`: a search would ignore it; a filter
                    # that filters nothing is no filter the client asked for.
                    add_problem(request, strict, f"_typeFilter {kind}?{query}: '{empty[0]}' "
                                "has no value", "_typeFilter")
                    continue
                try:
                    _, used = await compiler.compile(kind, criteria, strict)
                except BadRequest as bad:
                    add_problem(request, strict, f"_typeFilter {kind}?{query}: "
                                f"{bad.diagnostics}", "_typeFilter")
                    continue
                for name, value in criteria:
                    if value and (name, value) not in used:
                        request.warnings.append(f"_typeFilter {kind}?{query}: unknown search "
                                                f"parameter '{name}'; ignored")
                kept.append(query)
            if kept:
                request.type_filters[kind] = kept
            else:
                del request.type_filters[kind]

    # --- status, cancel, files ------------------------------------------------------------

    async def job(self, job_id: str, principal: Principal) -> ExportJob:
        """A job of the caller's (see `_owned`); the token must still cover every type
        exported (403 otherwise)."""
        job = await self._owned(job_id, principal)
        request = ExportRequest.from_document(job.parameters)
        types = request.types + ([PROVENANCE] if request.associated else [])
        exported = Permissions.from_text(job.scopes)
        refused = [t for t in types if not still_covers(principal.scopes, exported, t)]
        if refused:
            raise Forbidden(f"The token's scopes do not cover the exported {', '.join(refused)}")
        return job

    async def _owned(self, job_id: str, principal: Principal) -> ExportJob:
        """A job of the caller's: 404 for anyone else, once cancelled, and once expired."""
        job = await self.jobs.find(job_id)
        if job is None or job.owner != owner_of(principal) or job.expired(utc_now()):
            raise NotFound(f"No export job {job_id}")
        if job.status == CANCELLED:
            raise NotFound(f"Export job {job_id} was cancelled and its files deleted")
        return job

    async def cancel(self, job_id: str, principal: Principal) -> None:
        """Bulk Data Delete Request: stop the job and delete its files."""
        await self.job(job_id, principal)
        expires = utc_now() + timedelta(seconds=self.settings.export_retention_seconds)
        if not await self.jobs.cancel(job_id, owner_of(principal), expires):
            raise NotFound(f"No export job {job_id}")
        await asyncio.to_thread(self.files.remove, job_id)
        await self.jobs.drop_items(job_id)

    async def download(self, job_id: str, name: str, principal: Principal) -> Download:
        """One file of a job of the caller's, with a token that reads its type (a narrower
        token than the export's still fetches the files it covers)."""
        job = await self._owned(job_id, principal)
        progress = Progress.from_document(job.progress)
        part = next((p for p in progress.parts if p.name == name), None)
        if job.status != COMPLETED or part is None:
            raise NotFound(f"Export job {job_id} has no file {name}")
        assert job.expires_at is not None, "a completed job has its expiry"
        if part.kind != ERROR and not still_covers(
                principal.scopes, Permissions.from_text(job.scopes), part.resource):
            raise Forbidden(f"The token's scopes do not allow reading and searching "
                            f"{part.resource}")
        try:
            read = self.files.read(job_id, name)
        except (FileNotFoundError, ValueError):
            raise NotFound(f"Export job {job_id} has no file {name}") from None
        return Download(read, part.bytes, job.expires_at)


def _is_current(member: dict, now: datetime) -> bool:
    """Whether a Group member is one now: not `inactive`, and within its `period` if it has
    one (R4 Group.member.period: "The period that the member was in the group")."""
    if member.get("inactive") is True:
        return False
    period = member.get("period") or {}
    try:
        if "start" in period and parse_date(period["start"]).low > now:
            return False
        if "end" in period and parse_date(period["end"]).high < now:
            return False
    except (ValueError, TypeError):
        pass  # stored data was validated; an unreadable period limits nothing
    return True


def manifest(job: ExportJob, base: str) -> dict:
    """The Complete Status body (IG: "Response - Complete Status")."""
    progress = Progress.from_document(job.progress)
    request = ExportRequest.from_document(job.parameters)

    def files(kind: str) -> list[dict]:
        return [_item(job.id, part, base) for part in progress.parts if part.kind == kind]

    body = {
        "transactionTime": format_instant(job.transaction_time),
        "request": job.request,
        "requiresAccessToken": True,
        "output": files(OUTPUT),
        "error": files(ERROR),
    }
    if request.since is not None:
        body["deleted"] = files(DELETED)
    return body


def _item(job_id: str, part: Part, base: str) -> dict:
    return {"type": part.type, "url": f"{base}/{file_path(job_id, part.name)}",
            "count": part.count}


def progress_text(job: ExportJob, now: datetime) -> str:
    """X-Progress: under 100 characters, starting with a percentage once running."""
    if job.status == QUEUED:
        return "queued" if job.not_before <= now else "waiting for writes in flight"
    progress = Progress.from_document(job.progress)
    request = ExportRequest.from_document(job.parameters)
    phases = len(plan(request, ALL))
    if progress.total:
        percent = min(99, progress.done * 100 // progress.total)
        return f"{percent}% complete: {progress.done:,} of about {progress.total:,} resources"
    return f"in progress: phase {min(progress.phase + 1, phases)} of {phases}"


def retry_after(job: ExportJob, now: datetime) -> int:
    """Seconds until the next status request is worth making: soon at first, then less
    often as a long export goes on."""
    if job.status == QUEUED and job.not_before > now:
        return max(1, int((job.not_before - now).total_seconds() + 0.999))
    elapsed = (now - job.created_at).total_seconds()
    return int(min(30, max(1, elapsed // 10)))

