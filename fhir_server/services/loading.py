"""Loading data files: Bundles (transaction, batch, collection) and NDJSON."""

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fhir_server.errors import BadRequest, FhirError
from fhir_server.services.bundles import BundleProcessor

NDJSON_BATCH = 500
NDJSON_SUFFIXES = (".ndjson", ".jsonl")


@dataclass
class LoadReport:
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def add(self, response_bundle: dict, source: str) -> None:
        for index, entry in enumerate(response_bundle["entry"]):
            status = entry["response"]["status"]
            self.statuses[status] += 1
            if not status.startswith("2"):
                issues = entry["response"].get("outcome", {}).get("issue", [])
                detail = "; ".join(i.get("diagnostics", "") for i in issues)
                self.errors.append(f"{source} entry {index}: {status} {detail}")

    @property
    def ok(self) -> bool:
        return not self.errors


def _as_batch(resources: list[dict]) -> dict:
    """Keep client ids (PUT) where there are some, let the server assign the others (POST)."""
    entries = []
    for resource in resources:
        kind, resource_id = resource.get("resourceType"), resource.get("id")
        url = f"{kind}/{resource_id}" if resource_id else str(kind)
        entries.append(
            {
                "resource": resource,
                "request": {"method": "PUT" if resource_id else "POST", "url": url},
            }
        )
    return {"resourceType": "Bundle", "type": "batch", "entry": entries}


def read_ndjson(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, resource) of each non-blank line; 400 naming the line if not JSON."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError as bad:
                raise BadRequest(f"{path}:{number} is not JSON: {bad}") from None


def _ndjson_batches(path: Path) -> Iterator[dict]:
    batch: list[dict] = []
    for _, resource in read_ndjson(path):
        batch.append(resource)
        if len(batch) == NDJSON_BATCH:
            yield _as_batch(batch)
            batch = []
    if batch:
        yield _as_batch(batch)


def bundles_in(path: Path) -> Iterator[dict]:
    """The batch/transaction Bundles that load the file."""
    if path.suffix in NDJSON_SUFFIXES:
        yield from _ndjson_batches(path)
        return
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as bad:
        raise BadRequest(f"{path} is not JSON: {bad}") from None
    if document.get("resourceType") != "Bundle":
        yield _as_batch([document])
    elif document.get("type") in ("transaction", "batch"):
        yield document
    else:
        yield _as_batch([e["resource"] for e in document.get("entry", []) if "resource" in e])


async def load_file(processor: BundleProcessor, path: Path, base: str) -> LoadReport:
    """Load every Bundle of the file; a refused Bundle (e.g. a failing transaction) is
    reported and the next one is still loaded."""
    report = LoadReport()
    try:
        for bundle in bundles_in(path):
            try:
                report.add(await processor.process(base, bundle, "minimal"), str(path))
            except FhirError as error:
                report.errors.append(f"{path}: {error.status} {error}")
    except (BadRequest, OSError) as error:
        report.errors.append(f"{path}: {error}")
    return report
