"""One attempt at an export job: its phases run in order, each resumable from the last
resource id it saved (DESIGN.md §4, http://hl7.org/fhir/uv/bulkdata/STU2/export.html).

The export is the data as of `transactionTime` (T). Each type is read from one cursor over
the current versions in id order, in windows of about `batch_bytes` of output. A current
version written at or before T is T's version and is written at once. For the rest, the
version at T comes from history: the window's ids whose current version is newer than T,
and the ids in the window's range with any version newer than T (asked after the window was
read, so a resource that left the query's reach by a write after T is caught too). Those
versions are checked against the same filter, by MongoDB, on documents built as the server
would store them. Each id is decided once, in the window holding it, so nothing is written
twice, and writes while the export runs change nothing in it.
"""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.search_parameters import patient_compartment
from fhir_server.errors import Forbidden
from fhir_server.search.compiler import Compiler
from fhir_server.search.index import compartment_filter
from fhir_server.search.request import parse_query, parse_request
from fhir_server.search.types.date import parse_date
from fhir_server.search.types.reference import LOCAL_REFERENCE
from fhir_server.services.access import require_search
from fhir_server.services.export.attachments import export_line
from fhir_server.services.export.output import (
    DELETED,
    ERROR,
    OUTPUT,
    Output,
    deletion_line,
    warning_line,
)
from fhir_server.services.export.request import (
    GROUP,
    LATEST,
    PROVENANCE,
    RELEVANT,
    SYSTEM,
    ExportRequest,
    export_queries,
    may_export,
)
from fhir_server.services.scope_searches import scope_filter
from fhir_server.services.subsetting import subset
from fhir_server.services.versions import Version, storage_documents
from fhir_server.storage.export_jobs import ExportJob, ExportJobStore
from fhir_server.storage.export_reads import SnapshotStore
from fhir_server.storage.open_transactions import open_since
from fhir_server.storage.records import CurrentVersion, HistoryVersion
from fhir_server.storage.resources import ResourceStore

log = logging.getLogger(__name__)

WINDOW_IDS = 5000  # resources per window at most, whatever their size
_SETTLE_POLL = 0.05  # seconds between looks at the transactions still open
_SETTLE_AT_MOST = 120.0  # twice MongoDB's default transaction lifetime limit
ID_BATCH = 500  # ids looked up at a time (history, deletions, associated Provenance)
_COUNT_MS = 2000


@dataclass(frozen=True)
class Phase:
    step: str  # error | scan | deleted | associated
    kind: str | None = None
    emit: bool = True  # scanned types that only lead to associated Provenance are not written

    @property
    def resource_type(self) -> str:
        """The `kind` of a scan, deleted or associated phase (only the error phase has none)."""
        assert self.kind is not None, f"the {self.step} phase has no resource type"
        return self.kind


def association(request: ExportRequest) -> str | None:
    """Which Provenance come along with the exported resources. Asked for with
    includeAssociatedData; by default a Patient or Group export holds the Provenance of the
    compartments' resources (IG: "all available Provenance resources whose target is a
    resource in the Patient compartment"); a system export holds all Provenance as a type."""
    if request.associated:
        return request.associated
    if request.level != SYSTEM and PROVENANCE in request.types:
        return RELEVANT
    return None


def plan(request: ExportRequest, permissions: Permissions) -> list[Phase]:
    mode = association(request)
    output = [kind for kind in request.types if not (mode and kind == PROVENANCE)]
    scanned = list(output)
    if mode and not request.associated:  # the default of Patient and Group exports
        compartment = [k for k in patient_compartment() if k not in (PROVENANCE, "AuditEvent")]
        scanned += [k for k in compartment if may_export(permissions, k) and k not in output]
    phases = [Phase("error")] if request.warnings else []
    phases += [Phase("scan", kind, kind in output) for kind in scanned]
    if request.since is not None:
        phases += [Phase("deleted", kind) for kind in output]
    if mode:
        phases.append(Phase("associated", PROVENANCE))
    return phases


@dataclass
class Window:
    """Resources read from the cursor since the last checkpoint."""

    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    seen: set[str] = field(default_factory=set)
    newer: list[str] = field(default_factory=list)  # current version written after T
    written: dict[str, int] = field(default_factory=dict)  # id → vid of the version written


class ExportRun:
    def __init__(
        self,
        job: ExportJob,
        jobs: ExportJobStore,
        reader: SnapshotStore,
        store: ResourceStore,
        output: Output,
        batch_bytes: int,
        save: Callable[[], Awaitable[None]],
    ):
        self.job = job
        self.jobs = jobs
        self.reader = reader
        self.store = store
        self.output = output
        self.batch_bytes = batch_bytes
        self.save = save  # stores `output.progress` (raises LeaseLost if the job was lost)
        self.request = ExportRequest.from_document(job.parameters)
        self.moment: datetime = job.transaction_time
        self.base: str = job.base
        self.permissions = Permissions.from_text(job.scopes)
        self.mode = association(self.request)
        self.filters: dict[str, dict] = {}

    @property
    def progress(self):
        return self.output.progress

    async def run(self) -> None:
        await self._settled()
        phases = plan(self.request, self.permissions)
        for kind in {p.resource_type for p in phases if p.step in ("scan", "deleted")}:
            self.filters[kind] = await self._membership(kind)
        if self.progress.total is None:
            self.progress.total = await self._estimate(phases)
        while self.progress.phase < len(phases):
            phase = phases[self.progress.phase]
            await getattr(self, f"_{phase.step}")(phase)
            self.output.close()
            self.progress.phase += 1
            self.progress.after = None
            await self.save()

    async def _settled(self) -> None:
        """Wait until the transactions that began by `not_before` (transactionTime and the
        settle margin for clocks) have committed or aborted: they may hold versions stamped
        before transactionTime (storage/open_transactions.py). MongoDB aborts a transaction
        open longer than its lifetime limit (60 s by default), so the wait is bounded."""
        deadline = time.monotonic() + _SETTLE_AT_MOST
        while await open_since(self.reader.db, self.job.not_before):
            if time.monotonic() >= deadline:
                log.warning("export %s: transactions begun before it are still open after "
                            "%.0f s; exporting without them", self.job.id, _SETTLE_AT_MOST)
                return
            await asyncio.sleep(_SETTLE_POLL)

    # --- filters ------------------------------------------------------------------------

    async def _membership(self, kind: str) -> dict:
        """The compartments and `_typeFilter` of a type, as a filter on current versions."""
        clauses: list[dict] = []
        if self.request.level != SYSTEM and (reach := _reach(self.request, kind, self.base)):
            clauses.append(reach)
        if (type_filter := await self._type_filter(kind)) is not None:
            clauses.append(type_filter)
        for granted in export_queries(self.permissions, kind):  # granular scopes
            try:
                clauses.append(await scope_filter(self.store, self.base, kind, granted))
            except Forbidden:  # a type only scanned: none of its searches runs on it
                clauses.append({"_id": {"$in": []}})
        return {"$and": clauses} if clauses else {}

    async def _type_filter(self, kind: str) -> dict | None:
        """The `_typeFilter` queries of a type (ORed), as a filter on current versions."""
        queries = self.request.type_filters.get(kind)
        if not queries:
            return None
        check = partial(require_search, self.permissions)
        compiler = Compiler(self.store.project, self.base, check)
        compiled = [(await compiler.compile(kind, _criteria(kind, query), strict=False))[0]
                    for query in queries]
        return compiled[0] if len(compiled) == 1 else {"$or": compiled}

    def _live(self, kind: str) -> dict:
        """Membership and the `_since`/`_until` window."""
        clauses = [self.filters[kind]] if self.filters[kind] else []
        changed = {}
        if self.request.since is not None:
            changed["$gt"] = self.request.since
        if self.request.until is not None:
            changed["$lte"] = self.request.until
        if changed:
            clauses.append({"lastUpdated": changed})
        return {"$and": clauses} if clauses else {}

    async def _estimate(self, phases: list[Phase]) -> int | None:
        total = 0
        for phase in phases:
            if phase.step == "scan" and phase.emit:
                kind = phase.resource_type
                count = await self.reader.count(kind, self._live(kind), _COUNT_MS)
                if count is None:
                    return None
                total += count
        return total

    # --- phases -------------------------------------------------------------------------

    async def _error(self, phase: Phase) -> None:
        lines = [warning_line(message) for message in self.request.warnings]
        self.output.write(ERROR, "OperationOutcome", "OperationOutcome", lines)

    async def _scan(self, phase: Phase) -> None:
        kind, low = phase.resource_type, self.progress.after
        elements = self.request.elements_of(kind)
        window = Window()
        cursor = self.reader.current(kind, self._live(kind), low)
        try:
            async for current in cursor:
                resource_id = current.id
                window.seen.add(resource_id)
                if current.last_updated <= self.moment:
                    line = self._line(current.resource, elements)
                    window.lines.append(line)
                    window.size += len(line)
                    window.written[resource_id] = current.vid
                else:
                    window.newer.append(resource_id)
                if window.size >= self.batch_bytes or len(window.seen) >= WINDOW_IDS:
                    await self._close_window(phase, window, low, resource_id)
                    low, window = resource_id, Window()
        finally:
            await cursor.close()
        await self._close_window(phase, window, low, None)

    async def _close_window(
        self, phase: Phase, window: Window, low: str | None, high: str | None
    ) -> None:
        kind = phase.resource_type
        changed = await self.reader.changed_after(kind, self.moment, low, high)
        again = sorted(set(window.newer) | (changed - window.seen))
        for start in range(0, len(again), ID_BATCH):
            for version in await self._versions_at(kind, again[start : start + ID_BATCH]):
                elements = self.request.elements_of(kind)
                window.lines.append(self._line(version.resource, elements))
                window.written[version.id] = version.vid
        if phase.emit:
            self.output.write(OUTPUT, kind, kind, window.lines)
        if self.mode and window.written:
            await self._associate(kind, window.written)
        if high is not None:
            self.progress.after = high
            await self.save()

    async def _versions_at(self, kind: str, ids: list[str]) -> list[HistoryVersion]:
        """The live versions at T of these resources that the export's filter matches."""
        versions = await self.reader.versions_at(kind, ids, self.moment)
        return await self._matching(kind, [v for v in versions if not v.deleted], True)

    async def _matching(
        self, kind: str, versions: list[HistoryVersion], window: bool
    ) -> list[HistoryVersion]:
        query = self._live(kind) if window else self.filters[kind]
        if not versions or not query:
            return versions
        documents = []
        for version in versions:
            current, _ = storage_documents(Version.from_history(kind, version))
            documents.append({k: v for k, v in current.items() if k != "resource"})
        matched = await self.reader.matching(documents, {"$and": [query, {"deleted": False}]})
        return [version for version in versions if version.id in matched]

    async def _deleted(self, phase: Phase) -> None:
        """Resources deleted after `_since` (and not back by T): Bundles with a DELETE."""
        kind, batch = phase.resource_type, []
        since = self.request.since
        assert since is not None, "plan() has deleted phases only with _since"
        until = min(self.moment, self.request.until or self.moment)
        cursor = await self.reader.deletions(kind, since, until, self.progress.after)
        try:
            async for resource_id in cursor:
                batch.append(resource_id)
                if len(batch) >= ID_BATCH:
                    await self._deleted_batch(kind, batch, until)
                    batch = []
        finally:
            await cursor.close()
        if batch:
            await self._deleted_batch(kind, batch, until)

    async def _deleted_batch(self, kind: str, ids: list[str], until: datetime) -> None:
        deleted = [v for v in await self.reader.versions_at(kind, ids, until) if v.deleted]
        if deleted and self.filters[kind]:  # was the resource in the export before?
            before = await self.reader.versions(kind, [(v.id, v.vid - 1) for v in deleted])
            kept = {v.id for v in await self._matching(kind, before, False)}
            deleted = [v for v in deleted if v.id in kept]
        lines = [deletion_line(kind, v.id, v.last_updated, self.base) for v in deleted]
        self.output.write(DELETED, "Bundle", kind, lines)
        self.progress.after = ids[-1]
        await self.save()

    def _line(self, resource: dict | None, elements: list[str] | None) -> bytes:
        """The NDJSON line of a version (never a deletion) as exported: `_elements` applied,
        Attachment URLs absolute (attachments.py)."""
        assert resource is not None, "only versions that are not deletions are exported"
        shaped = subset(resource, None, elements) if elements else resource
        return export_line(shaped, self.base)

    # --- associated Provenance ------------------------------------------------------------

    async def _associate(self, kind: str, written: dict[str, int]) -> None:
        """Note the Provenance of the resources just written (`includeAssociatedData`)."""
        ids = sorted(written)
        for start in range(0, len(ids), ID_BATCH):
            chunk = {i: written[i] for i in ids[start : start + ID_BATCH]}
            references = [f"{kind}/{i}" for i in chunk]
            references += [f"{self.base}/{reference}" for reference in references]
            fields = ["resource.target", "resource.recorded", "lastUpdated"]
            # Changed by transactionTime, and by `_until`, as the types are.
            upto = min(self.moment, self.request.until or self.moment)
            found = await self.reader.referring(PROVENANCE, "target", references, upto, fields)
            if self.request.since is not None:  # "changed after _since", as the types are
                found = [p for p in found if p.last_updated > self.request.since]
            if self.mode == LATEST:
                chosen = _latest(kind, chunk, found, self.base)
            else:
                chosen = [provenance.id for provenance in found]
            await self.jobs.add_items(self.job.id, PROVENANCE, chosen)

    async def _associated(self, phase: Phase) -> None:
        """The Provenance of the exported resources, those a `_typeFilter` of Provenance
        matches (Provenance is never changed nor deleted: its current version is T's)."""
        elements = self.request.elements_of(PROVENANCE)
        type_filter = await self._type_filter(PROVENANCE)
        while ids := await self.jobs.items_after(
            self.job.id, PROVENANCE, self.progress.after, ID_BATCH
        ):
            kept = ids
            if type_filter is not None:
                kept = sorted(await self.reader.ids_of(PROVENANCE, ids, False, type_filter))
            currents = await self.reader.current_by_id(PROVENANCE, kept)
            resources: list[dict | None] = []
            again = []
            for current in sorted(currents, key=lambda c: c.id):
                if current.last_updated > self.moment:
                    again.append(current.id)
                elif not current.deleted:
                    resources.append(current.resource)
            for version in await self.reader.versions_at(PROVENANCE, again, self.moment):
                if not version.deleted:
                    resources.append(version.resource)
            lines = [self._line(resource, elements) for resource in resources]
            self.output.write(OUTPUT, PROVENANCE, PROVENANCE, lines)
            self.progress.after = ids[-1]
            await self.save()


def _reach(request: ExportRequest, kind: str, base: str) -> dict:
    """What a Patient or Group export holds of a type, as HAPI FHIR exports it: of Patient,
    the patients exported (all, or the members, or `patient`'s), not those in their
    compartments by `Patient.link`; of Group, the Group exported (none at Patient level),
    not the other Groups the members are in, with those cohorts' member lists; of any other
    type, what is in the patients' Patient compartments."""
    if kind == "Patient":
        return {} if request.patients is None else {"_id": {"$in": request.patients}}
    if kind == "Group":
        return {"_id": {"$in": [request.group_id] if request.level == GROUP else []}}
    return compartment_filter("Patient", request.patients, base)


def _criteria(kind: str, query: str) -> list[tuple[str, str]]:
    return parse_request(kind, parse_query(query), 1).criteria


def _recorded(provenance: CurrentVersion) -> tuple:
    try:
        recorded = parse_date((provenance.resource or {}).get("recorded", "")).low
    except (ValueError, TypeError):
        recorded = provenance.last_updated
    return recorded, provenance.last_updated, provenance.id


def _latest(
    kind: str, written: dict[str, int], found: list[CurrentVersion], base: str
) -> list[str]:
    """For each resource, the Provenance of the version exported, else its most recent one
    (by `recorded`)."""
    candidates: dict[str, list[tuple[CurrentVersion, str | None]]] = defaultdict(list)
    prefix = base.rstrip("/") + "/"
    for provenance in found:
        for target in (provenance.resource or {}).get("target", []):
            reference = (target or {}).get("reference") or ""
            reference = reference.removeprefix(prefix)
            plain, _, vid = reference.partition("/_history/")
            match = LOCAL_REFERENCE.match(plain)
            if match and match[1] == kind and match[2] in written:
                candidates[match[2]].append((provenance, vid or None))
    chosen = set()
    for resource_id, pairs in candidates.items():
        exact = [p.id for p, vid in pairs if vid == str(written[resource_id])]
        chosen.update(exact or [max((p for p, _ in pairs), key=_recorded).id])
    return sorted(chosen)
