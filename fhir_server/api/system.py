"""System-level interactions: metadata, batch/transaction, system history."""

from datetime import UTC, datetime
from importlib.metadata import version

from fastapi import APIRouter, Request

from fhir_server.api.dependencies import (
    Base,
    Bundles,
    Prefer,
    QueryParams,
    ServerSettings,
    Service,
    return_preference,
)
from fhir_server.api.media import FhirResponse, json_body
from fhir_server.conformance.capability import capability_statement

router = APIRouter()
_STARTED = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get("/metadata")
async def metadata(base: Base, request: Request):
    """capabilities (http://hl7.org/fhir/R4/http.html#capabilities)."""
    statement = capability_statement(base, version("fhir-exchange-server"), _STARTED)
    return FhirResponse(request, statement)


@router.post("")
@router.post("/")
async def batch_or_transaction(
    bundles: Bundles, settings: ServerSettings, base: Base, prefer: Prefer, request: Request
):
    bundle = await json_body(request, settings.max_body_bytes, settings.max_json_depth)
    return FhirResponse(request, await bundles.process(base, bundle, return_preference(prefer)))


@router.get("/_history")
async def system_history(service: Service, base: Base, params: QueryParams, request: Request):
    return FhirResponse(request, await service.history(base, params))
