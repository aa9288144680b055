"""Type- and instance-level interactions: /fhir/{type}[/{id}[/_history[/{vid}]]]."""

import base64

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.api.dependencies import Base, IfMatch, Prefer, QueryParams, ServerSettings, Service
from fhir_server.api.media import (
    JSON_PATCH,
    FhirResponse,
    accepts_fhir,
    json_body,
)
from fhir_server.api.results import (
    delete_response,
    resource_response,
    version_headers,
    write_response,
)
from fhir_server.errors import BadRequest
from fhir_server.search.criteria import RESULT_PARAMETERS
from fhir_server.services.resources import check_type

router = APIRouter()


def _criteria(request: Request) -> str:
    """The conditional criteria of a request, without result parameters like _format."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in RESULT_PARAMETERS]
    if not params:
        raise BadRequest(
            f"{request.method} on a resource type needs search criteria "
            "(conditional interaction) or an id in the URL"
        )
    return str(request.url.query)


async def _body(request: Request, settings: ServerSettings) -> object:
    return await json_body(request, settings.max_body_bytes, settings.max_json_depth)


@router.get("/{resource_type}/_history")
async def type_history(
    resource_type: str, service: Service, base: Base, params: QueryParams, request: Request
):
    return FhirResponse(request, await service.history(base, params, resource_type))


@router.get("/{resource_type}/{resource_id}/_history")
async def instance_history(
    resource_type: str,
    resource_id: str,
    service: Service,
    base: Base,
    params: QueryParams,
    request: Request,
):
    return FhirResponse(request, await service.history(base, params, resource_type, resource_id))


@router.get("/{resource_type}/{resource_id}/_history/{vid}")
async def vread(resource_type: str, resource_id: str, vid: str, service: Service, request: Request):
    return resource_response(request, await service.vread(resource_type, resource_id, vid))


@router.get("/{resource_type}")
async def search_type(
    resource_type: str,
    service: Service,
    base: Base,
    params: QueryParams,
    prefer: Prefer,
    request: Request,
):
    strict = prefer.get("handling") == "strict"
    return FhirResponse(request, await service.search(base, resource_type, params, strict))


@router.post("/{resource_type}/_search")
async def search_type_post(
    resource_type: str,
    service: Service,
    base: Base,
    params: QueryParams,
    prefer: Prefer,
    request: Request,
):
    form = await request.form()
    merged = params + [(k, str(v)) for k, v in form.multi_items()]
    strict = prefer.get("handling") == "strict"
    return FhirResponse(request, await service.search(base, resource_type, merged, strict))


@router.get("/{resource_type}/{resource_id}")
async def read(resource_type: str, resource_id: str, service: Service, request: Request):
    version = await service.read(resource_type, resource_id)
    if resource_type == "Binary" and not accepts_fhir(request):
        # A Binary is served as its own content when FHIR is not asked for (binary.html#rest).
        return Response(
            base64.b64decode(version.resource.get("data", "")),
            200,
            version_headers(version),
            media_type=version.resource.get("contentType", "application/octet-stream"),
        )
    return resource_response(request, version)


@router.post("/{resource_type}")
async def create(
    resource_type: str,
    service: Service,
    settings: ServerSettings,
    base: Base,
    prefer: Prefer,
    request: Request,
):
    check_type(resource_type)
    body = await _body(request, settings)
    result = await service.create(resource_type, body, request.headers.get("if-none-exist"))
    return write_response(request, base, result, prefer)


@router.put("/{resource_type}/{resource_id}")
async def update(
    resource_type: str,
    resource_id: str,
    service: Service,
    settings: ServerSettings,
    base: Base,
    prefer: Prefer,
    if_match: IfMatch,
    request: Request,
):
    check_type(resource_type)
    body = await _body(request, settings)
    result = await service.update(resource_type, resource_id, body, if_match)
    return write_response(request, base, result, prefer)


@router.put("/{resource_type}")
async def conditional_update(
    resource_type: str,
    service: Service,
    settings: ServerSettings,
    base: Base,
    prefer: Prefer,
    if_match: IfMatch,
    request: Request,
):
    check_type(resource_type)
    query = _criteria(request)
    body = await _body(request, settings)
    result = await service.conditional_update(resource_type, query, body, if_match)
    return write_response(request, base, result, prefer)


async def _patch(
    resource_type: str,
    resource_id: str | None,
    query: str | None,
    service,
    settings,
    base,
    prefer,
    if_match,
    request,
):
    check_type(resource_type)
    operations = await json_body(
        request, settings.max_body_bytes, settings.max_json_depth, media_types=(JSON_PATCH,)
    )
    result = await service.patch(resource_type, resource_id, query, operations, if_match)
    return write_response(request, base, result, prefer)


@router.patch("/{resource_type}/{resource_id}")
async def patch(
    resource_type: str,
    resource_id: str,
    service: Service,
    settings: ServerSettings,
    base: Base,
    prefer: Prefer,
    if_match: IfMatch,
    request: Request,
):
    return await _patch(
        resource_type, resource_id, None, service, settings, base, prefer, if_match, request
    )


@router.patch("/{resource_type}")
async def conditional_patch(
    resource_type: str,
    service: Service,
    settings: ServerSettings,
    base: Base,
    prefer: Prefer,
    if_match: IfMatch,
    request: Request,
):
    return await _patch(
        resource_type, None, _criteria(request), service, settings, base, prefer, if_match, request
    )


@router.delete("/{resource_type}/{resource_id}")
async def delete(resource_type: str, resource_id: str, service: Service, if_match: IfMatch):
    return delete_response(await service.delete(resource_type, resource_id, if_match))


@router.delete("/{resource_type}")
async def conditional_delete(resource_type: str, service: Service, request: Request):
    check_type(resource_type)
    return delete_response(await service.conditional_delete(resource_type, _criteria(request)))
