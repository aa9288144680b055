"""Loading data files (`fhir-server load`): transaction and batch Bundles as they are,
documents and messages as Bundle resources, other Bundles, single resources and NDJSON (Bulk
Data output of this or other servers, e.g. Synthea's) as batches that keep the resources'
ids, reported per resource type."""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from fhir_server.conformance import json_format
from fhir_server.errors import BadRequest, FhirError
from fhir_server.services.bundles import BundleProcessor
from fhir_server.services.data_files import (
    bundle_resources,
    data_files,
    is_bundle,
    is_ndjson,
    json_documents,
    ndjson_lines,
    parse_line,
)
from fhir_server.services.export.attachments import loaded_attachment_urls
from fhir_server.services.export.source_versions import RENUMBERED, SourceVersions

NDJSON_BATCH = 500
UNKNOWN_TYPE = "(unknown)"
# Bundles that are one thing, stored as a Bundle resource as `POST [base]/Bundle` stores them:
# a document (its Composition, attested as a whole) and a message. Their entries put one by
# one overwrote the resources of those ids held already (two official examples' `Patient/pat1`).
WHOLE_BUNDLES = ("document", "message")


# -- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where an entry to load comes from, and its resource type."""

    location: str
    resource_type: str


@dataclass(frozen=True)
class Failure:
    origin: Origin
    reason: str

    def __str__(self) -> str:
        return f"{self.origin.resource_type} {self.origin.location}: {self.reason}"


def _diagnostics(outcome: object, severities: tuple[str, ...]) -> list[str]:
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    return [
        str(issue.get("diagnostics") or issue.get("code"))
        for issue in issues or []
        if isinstance(issue, dict) and issue.get("severity") in severities
    ]


@dataclass
class LoadReport:
    """Per resource type: entries loaded and failed, with each failure's reason, and the
    warnings of the OperationOutcomes of loaded entries (e.g. a `meta.profile` not known)."""

    loaded: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)  # HTTP status of the entries
    failures: list[Failure] = field(default_factory=list)
    warnings: Counter = field(default_factory=Counter)  # (resource type, diagnostics) → count
    retrying: int = 0  # entries failed once, tried again after the rest

    def succeed(self, origin: Origin, status: str, outcome: object) -> None:
        self.statuses[status] += 1
        self.loaded[origin.resource_type] += 1
        for text in _diagnostics(outcome, ("warning",)):
            self.warnings[origin.resource_type, text] += 1

    def fail(self, origin: Origin, reason: str, status: str | None = None) -> None:
        if status is not None:
            self.statuses[status] += 1
        self.failed[origin.resource_type] += 1
        self.failures.append(Failure(origin, reason))

    def refuse(self, batch: "Batch", reason: str) -> None:
        """A Bundle refused as a whole (e.g. a failing transaction): none of it loaded."""
        self.failed.update(origin.resource_type for origin in batch.origins)
        self.failures.append(Failure(Origin(batch.location, "Bundle"), reason))

    def merge(self, other: "LoadReport") -> None:
        self.loaded += other.loaded
        self.failed += other.failed
        self.statuses += other.statuses
        self.failures += other.failures
        self.warnings += other.warnings

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def errors(self) -> list[str]:
        return [str(failure) for failure in self.failures]

    def summary(self) -> str:
        retrying = f", {self.retrying} to retry after the rest" if self.retrying else ""
        return (f"{self.loaded.total()} loaded, {self.failed.total()} failed, "
                f"{self.warnings.total()} warnings{retrying}")

    def table(self) -> str:
        """The report as text: a row per resource type, then the failures and warnings."""
        warned: Counter[str] = Counter()
        for (kind, _), count in self.warnings.items():
            warned[kind] += count
        kinds = sorted(set(self.loaded) | set(self.failed) | set(warned))
        width = max(len("resource type"), len("total"), *map(len, kinds))
        rows = [(kind, self.loaded[kind], self.failed[kind], warned[kind]) for kind in kinds]
        rows.append(("total", self.loaded.total(), self.failed.total(), warned.total()))
        lines = [f"{'resource type':<{width}}  {'loaded':>8}  {'failed':>8}  {'warnings':>8}"]
        lines += [f"{kind:<{width}}  {a:>8}  {b:>8}  {c:>8}" for kind, a, b, c in rows]
        if self.failures:
            lines += ["", "failed:", *(f"  {failure}" for failure in self.failures)]
        if self.warnings:
            lines += ["", "warnings:"]
            lines += [f"  {kind} ({count}×): {text}"
                      for (kind, text), count in sorted(self.warnings.items())]
        return "\n".join(lines)


# -- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """A batch or transaction Bundle to load, where its entries come from, and where it does;
    once it failed, why: a reason per entry, or one for a Bundle refused whole."""

    bundle: dict
    origins: list[Origin]
    location: str
    failures: tuple[tuple[str | None, str], ...] = ()  # (status, reason)

    @property
    def refused_whole(self) -> bool:
        return len(self.failures) == 1 and self.failures[0][0] is None


def _as_batch(items: list[tuple[dict, Origin]], location: str) -> Batch:
    """Keep client ids (PUT) where there are some, let the server assign the others (POST)."""
    entries = []
    for resource, _ in items:
        kind, resource_id = resource["resourceType"], resource.get("id")
        url = f"{kind}/{resource_id}" if resource_id else kind
        entries.append(
            {
                "resource": resource,
                "request": {"method": "PUT" if resource_id else "POST", "url": url},
            }
        )
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    return Batch(bundle, [origin for _, origin in items], location)


def _in_batches(items: Iterable[tuple[dict, Origin]], location: str) -> Iterator[Batch]:
    """The items in batches of up to NDJSON_BATCH entries, in their order; one that writes a
    resource its batch writes already (a later version in the file) starts the next, so the
    last one is stored: two entries of one batch may not write one resource, and both
    failed, so that neither version loaded."""
    batch: list[tuple[dict, Origin]] = []
    written: set[tuple[str, str]] = set()
    for resource, origin in items:
        key = (resource["resourceType"], resource.get("id") or "")
        if len(batch) == NDJSON_BATCH or (key[1] and key in written):
            yield _as_batch(batch, location)
            batch, written = [], set()
        batch.append((resource, origin))
        written.add(key)
    if batch:
        yield _as_batch(batch, location)


def _fitting(batch: Batch, most: int) -> Iterator[Batch]:
    """A batch Bundle in parts of at most `most` entries (FHIR_MAX_BUNDLE_ENTRIES, which may
    be below NDJSON_BATCH: each whole batch was 413, and nothing loaded); a transaction as it
    is, all or nothing."""
    entries = batch.bundle.get("entry") or []
    if batch.bundle.get("type") != "batch" or len(entries) <= most:
        yield batch
        return
    for start in range(0, len(entries), most):
        yield replace(batch, bundle={**batch.bundle, "entry": entries[start:start + most]},
                      origins=batch.origins[start:start + most])


def _ndjson_batches(path: Path, report: LoadReport, bases: tuple[str, ...],
                    versions: SourceVersions | None = None) -> Iterator[Batch]:
    return _in_batches(_ndjson_resources(path, report, bases, versions), str(path))


def _ndjson_resources(path: Path, report: LoadReport, bases: tuple[str, ...],
                      versions: SourceVersions | None) -> Iterator[tuple[dict, Origin]]:
    """The resources of the lines; a line that is not a resource is a failure of its own,
    but a file whose first line is JSON of no resource is no FHIR data at all (the
    `log.ndjson` a Bulk Data client writes beside what it downloaded): skipped, said once.
    Attachment URLs an export of one of `bases` made absolute are relative again; the
    `versions` of an export are noted, and a Provenance of a version the copy renumbers is
    skipped, said (source_versions.py)."""
    for number, (where, line) in enumerate(ndjson_lines(path)):
        try:
            resource = _as_stored(parse_line(line, where), line, bases)
        except BadRequest as error:
            if number == 0 and _is_json_object(line):
                report.warnings[UNKNOWN_TYPE, f"{path}: not FHIR NDJSON (its first line is "
                                              "no resource), skipped"] += 1
                return
            report.fail(Origin(where, UNKNOWN_TYPE), str(error))
            continue
        if versions is not None:
            versions.note(resource)
            if versions.renumbered(resource):
                report.warnings["Provenance", RENUMBERED] += 1
                continue
        yield resource, Origin(where, resource["resourceType"])


def _as_stored(resource: dict, line: str, bases: tuple[str, ...]) -> dict:
    """The resource as the server that exported it stores it: its Attachment URLs under the
    base the export was requested at (`https://host/fhir/Binary/1`) relative again
    (`Binary/1`), the version its Provenance signs (export/attachments.py)."""
    if any(f"{base}/" in line for base in bases):
        return loaded_attachment_urls(resource, bases)
    return resource


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json_format.loads(line), dict)
    except ValueError:
        return False


def _entry_origins(bundle: dict, where: str) -> list[Origin]:
    entries = bundle.get("entry")
    origins = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else _url_type(entry)
        origins.append(Origin(f"{where} Bundle.entry[{index}]", str(kind or UNKNOWN_TYPE)))
    return origins


def _url_type(entry: object) -> str | None:
    """The type an entry without a resource names in its request (a DELETE's)."""
    request = entry.get("request") if isinstance(entry, dict) else None
    url = request.get("url") if isinstance(request, dict) else None
    return url.split("/")[0].split("?")[0] or None if isinstance(url, str) else None


def _deletion_batches(path: Path, report: LoadReport) -> Iterator[Batch]:
    """Each line of a `_since` export's `deleted` file, a transaction Bundle of DELETEs
    (export.html#bulk-data-output-file-request), run as it is."""
    for where, line in ndjson_lines(path):
        try:
            bundle = parse_line(line, where)
        except BadRequest as error:
            report.fail(Origin(where, UNKNOWN_TYPE), str(error))
            continue
        if is_bundle(bundle) and bundle.get("type") == "transaction":
            yield Batch(bundle, _entry_origins(bundle, where), where)
        else:
            report.fail(Origin(where, bundle["resourceType"]), "a line of the deletions of a "
                        "Bulk Data export is a transaction Bundle of DELETE entries")


def _batches(path: Path, report: LoadReport, bases: tuple[str, ...],
             deletions: bool = False, versions: SourceVersions | None = None
             ) -> Iterator[Batch]:
    """The batch/transaction Bundles that load the file (`deletions`: one a manifest lists
    as deleted)."""
    if is_ndjson(path) and deletions:
        yield from _deletion_batches(path, report)
        return
    if is_ndjson(path):
        yield from _ndjson_batches(path, report, bases, versions)
        return
    for where, resource in json_documents(path):
        if not is_bundle(resource):
            yield _as_batch([(resource, Origin(where, resource["resourceType"]))], where)
        elif resource.get("type") in ("transaction", "batch"):
            yield Batch(resource, _entry_origins(resource, where), where)
        elif resource.get("type") in WHOLE_BUNDLES:
            yield _as_batch([(resource, Origin(where, "Bundle"))], where)
        elif held := [(entry, Origin(located, entry["resourceType"]))
                      for located, entry in bundle_resources(resource, where)]:
            # In batches as NDJSON lines are: one of them all was 413 beyond
            # FHIR_MAX_BUNDLE_ENTRIES, and nothing of a large collection loaded.
            yield from _in_batches(held, where)
        else:
            # A searchset of its outcome alone (`Bundle-bundle-search-warning`) holds nothing
            # to load: it was sent as a batch of no entries, and failed as one.
            report.warnings[UNKNOWN_TYPE, f"{where}: a Bundle with no resources to load, "
                                          "skipped"] += 1


async def _submit(processor: BundleProcessor, batch: Batch, base: str,
                  report: LoadReport) -> Batch | None:
    """Load a batch; what failed comes back as a batch of its own (a refused Bundle whole)."""
    try:
        response = await processor.process(base, batch.bundle, "minimal")
    except FhirError as error:
        return replace(batch, failures=((None, f"{error.status} {error}"),))
    failed = []
    for entry, origin, answer in zip(batch.bundle["entry"], batch.origins,
                                     response.get("entry", []), strict=True):
        status, outcome = answer["response"]["status"], answer["response"].get("outcome")
        if status.startswith("2"):
            report.succeed(origin, status, outcome)
        else:
            reason = "; ".join(_diagnostics(outcome, ("fatal", "error")))
            failed.append((entry, origin, (status, f"{status} {reason}".strip())))
    if not failed:
        return None
    return Batch({**batch.bundle, "entry": [entry for entry, _, _ in failed]},
                 [origin for _, origin, _ in failed], batch.location,
                 tuple(failure for _, _, failure in failed))


def _entries(batches: list[Batch]) -> int:
    return sum(len(batch.origins) for batch in batches)


class Loading:
    """One load of many files. A resource may refer to one a later file holds (Synthea's
    conditional references `Organization?identifier=...` to its organizations file, a
    Provenance to the definitions it signs): what fails is tried again once everything else
    is loaded, and again while that loads more; what still fails is reported. `bases`: those
    of the Bulk Data exports loaded (their manifests' `request`), whose Attachment URLs are
    made relative again, as the exporting server stores and signs them, and whose
    Provenances of versions the copy numbers otherwise are skipped with a warning
    (export/source_versions.py); `deletions`: their files of deleted resources, whose
    Bundles are run; `errors`: their OperationOutcome files, about the export, which are
    not loaded."""

    def __init__(self, processor: BundleProcessor, base: str = "", bases: Iterable[str] = (),
                 deletions: Iterable[Path] = (), errors: Iterable[Path] = ()):
        self.processor, self.base, self.bases = processor, base, tuple(bases)
        self.deletions = {path.resolve() for path in deletions}
        self.errors = {path.resolve() for path in errors}
        self.report = LoadReport()
        self.deferred: list[Batch] = []
        self.versions = SourceVersions() if self.bases else None

    def in_order(self, paths: list[Path]) -> list[Path]:
        """The data files of the paths given, in their order, each one's deletions first: a
        resource deleted and made again since an export's `_since` is in both, and is to be
        there afterwards; what an earlier path (the export before) holds, not."""
        return [file for given in paths for file in sorted(
            data_files([given]), key=lambda path: path.resolve() not in self.deletions)]

    async def load(self, batches: Iterator[Batch], report: LoadReport) -> None:
        for batch in (part for whole in batches
                      for part in _fitting(whole, self.processor.max_entries)):
            if (failed := await _submit(self.processor, batch, self.base, report)) is not None:
                self.deferred.append(failed)
                report.retrying += len(failed.origins)

    async def load_file(self, path: Path) -> LoadReport:
        """Load every Bundle of the file; its report, of what loaded at once."""
        report = LoadReport()
        if path.resolve() in self.errors:
            report.warnings[UNKNOWN_TYPE, f"{path}: the errors and warnings of a Bulk Data "
                                          "export (its manifest's `error`), no data: skipped"] += 1
            self.report.merge(report)
            return report
        try:
            await self.load(_batches(path, report, self.bases,
                                     path.resolve() in self.deletions, self.versions), report)
        except (BadRequest, OSError, EOFError, UnicodeDecodeError) as error:  # EOF: cut gzip
            report.fail(Origin(str(path), UNKNOWN_TYPE), str(error))
        self.report.merge(report)
        return report

    async def finish(self) -> LoadReport:
        """Retry what failed while a round loads something; the report of the whole load."""
        deferred, self.deferred = self.deferred, []
        while deferred:
            again = [failed for batch in deferred
                     if (failed := await _submit(self.processor, batch, self.base,
                                                 self.report)) is not None]
            progress, deferred = _entries(again) < _entries(deferred), again
            if not progress:
                break
        for batch in deferred:
            if batch.refused_whole:
                self.report.refuse(batch, batch.failures[0][1])
                continue
            for entry, origin, (status, reason) in zip(batch.bundle["entry"], batch.origins,
                                                       batch.failures, strict=True):
                # A Provenance read before the files holding what it signs was tried.
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if (self.versions is not None and isinstance(resource, dict)
                        and self.versions.renumbered(resource)):
                    self.report.warnings["Provenance", RENUMBERED] += 1
                else:
                    self.report.fail(origin, reason, status)
        return self.report


async def load_file(processor: BundleProcessor, path: Path, base: str) -> LoadReport:
    """Load every Bundle of the file."""
    loading = Loading(processor, base)
    await loading.load_file(path)
    return await loading.finish()


async def load_resources(processor: BundleProcessor, resources: list[dict], location: str,
                         base: str = "") -> LoadReport:
    """Load resources (each keeping its id) in batches of NDJSON_BATCH entries."""
    loading = Loading(processor, base)
    items = [(resource, Origin(f"{location} {resource['resourceType']}/{resource.get('id')}",
                               resource["resourceType"])) for resource in resources]
    await loading.load(_in_batches(items, location), loading.report)
    return await loading.finish()
