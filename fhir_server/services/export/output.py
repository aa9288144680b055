"""The NDJSON output of an export job: lines appended to files of one resource type each,
split at a size limit, with the job's progress (what is safely written) kept beside them.

Progress is saved in the job after each batch of lines; a resumed job continues from it. The
file being written when a worker died is closed at its last saved length (only that much is
ever served) and a new file is begun, so nothing is lost and nothing is written twice.
"""

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime

from fhir_server.conformance import json_format
from fhir_server.services.metrics import EXPORTED_RESOURCES
from fhir_server.services.versions import format_instant
from fhir_server.storage.export_files import ExportFiles, PartWriter

OUTPUT, DELETED, ERROR = "output", "deleted", "error"


@dataclass
class Part:
    """One output file: `type` as the manifest names it (Bundle for deletions), `resource`
    the resource type it is about."""

    name: str
    type: str
    resource: str
    kind: str
    count: int = 0
    bytes: int = 0


@dataclass
class Progress:
    phase: int = 0
    after: str | None = None  # last resource id done in the phase
    parts: list[Part] = field(default_factory=list)
    current: Part | None = None
    done: int = 0  # resources written to output files
    total: int | None = None  # estimate, for X-Progress
    seq: int = 0  # files begun, for unique names

    def document(self) -> dict:
        return asdict(self)

    @classmethod
    def from_document(cls, document: dict | None) -> "Progress":
        if not document:
            return cls()
        parts = [Part(**part) for part in document.get("parts", [])]
        current = Part(**document["current"]) if document.get("current") else None
        fields = {k: v for k, v in document.items() if k not in ("parts", "current")}
        return cls(**fields, parts=parts, current=current)


def ndjson_line(resource: dict) -> bytes:
    return json_format.dumps(resource) + b"\n"


def deletion_line(kind: str, resource_id: str, deleted_at: datetime, base: str) -> bytes:
    """A deleted resource as the IG asks: a transaction Bundle with a DELETE entry."""
    return ndjson_line(
        {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": format_instant(deleted_at)},
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": f"{base}/{kind}/{resource_id}",
                    "request": {"method": "DELETE", "url": f"{kind}/{resource_id}"},
                }
            ],
        }
    )


def warning_line(message: str) -> bytes:
    issue = {"severity": "warning", "code": "not-supported", "diagnostics": message}
    return ndjson_line({"resourceType": "OperationOutcome", "issue": [issue]})


class Output:
    """Writes the lines of one job attempt; `progress` says what is written so far."""

    def __init__(self, files: ExportFiles, job_id: str, progress: Progress, max_bytes: int):
        self.files = files
        self.job_id = job_id
        self.progress = progress
        self.max_bytes = max_bytes
        self._writer: PartWriter | None = None

    def resume(self) -> bool:
        """Take up saved progress: the file that was open is closed at its saved length.
        False when a saved file is missing or shorter than saved (then start over)."""
        progress = self.progress
        if progress.current is not None:
            progress.parts.append(progress.current)
            progress.current = None
        for part in progress.parts:
            size = self.files.size(self.job_id, part.name)
            if size is None or size < part.bytes:
                return False
        progress.parts = [part for part in progress.parts if part.count]
        return True

    def write(self, kind: str, manifest_type: str, resource: str, lines: list[bytes]) -> None:
        """Append lines (each one resource) to the current file of this kind and type,
        beginning a new file when the type changes or the size limit would be passed."""
        pending: list[bytes] = []
        current = self.progress.current
        for line in lines:
            if (
                current is None
                or (current.kind, current.resource) != (kind, resource)
                or (current.bytes and current.bytes + len(line) > self.max_bytes)
            ):
                self._flush(pending)
                self.close()
                current = self._begin(kind, manifest_type, resource)
            pending.append(line)
            current.count += 1
            current.bytes += len(line)
        self._flush(pending)
        if kind == OUTPUT:
            self.progress.done += len(lines)
            EXPORTED_RESOURCES.inc(len(lines))

    def _flush(self, pending: list[bytes]) -> None:
        if pending:
            assert self._writer is not None, "_begin opened the current file"
            self._writer.write(b"".join(pending))
            pending.clear()

    def _begin(self, kind: str, manifest_type: str, resource: str) -> Part:
        while True:
            self.progress.seq += 1
            label = {OUTPUT: resource, DELETED: f"{resource}.deleted", ERROR: "error"}[kind]
            name = f"{self.progress.seq:04d}.{label}.ndjson"
            try:
                self._writer = self.files.create(self.job_id, name)
                break
            except FileExistsError:
                continue  # left by an earlier attempt: never reused
        self.progress.current = Part(name, manifest_type, resource, kind)
        return self.progress.current

    def close(self) -> None:
        """End the current file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.progress.current is not None:
            if self.progress.current.count:
                self.progress.parts.append(self.progress.current)
            else:
                self.files.remove_file(self.job_id, self.progress.current.name)
            self.progress.current = None

    def abandon(self) -> None:
        """Stop writing (the job was lost or cancelled, or the attempt failed)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def names(self) -> list[str]:
        return [part.name for part in self.progress.parts]

    def tidy(self) -> None:
        """Remove files no part refers to (left by failed or overtaken attempts)."""
        kept = {part.name for part in self.progress.parts}
        for name in self.files.names(self.job_id):
            if name not in kept:
                self.files.remove_file(self.job_id, name)
