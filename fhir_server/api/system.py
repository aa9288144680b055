"""System-level interactions: batch/transaction, system history, $reindex."""

from fastapi import APIRouter, Request

from fhir_server.api.dependencies import (
    Base,
    Bundles,
    QueryParams,
    Service,
    Write,
    return_preference,
)
from fhir_server.api.media import FhirResponse
from fhir_server.api.security import Caller, require
from fhir_server.services.reindex import reindex
from fhir_server.services.resources import ResourceService, check_type

router = APIRouter()


@router.post("")
@router.post("/")
async def batch_or_transaction(bundles: Bundles, call: Write, caller: Caller):
    """batch/transaction (http://hl7.org/fhir/R4/http.html#transaction); each entry needs
    the scopes of its own interaction."""
    bundle = await call.body()
    if isinstance(bundle, dict) and bundle.get("type") in ("batch", "transaction"):
        call.request.state.interaction = bundle["type"]
    response = await bundles.process(
        call.base, bundle, return_preference(call.prefer), caller.scopes
    )
    return FhirResponse(call.request, response)


@router.get("/_history")
async def system_history(
    service: Service, base: Base, params: QueryParams, request: Request, caller: Caller
):
    """history-system over the types the token may search."""
    return FhirResponse(request, await service.history(base, params, permissions=caller.scopes))


async def _reindex(service: ResourceService, request: Request, types: list[str] | None):
    counts = await reindex(service.database, types)
    parameters = [{"name": kind, "valueInteger": count} for kind, count in counts.items()]
    return FhirResponse(request, {"resourceType": "Parameters", "parameter": parameters})


@router.post("/$reindex", dependencies=[require("update")])
async def reindex_system(service: Service, request: Request):
    """Re-index stale resources of every type; the output counts them per type."""
    return await _reindex(service, request, None)


@router.post("/{resource_type}/$reindex", dependencies=[require("update")])
async def reindex_type(resource_type: str, service: Service, request: Request):
    return await _reindex(service, request, [check_type(resource_type)])
