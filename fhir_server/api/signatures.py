"""Signature verification operations: `Provenance/{id}/$verify` and `$verify-signature`
(README "Signature contract")."""

from fastapi import APIRouter, Request

from fhir_server.api.dependencies import Service, Write
from fhir_server.api.media import FhirResponse
from fhir_server.api.security import require
from fhir_server.errors import NotFound

router = APIRouter()


@router.get("/{resource_type}/{resource_id}/$verify", dependencies=[require("read")])
async def verify_provenance(
    resource_type: str, resource_id: str, service: Service, request: Request
):
    """Each signature of a stored Provenance checked against the stored target version."""
    if resource_type != "Provenance":
        raise NotFound(f"$verify is defined on Provenance, not on {resource_type}")
    return FhirResponse(request, await service.verify_provenance(resource_id))


@router.post("/$verify-signature")
async def verify_signature(service: Service, call: Write):
    """A Provenance sent in (`provenance`) checked against the resources sent with it."""
    parameters = await call.body()
    return FhirResponse(call.request, await service.verify_signature(parameters))
