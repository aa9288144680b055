"""Bulk Data kick-off (Bulk Data Access IG v2, http://hl7.org/fhir/uv/bulkdata/STU2/
export.html): `$export` at system level, `Patient/$export` for all patients and
`Group/{id}/$export` for a Group's members, by GET or POST; 202 with the status URL in
`Content-Location`. Status, cancel and files: fhir_server/api/export.py."""

from urllib.parse import urlencode

from fhir_server.api.dependencies import preferences
from fhir_server.api.export import outcome
from fhir_server.api.media import FHIR_JSON, FhirResponse, accepts
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import INSTANCE, SYSTEM, TYPE, OperationDescriptor
from fhir_server.errors import BadRequest
from fhir_server.services.export.request import GROUP, PATIENT
from fhir_server.services.export.request import SYSTEM as SYSTEM_LEVEL
from fhir_server.services.export.service import status_path

_BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"
_LEVELS = {SYSTEM: SYSTEM_LEVEL, TYPE: PATIENT, INSTANCE: GROUP}


async def kick_off_export(call: OperationCall) -> FhirResponse:
    request = call.request
    query = request.url.query
    request.state.audit_query = request.url.path + (f"?{query}" if query else "")
    prefer = await preferences(request)
    if "respond-async" not in prefer:
        raise BadRequest("A Bulk Data kick-off needs the header 'Prefer: respond-async'")
    # The IG's only kick-off response type, or a range holding it with a `q` above 0 (`*/*`
    # is what curl, Postman and Python's requests send unless told otherwise).
    if not accepts(request, FHIR_JSON):
        raise BadRequest("A Bulk Data kick-off needs the header 'Accept: application/fhir+json'")
    parameters = await call.parameters()  # of the query and of a POSTed Parameters
    # The audit trail keeps what was exported (the job is gone a day later), and whose.
    request.state.audit_query = request.url.path + (
        f"?{urlencode(parameters)}" if parameters else "")
    # The kick-off URL as sent: a POST may carry parameters in its query string too.
    request_url = call.base + request.url.path.removeprefix("/fhir")
    if query:
        request_url += f"?{query}"
    job_id = await request.app.state.exports.kick_off(
        call.caller, _LEVELS[call.descriptor.level], call.resource_id, parameters,
        _strict(prefer), call.base, request_url,
    )
    location = f"{call.base}/{status_path(job_id)}"
    request.state.audit_entity = location
    accepted_outcome = outcome(f"Export job {job_id} accepted; poll {location}")
    return FhirResponse(request, accepted_outcome, 202, {"Content-Location": location})


def _strict(prefer: dict[str, str]) -> bool:
    """IG v2 "Query Parameters": a kick-off refuses what it cannot honour unless the client
    sent `Prefer: handling=lenient` (http://hl7.org/fhir/uv/bulkdata/STU2/export.html#headers);
    other operations stay lenient by default (OperationCall.strict)."""
    return prefer.get("handling", "").lower() != "lenient"


def _export(level: str, resource_types: tuple[str, ...], definition: str) -> Operation:
    # The export itself holds only the types the token may read (services/export).
    descriptor = OperationDescriptor("export", f"{_BULK_DATA}/{definition}", level,
                                     resource_types, interaction="none", negotiated=False,
                                     checks_own_parameters=True, safe=False)
    return Operation(descriptor, kick_off_export)


OPERATIONS = (
    _export(SYSTEM, (), "export"),
    _export(TYPE, ("Patient",), "patient-export"),
    _export(INSTANCE, ("Group",), "group-export"),
)
