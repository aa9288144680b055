"""Loading data files (`fhir-server load`): transaction and batch Bundles as they are, other
Bundles, single resources and NDJSON (Bulk Data output of this or other servers, e.g.
Synthea's) as batches that keep the resources' ids, reported per resource type."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fhir_server.errors import BadRequest, FhirError
from fhir_server.services.bundles import BundleProcessor
from fhir_server.services.data_files import (
    bundle_resources,
    is_bundle,
    is_ndjson,
    json_documents,
    ndjson_lines,
    parse_line,
)

NDJSON_BATCH = 500
UNKNOWN_TYPE = "(unknown)"


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

    def add(self, response_bundle: dict, origins: list[Origin]) -> None:
        """The batch-response or transaction-response of entries from `origins`."""
        for origin, entry in zip(origins, response_bundle.get("entry", []), strict=True):
            response = entry["response"]
            status, outcome = response["status"], response.get("outcome")
            self.statuses[status] += 1
            if status.startswith("2"):
                self.loaded[origin.resource_type] += 1
                for text in _diagnostics(outcome, ("warning",)):
                    self.warnings[origin.resource_type, text] += 1
            else:
                reason = "; ".join(_diagnostics(outcome, ("fatal", "error")))
                self.fail(origin, f"{status} {reason}".strip())

    def fail(self, origin: Origin, reason: str) -> None:
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
        return (f"{self.loaded.total()} loaded, {self.failed.total()} failed, "
                f"{self.warnings.total()} warnings")

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
    """A batch or transaction Bundle to load, where its entries come from, and where it does."""

    bundle: dict
    origins: list[Origin]
    location: str


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


def _ndjson_batches(path: Path, report: LoadReport) -> Iterator[Batch]:
    """Batches of NDJSON_BATCH lines; a line that is not a resource is a failure of its own."""
    batch: list[tuple[dict, Origin]] = []
    for where, line in ndjson_lines(path):
        try:
            resource = parse_line(line, where)
        except BadRequest as error:
            report.fail(Origin(where, UNKNOWN_TYPE), str(error))
            continue
        batch.append((resource, Origin(where, resource["resourceType"])))
        if len(batch) == NDJSON_BATCH:
            yield _as_batch(batch, str(path))
            batch = []
    if batch:
        yield _as_batch(batch, str(path))


def _entry_origins(bundle: dict, where: str) -> list[Origin]:
    entries = bundle.get("entry")
    origins = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        origins.append(Origin(f"{where} Bundle.entry[{index}]", str(kind or UNKNOWN_TYPE)))
    return origins


def _batches(path: Path, report: LoadReport) -> Iterator[Batch]:
    """The batch/transaction Bundles that load the file."""
    if is_ndjson(path):
        yield from _ndjson_batches(path, report)
        return
    for where, resource in json_documents(path):
        if not is_bundle(resource):
            yield _as_batch([(resource, Origin(where, resource["resourceType"]))], where)
        elif resource.get("type") in ("transaction", "batch"):
            yield Batch(resource, _entry_origins(resource, where), where)
        else:
            yield _as_batch(
                [(entry, Origin(located, entry["resourceType"]))
                 for located, entry in bundle_resources(resource, where)],
                where,
            )


async def _load_batches(processor: BundleProcessor, batches: Iterator[Batch], base: str,
                        report: LoadReport) -> None:
    """Submit each batch; a refused Bundle (e.g. a failing transaction) is reported and the
    next one is still loaded."""
    for batch in batches:
        try:
            response = await processor.process(base, batch.bundle, "minimal")
        except FhirError as error:
            report.refuse(batch, f"{error.status} {error}")
            continue
        report.add(response, batch.origins)


async def load_file(processor: BundleProcessor, path: Path, base: str) -> LoadReport:
    """Load every Bundle of the file."""
    report = LoadReport()
    try:
        await _load_batches(processor, _batches(path, report), base, report)
    except (BadRequest, OSError, EOFError, UnicodeDecodeError) as error:  # EOF: cut gzip
        report.fail(Origin(str(path), UNKNOWN_TYPE), str(error))
    return report


async def load_resources(processor: BundleProcessor, resources: list[dict], location: str,
                         base: str = "") -> LoadReport:
    """Load resources (each keeping its id) in batches of NDJSON_BATCH entries."""
    report = LoadReport()
    items = [(resource, Origin(f"{location} {resource['resourceType']}/{resource.get('id')}",
                               resource["resourceType"])) for resource in resources]
    batches = (_as_batch(items[start:start + NDJSON_BATCH], location)
               for start in range(0, len(items), NDJSON_BATCH))
    await _load_batches(processor, batches, base, report)
    return report
