"""System-level interactions: metadata, batch/transaction, system history."""

from datetime import UTC, datetime
from importlib.metadata import version

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
from fhir_server.conformance.capability import capability_statement
from fhir_server.services.reindex import reindex
from fhir_server.services.resources import ResourceService, check_type

router = APIRouter()
_STARTED = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get("/metadata")
async def metadata(base: Base, request: Request):
    """capabilities (http://hl7.org/fhir/R4/http.html#capabilities)."""
    statement = capability_statement(base, version("fhir-exchange-server"), _STARTED)
    return FhirResponse(request, statement)


@router.post("")
@router.post("/")
async def batch_or_transaction(bundles: Bundles, call: Write):
    """batch/transaction (http://hl7.org/fhir/R4/http.html#transaction)."""
    response = await bundles.process(call.base, await call.body(), return_preference(call.prefer))
    return FhirResponse(call.request, response)


@router.get("/_history")
async def system_history(service: Service, base: Base, params: QueryParams, request: Request):
    return FhirResponse(request, await service.history(base, params))


async def _reindex(service: ResourceService, request: Request, types: list[str] | None):
    counts = await reindex(service.database, types)
    parameters = [{"name": kind, "valueInteger": count} for kind, count in counts.items()]
    return FhirResponse(request, {"resourceType": "Parameters", "parameter": parameters})


@router.post("/$reindex")
async def reindex_system(service: Service, request: Request):
    """Re-index stale resources of every type; the output counts them per type."""
    return await _reindex(service, request, None)


@router.post("/{resource_type}/$reindex")
async def reindex_type(resource_type: str, service: Service, request: Request):
    return await _reindex(service, request, [check_type(resource_type)])
