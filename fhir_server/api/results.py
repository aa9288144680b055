"""Turning service results into responses with the headers the spec requires."""


from fastapi import Request
from fastapi.responses import Response

from fhir_server.api.dates import header_date, http_date
from fhir_server.api.dependencies import WriteCall, return_preference
from fhir_server.api.languages import outcome_language
from fhir_server.api.media import (
    VARY,
    XML_MEDIA_TYPES,
    FhirResponse,
    field_list,
    negotiated,
)
from fhir_server.conformance.costly_work import in_costly_thread
from fhir_server.conformance.messages import issue
from fhir_server.errors import operation_outcome
from fhir_server.services.access import write_answer
from fhir_server.services.audit_events import patients_of
from fhir_server.services.interactions import WriteResult
from fhir_server.services.preconditions import parse_if_match
from fhir_server.services.subsetting import subset_read
from fhir_server.services.versions import Version
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import ResourceStore


def version_headers(version: Version) -> dict[str, str]:
    return {"ETag": version.etag, "Last-Modified": http_date(version.last_updated)}


async def resource_response(request: Request, version: Version,
                            store: ResourceStore | None) -> Response:
    """read and vread, shaped by `_summary` and `_elements`; 304 Not Modified when the
    client's copy is this version (http://hl7.org/fhir/R4/http.html#cread). XML is written
    in a thread for costly work: a 10 MB resource takes a second of CPU to write so, which
    on the event loop every other client waited for (JSON, by orjson, takes milliseconds).
    `store`: where a read's version's history is (`not_modified`)."""
    if (unchanged := await not_modified(request, version, store)) is not None:
        return unchanged
    assert version.resource is not None, "read and vread refuse deletions"
    resource = subset_read(version.resource, list(request.query_params.multi_items()))
    if negotiated(request)[0] in XML_MEDIA_TYPES:
        return await in_costly_thread(FhirResponse, request, resource, 200,
                                      version_headers(version))
    return FhirResponse(request, resource, 200, version_headers(version))


async def not_modified(request: Request, version: Version, store: ResourceStore | None
                       ) -> Response | None:
    """304 Not Modified, headers and no body, when the client has this version already
    (http://hl7.org/fhir/R4/http.html#cread); None when it must be sent. `store`: where the
    history of a read's version is; None for a vread's (`Version.known_to_client`).
    First, 412 when `If-Match` names another version: RFC 9110 §13.1.1 forbids performing
    any method, a GET too, whose If-Match does not hold (§13.2.2: it is evaluated first)."""
    if if_match := field_list(request, "if-match"):
        read = CurrentVersion(version.id, version.vid, version.last_updated, version.deleted)
        parse_if_match(if_match).check(f"{version.resource_type}/{version.id}", read)
    tags = field_list(request, "if-none-match") or None
    if await version.known_to_client(tags, header_date(request, "if-modified-since"), store):
        return Response(status_code=304, headers={**version_headers(version), **VARY})
    return None


def write_response(call: WriteCall, result: WriteResult) -> Response:
    """create/update/patch: 201 or 200, `Location`, `ETag`, `Last-Modified`, body per
    `Prefer: return` (http://hl7.org/fhir/R4/http.html#ops)."""
    version = result.version
    if not result.changed:
        # What wrote nothing (an update sending what is stored) is audited by the request,
        # with the patients whose data it is, as a write's event (audit_write) names them.
        call.request.state.audit_patients = patients_of(version.resource_type, version.resource,
                                                        call.base)
    status = 201 if result.created else 200
    headers = version_headers(version)
    location = f"{call.base}/{version.versioned_url}"
    headers["Location" if result.created else "Content-Location"] = location
    choice = write_answer(return_preference(call.prefer), call.request.state.principal.scopes,
                          version.resource_type)
    if choice == "minimal":
        return Response(status_code=status, headers=headers)
    if choice == "OperationOutcome":
        outcome = result.outcome(outcome_language(call.request))
        return FhirResponse(call.request, outcome, status, headers)
    return FhirResponse(call.request, version.resource, status, headers, written=True)


def delete_response(request: Request, prefer: dict[str, str], result: WriteResult | None
                    ) -> Response:
    """delete: 204, or 200 with an OperationOutcome when `Prefer: return=OperationOutcome`
    asks for one (http://hl7.org/fhir/R4/http.html#delete); None: nothing was there."""
    headers = {"ETag": result.version.etag} if result else {}
    if return_preference(prefer) != "OperationOutcome":
        return Response(status_code=204, headers=headers)
    language = outcome_language(request)
    nothing = issue("write.nothing-deleted", "informational", severity="information")
    outcome = result.outcome(language) if result else operation_outcome([nothing], language)
    return FhirResponse(request, outcome, 200, headers)
