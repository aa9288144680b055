"""Type- and instance-level interactions: /fhir/{type}[/{id}[/_history[/{vid}]]]."""

import base64
import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.api.dependencies import (
    Base,
    HistoryParams,
    Prefer,
    SearchParams,
    Service,
    Write,
    WriteCall,
    WritePrecondition,
    preferences,
    request_base,
    search_parameters,
    strict_handling,
)
from fhir_server.api.media import (
    ACCEPT_PATCH,
    JSON_MEDIA_TYPES,
    JSON_PATCH,
    VARY,
    FhirResponse,
    asks_for_fhir,
    bundle_response,
    holds_fhir,
    raw_content_type,
    read_body,
    sends_json_patch,
)
from fhir_server.api.results import (
    delete_response,
    not_modified,
    resource_response,
    version_headers,
    write_response,
)
from fhir_server.api.security import reach_of, require, restricted_to
from fhir_server.conformance.messages import phrase, refusal
from fhir_server.conformance.primitives import is_id
from fhir_server.conformance.search_parameters import compartment_members
from fhir_server.errors import (
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
)
from fhir_server.search.request import RESULT_PARAMETERS, check_query_counts
from fhir_server.services.access import Reach
from fhir_server.services.audit_events import patients_of
from fhir_server.services.bundle_entries import check_create_parameters
from fhir_server.services.fhirpath_patch import is_fhirpath_patch
from fhir_server.services.offloading import input_size, run_sized
from fhir_server.services.reach import check_reach, check_version_reach
from fhir_server.services.resources import ResourceService, check_writable
from fhir_server.services.versions import Version
from fhir_server.storage.resources import ResourceStore

router = APIRouter()
# Every GET also answers HEAD, with GET's headers and no body (uvicorn leaves it out): RFC
# 9110 §9.3.2; a cheap check of a resource's current ETag.
READS = ["GET", "HEAD"]
# `[type]/_search` is for POST; by GET it is answered as `[type]?` is (as HAPI and Firely do),
# not read as a resource of id `_search`, which no id can be.
SEARCHES = [*READS, "POST"]


def _criteria(request: Request) -> str:
    """The conditional criteria of a request, without result parameters like _format."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in RESULT_PARAMETERS]
    if not params:
        raise BadRequest(
            f"{request.method} on a resource type needs search criteria "
            "(conditional interaction) or an id in the URL"
        )
    return str(request.url.query)


@router.api_route("/{resource_type}/_history", methods=READS,
                  dependencies=[require("history-type")])
async def type_history(resource_type: str, service: Service, base: Base, params: HistoryParams,
                       prefer: Prefer, request: Request):
    return await bundle_response(request, await service.history(
        base, params, resource_type, strict=strict_handling(prefer)))


@router.api_route("/{resource_type}/{resource_id}/_history", methods=READS,
                  dependencies=[require("history-instance")])
async def instance_history(
    resource_type: str,
    resource_id: str,
    service: Service,
    base: Base,
    params: HistoryParams,
    prefer: Prefer,
    request: Request,
):
    reach = reach_of(request)
    scope_query = await check_reach(service, reach, resource_type, resource_id, base)
    bundle = await service.history(
        base, params, resource_type, resource_id, compartment=reach.compartment,
        scope_query=scope_query, strict=strict_handling(prefer))
    # Its AuditEvent names the patients whose data the versions are, as a vread's does.
    request.state.audit_patients = tuple(dict.fromkeys(
        patient for entry in bundle.get("entry", ()) if isinstance(entry.get("resource"), dict)
        for patient in patients_of(resource_type, entry["resource"], base)))
    return await bundle_response(request, bundle)


@router.api_route(
    "/{compartment_type}/{compartment_id}/{resource_type}", methods=READS,
    dependencies=[require("search-type")]
)
@router.api_route(
    "/{compartment_type}/{compartment_id}/{resource_type}/_search", methods=SEARCHES,
    dependencies=[require("search-type")],
)
async def search_compartment(
    compartment_type: str,
    compartment_id: str,
    resource_type: str,
    service: Service,
    base: Base,
    params: SearchParams,
    prefer: Prefer,
    request: Request,
):
    """Compartment search, e.g. `Patient/123/Encounter`, by GET or by POST with a form body
    (http://hl7.org/fhir/R4/search.html#compartments)."""
    if not is_id(compartment_id):  # `Patient/_history/1`, `Patient/_search/x`
        raise NotFound(f"{compartment_type}/{compartment_id}/{resource_type} names no "
                       f"compartment: '{compartment_id}' is no id (a version is read at "
                       f"{compartment_type}/[id]/_history/[vid])")
    compartment = f"{compartment_type}/{compartment_id}"
    return await _search(request, service, base, params, prefer, resource_type, compartment)


async def _search(
    request: Request,
    service: ResourceService,
    base: str,
    params: list[tuple[str, str]],
    prefer: dict[str, str],
    resource_type: str,
    compartment: str | None = None,
) -> FhirResponse:
    strict = strict_handling(prefer)
    if (restricted := restricted_to(request)) is not None:
        if compartment not in (None, restricted):
            raise Forbidden(f"The token's patient/ scopes allow searching {restricted} only, "
                            f"not {compartment}")
        if resource_type != "*" and resource_type not in compartment_members("Patient"):
            # An authorisation refusal, as a read of one of them is (not a malformed search).
            raise Forbidden(f"The token's patient/ scopes allow searching the compartment of "
                            f"{restricted} only, and {resource_type} resources are not in it")
        compartment = restricted
    scopes = request.state.principal.scopes
    if resource_type == "*" and compartment is not None:  # `Patient/123/*`: every type
        if restricted is not None:  # the launch patient's compartment: patient/ grants hold
            scopes = scopes.within_compartment(compartment_members("Patient"))
        bundle = await service.search_system(base, params, strict, scopes, compartment)
    else:
        bundle = await service.search(base, resource_type, params, strict, compartment, scopes,
                                      scope_queries=reach_of(request).queries)
    return await bundle_response(request, bundle)


@router.api_route("/{resource_type}/{resource_id}/_history/{vid}", methods=READS,
                  dependencies=[require("vread")])
async def vread(resource_type: str, resource_id: str, vid: str, service: Service, request: Request):
    if (reach := reach_of(request)) == Reach():
        version = await service.vread(resource_type, resource_id, vid)
        return await _answer(request, version, None)
    base = await request_base(request)
    scope_query = await check_reach(service, reach, resource_type, resource_id, base)
    version = await service.vread(resource_type, resource_id, vid)
    await check_version_reach(service, reach, scope_query, version, base)
    return await _answer(request, version, None)


@router.api_route("/{resource_type}", methods=READS, dependencies=[require("search-type")])
@router.api_route("/{resource_type}/_search", methods=SEARCHES,
                  dependencies=[require("search-type")])
async def search_type(
    resource_type: str,
    service: Service,
    base: Base,
    params: SearchParams,
    prefer: Prefer,
    request: Request,
):
    """search-type, by GET or by POST with a form body (http://hl7.org/fhir/R4/search.html)."""
    return await _search(request, service, base, params, prefer, resource_type)


async def search_type_response(request: Request, service: ResourceService, resource_type: str
                               ) -> Response:
    """search-type's answer, once the request is authorised (api/direct_routes.py answers
    searches by GET without the route)."""
    return await _search(request, service, await request_base(request),
                         await search_parameters(request), await preferences(request),
                         resource_type)


@router.api_route("/{resource_type}/{resource_id}", methods=READS,
                  dependencies=[require("read")])
async def read(resource_type: str, resource_id: str, service: Service, request: Request):
    return await read_response(request, service, resource_type, resource_id)


async def read_response(request: Request, service: ResourceService, resource_type: str,
                        resource_id: str) -> Response:
    """The read's answer, once the request is authorised (api/direct_routes.py answers
    most reads without the route)."""
    if (reach := reach_of(request)) != Reach():  # most reads: no base URL to work out
        await check_reach(service, reach, resource_type, resource_id,
                          await request_base(request))
    return await _answer(request, await service.read(resource_type, resource_id),
                         service.database.store())


async def _answer(request: Request, version: Version, store: ResourceStore | None) -> Response:
    """A read's or vread's answer: a Binary as its own content unless the client asks for
    FHIR (http://hl7.org/fhir/R4/binary.html#rest), with the reference of its security
    context in `X-Security-Context`; any other resource as FHIR. `store`: where a read's
    version's history is (`not_modified`), None for a vread."""
    # Its AuditEvent names the patients whose data it is (AuditEvent?patient=).
    request.state.audit_patients = patients_of(version.resource_type, version.resource,
                                               await request_base(request))
    if version.resource_type != "Binary" or asks_for_fhir(request):
        return await resource_response(request, version, store)
    if (unchanged := await not_modified(request, version, store)) is not None:
        return unchanged
    binary = version.resource
    assert binary is not None, "read() and vread() refuse deletions"
    headers = version_headers(version)
    context = (binary.get("securityContext") or {}).get("reference")
    if isinstance(context, str) and _HEADER_SAFE.fullmatch(context):
        headers["X-Security-Context"] = context
    # As a header, not media_type: Starlette adds "; charset=utf-8" to a text/* media_type,
    # which would claim a charset the Binary's contentType does not name.
    headers["Content-Type"] = _raw_media_type(binary.get("contentType"))
    # Accept chose the content over the Binary as FHIR: a cache must not hand these bytes
    # to a client asking for application/fhir+json (RFC 9110 §12.5.5), as its 304 says.
    headers.update(VARY)
    return Response(base64.b64decode(binary.get("data", "")), 200, headers)


# A media type as HTTP carries it (RFC 9110 §8.3): token/token, then parameters of visible
# ASCII; a stored Binary.contentType may be any FHIR code, which a header may not hold.
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+"
                         r"(?:\s*;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+=[\x21-\x7e]+)*")


# A header value of visible ASCII (RFC 9110 §5.5), as a stored reference may not be.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def _raw_media_type(content_type: object) -> str:
    """The Content-Type of a Binary's raw content: its contentType when a header can carry
    it, else application/octet-stream (it was a 500, or no answer at all)."""
    if isinstance(content_type, str) and _MEDIA_TYPE.fullmatch(content_type):
        return content_type
    return "application/octet-stream"


# A type's own endpoints, not ids ("_" is no id character): other methods there are 405.
TYPE_ENDPOINTS = {"_history": "GET, HEAD", "_search": "GET, HEAD, POST"}


def _instance_id(resource_type: str, resource_id: str) -> str:
    """`resource_id` of a write to [type]/[id], once [type] is known (and one clients write:
    405 before the body is read, whatever it holds)."""
    check_writable(resource_type)
    if resource_id in TYPE_ENDPOINTS:
        allowed = TYPE_ENDPOINTS[resource_id]
        raise MethodNotAllowed(f"{resource_type}/{resource_id} takes {allowed} only",
                               headers={"Allow": allowed})
    return resource_id


async def _resource(resource_type: str, call: WriteCall, resource_id: str | None = None
                    ) -> object:
    """The resource a create or update sends. A Binary may come as its own content, in any
    other media type: the Binary is made of it (http://hl7.org/fhir/R4/binary.html#rest)."""
    content_type = raw_content_type(call.request) if resource_type == "Binary" else None
    if content_type is None:
        return await call.body()
    content = await read_body(call.request, call.settings.max_body_bytes)
    input_size.set(len(content))  # telling FHIR from content parses it: off the loop if large
    if await run_sized(holds_fhir, content_type, content):
        return await call.parsed(content)
    binary: dict = {"resourceType": "Binary", "contentType": content_type}
    # The reference the Binary takes its access rules from (binary.html#rest), validated
    # with the rest of the Binary.
    if (context := call.request.headers.get("x-security-context")) is not None:
        binary["securityContext"] = {"reference": context}
    if content:  # an empty body is a Binary without data (Binary.data is 0..1)
        binary["data"] = base64.b64encode(content).decode()
    return {**binary, "id": resource_id} if resource_id else binary


@router.post("/{resource_type}", dependencies=[require("create")])
async def create(resource_type: str, call: Write):
    check_writable(resource_type)
    check_create_parameters(call.request.query_params, phrase("entry.if-none-exist-header"))
    if_none_exist = _header_text(call.request.headers.get("if-none-exist"))
    if if_none_exist is not None:  # criteria bounded as a query string's parameters are
        check_query_counts(if_none_exist, call.settings.max_parameters,
                           call.settings.max_parameter_repeats)
    body = await _resource(resource_type, call)
    result = await call.service.create(resource_type, body, if_none_exist)
    return write_response(call, result)


def _header_text(value: str | None) -> str | None:
    """A header holding FHIR text (If-None-Exist's criteria) as the UTF-8 clients send when
    they do not percent-encode it (`Lê`): HTTP reads header bytes as ISO-8859-1, and the
    criteria then matched nothing and the create made a duplicate."""
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not UTF-8: as read
        return value


@router.put("/{resource_type}/{resource_id}", dependencies=[require("update")])
async def update(resource_type: str, resource_id: str, call: Write):
    _instance_id(resource_type, resource_id)
    body = await _resource(resource_type, call, resource_id)
    return write_response(
        call, await call.service.update(resource_type, resource_id, body, call.precondition)
    )


@router.put("/{resource_type}", dependencies=[require("update")])
async def conditional_update(resource_type: str, call: Write):
    check_writable(resource_type)
    query = _criteria(call.request)
    body = await call.body()
    return write_response(
        call, await call.service.conditional_update(resource_type, query, body, call.precondition)
    )


@router.patch("/{resource_type}/{resource_id}", dependencies=[require("patch")])
async def patch(resource_type: str, resource_id: str, call: Write):
    return await _patch(resource_type, _instance_id(resource_type, resource_id), None, call)


@router.patch("/{resource_type}", dependencies=[require("patch")])
async def conditional_patch(resource_type: str, call: Write):
    check_writable(resource_type)
    return await _patch(resource_type, None, _criteria(call.request), call)


async def _patch(
    resource_type: str, resource_id: str | None, query: str | None, call: WriteCall
) -> Response:
    check_writable(resource_type)
    # JSON Patch, or FHIRPath Patch: a Parameters resource in FHIR JSON or XML.
    try:
        operations = await call.body(media_types=(JSON_PATCH, *JSON_MEDIA_TYPES))
    except UnsupportedMediaType as unsupported:
        # RFC 5789 §2.2: the 415 of a patch document "SHOULD include an Accept-Patch".
        unsupported.headers["Accept-Patch"] = ACCEPT_PATCH
        raise
    if not sends_json_patch(call.request) and not is_fhirpath_patch(operations):
        # A media type patches take, holding no patch of it: the body is wrong, not its type.
        raise refusal(BadRequest, "body.patch-not-parameters", json_patch=JSON_PATCH)
    result = await call.service.patch(resource_type, resource_id, query, operations,
                                      call.precondition)
    return write_response(call, result)


@router.delete("/{resource_type}/{resource_id}", dependencies=[require("delete")])
async def delete(resource_type: str, resource_id: str, service: Service,
                 precondition: WritePrecondition, prefer: Prefer, request: Request):
    result = await service.delete(resource_type, _instance_id(resource_type, resource_id),
                                  precondition)
    return delete_response(request, prefer, result)


@router.delete("/{resource_type}", dependencies=[require("delete")])
async def conditional_delete(resource_type: str, service: Service, precondition: WritePrecondition,
                             prefer: Prefer, request: Request):
    check_writable(resource_type)
    result = await service.conditional_delete(resource_type, _criteria(request), precondition)
    return delete_response(request, prefer, result)
