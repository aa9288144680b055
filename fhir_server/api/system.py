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
