"""Bulk Data export over HTTP (Bulk Data Access IG v2,
http://hl7.org/fhir/uv/bulkdata/STU2/export.html): status polling, cancel (DELETE) and the
output files. The kick-off is an operation (fhir_server/api/operations/export.py)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from fhir_server.api.dates import http_date
from fhir_server.api.dependencies import Base
from fhir_server.api.file_responses import entity_tag, file_response
from fhir_server.api.media import FhirResponse
from fhir_server.api.security import Caller
from fhir_server.errors import MethodNotAllowed
from fhir_server.services.export.service import (
    ExportService,
    file_path,
    manifest,
    progress_text,
    retry_after,
    status_path,
)
from fhir_server.services.versions import utc_now
from fhir_server.storage.export_jobs import COMPLETED, FAILED

router = APIRouter()
NDJSON = "application/fhir+ndjson"


async def _exports(request: Request) -> ExportService:
    return request.app.state.exports


Exports = Annotated[ExportService, Depends(_exports)]


def outcome(diagnostics: str, severity: str = "information", code: str = "informational"):
    issue = {"severity": severity, "code": code, "diagnostics": diagnostics}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


@router.api_route("/$export-status/{job_id}", methods=["GET", "HEAD"])
async def export_status(job_id: str, request: Request, exports: Exports, caller: Caller,
                        base: Base):
    """Status request: 202 with X-Progress and Retry-After while running, 200 with the
    manifest once complete, 500 with an OperationOutcome when the export failed."""
    request.state.audit_entity = f"{base}/{status_path(job_id)}"
    job = await exports.job(job_id, caller)
    now = utc_now()
    if job.status == COMPLETED:
        assert job.expires_at is not None, "a completed job has its expiry"
        return JSONResponse(manifest(job, base), headers={"Expires": http_date(job.expires_at)})
    if job.status == FAILED:
        failure = outcome(job.error or "The export failed", "error", "exception")
        return FhirResponse(request, failure, 500)
    progress = progress_text(job, now)
    headers = {"X-Progress": progress, "Retry-After": str(retry_after(job, now))}
    return FhirResponse(request, outcome(f"Export {progress}"), 202, headers)


@router.delete("/$export-status/{job_id}")
async def cancel_export(job_id: str, request: Request, exports: Exports, caller: Caller,
                        base: Base):
    """Delete request: the export stops and its files are deleted; then 404."""
    request.state.audit_entity = f"{base}/{status_path(job_id)}"
    await exports.cancel(job_id, caller)
    return FhirResponse(request, outcome(f"Export job {job_id} cancelled, files deleted"), 202)


@router.api_route("/$export-status/{job_id}", methods=["POST", "PUT", "PATCH", "OPTIONS"])
async def export_status_other(job_id: str):
    """A status URL is read, or deleted to cancel (Bulk Data IG); any other method is 405
    with what it takes (it fell to the routes of `[type]/[id]`: 404, and an Allow of theirs)."""
    raise MethodNotAllowed(f"$export-status/{job_id} takes GET, HEAD and DELETE",
                           headers={"Allow": "GET, HEAD, DELETE"})


@router.api_route("/$export-file/{job_id}/{name}", methods=["GET", "HEAD"])
async def export_file(job_id: str, name: str, request: Request, exports: Exports,
                      caller: Caller, base: Base):
    """An output, error or deleted file, streamed, to the client that started the export:
    resumable with a byte `Range`, gzipped when `Accept-Encoding` allows it."""
    request.state.audit_entity = f"{base}/{file_path(job_id, name)}"
    download = await exports.download(job_id, name, caller)
    # A name is never reused and a file is served at its recorded length: fixed content.
    etag = entity_tag(job_id, name, str(download.length))
    return file_response(request, download.read, download.length, NDJSON,
                         etag, {"Expires": http_date(download.expires)})
