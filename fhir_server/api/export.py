"""Bulk Data export over HTTP (Bulk Data Access IG v2,
http://hl7.org/fhir/uv/bulkdata/STU2/export.html): kick-off at system, Patient and Group
level by GET or POST, status polling, cancel (DELETE) and the output files.

Included before the other routers: `/Patient/$export` would otherwise be a read."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from fhir_server.api.dependencies import Base, Prefer, ServerSettings
from fhir_server.api.media import FhirResponse, http_date, json_body
from fhir_server.api.security import Caller
from fhir_server.errors import BadRequest
from fhir_server.services.export.request import GROUP, PATIENT, SYSTEM, parameters_body
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


def _outcome(diagnostics: str, severity: str = "information", code: str = "informational"):
    issue = {"severity": severity, "code": code, "diagnostics": diagnostics}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


@router.get("/$export")
@router.post("/$export")
@router.get("/Patient/$export")
@router.post("/Patient/$export")
@router.get("/Group/{group_id}/$export")
@router.post("/Group/{group_id}/$export")
async def kick_off_export(
    request: Request,
    exports: Exports,
    caller: Caller,
    base: Base,
    prefer: Prefer,
    settings: ServerSettings,
):
    """Kick-off (IG "Bulk Data Kick-off Request") at system level, for all patients, or for
    a Group's members: 202 with the status URL in `Content-Location`."""
    query = request.url.query
    request.state.audit_query = request.url.path + (f"?{query}" if query else "")
    group_id = request.path_params.get("group_id")
    level = GROUP if group_id else PATIENT if "/Patient/$export" in request.url.path else SYSTEM
    if "respond-async" not in prefer:
        raise BadRequest("A Bulk Data kick-off needs the header 'Prefer: respond-async'")
    accepted = [part.split(";")[0].strip().lower()
                for part in request.headers.get("accept", "").split(",")]
    if "application/fhir+json" not in accepted:
        raise BadRequest("A Bulk Data kick-off needs the header 'Accept: application/fhir+json'")
    params = list(request.query_params.multi_items())
    request_url = base + request.url.path.removeprefix("/fhir")
    if request.method == "POST":
        body = await json_body(request, settings.max_body_bytes, settings.max_json_depth)
        params += parameters_body(body)
    elif query:
        request_url += f"?{query}"
    job_id = await exports.kick_off(
        caller, level, group_id, params, prefer.get("handling") == "strict", base, request_url
    )
    location = f"{base}/{status_path(job_id)}"
    request.state.audit_entity = location
    outcome = _outcome(f"Export job {job_id} accepted; poll {location}")
    return FhirResponse(request, outcome, 202, {"Content-Location": location})


@router.get("/$export-status/{job_id}")
async def export_status(job_id: str, request: Request, exports: Exports, caller: Caller,
                        base: Base):
    """Status request: 202 with X-Progress and Retry-After while running, 200 with the
    manifest once complete, 500 with an OperationOutcome when the export failed."""
    request.state.audit_entity = f"{base}/{status_path(job_id)}"
    job = await exports.job(job_id, caller)
    now = utc_now()
    if job.status == COMPLETED:
        return JSONResponse(manifest(job, base), headers={"Expires": http_date(job.expires_at)})
    if job.status == FAILED:
        outcome = _outcome(job.error or "The export failed", "error", "exception")
        return FhirResponse(request, outcome, 500)
    progress = progress_text(job, now)
    headers = {"X-Progress": progress, "Retry-After": str(retry_after(job, now))}
    return FhirResponse(request, _outcome(f"Export {progress}"), 202, headers)


@router.delete("/$export-status/{job_id}")
async def cancel_export(job_id: str, request: Request, exports: Exports, caller: Caller,
                        base: Base):
    """Delete request: the export stops and its files are deleted; then 404."""
    request.state.audit_entity = f"{base}/{status_path(job_id)}"
    await exports.cancel(job_id, caller)
    return FhirResponse(request, _outcome(f"Export job {job_id} cancelled, files deleted"), 202)


@router.get("/$export-file/{job_id}/{name}")
async def export_file(job_id: str, name: str, request: Request, exports: Exports,
                      caller: Caller, base: Base):
    """An output file, streamed, to the client that started the export."""
    request.state.audit_entity = f"{base}/{file_path(job_id, name)}"
    download = await exports.download(job_id, name, caller)
    headers = {"Content-Length": str(download.length), "Expires": http_date(download.expires)}
    return StreamingResponse(download.chunks, media_type=NDJSON, headers=headers)
