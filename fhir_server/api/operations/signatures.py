"""Signature verification (README "Signature contract"): `Provenance/{id}/$verify` checks a
stored Provenance's signatures against the stored targets; `$verify-signature` checks a
Provenance sent in against the resources sent with it."""

from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import INSTANCE, SYSTEM, OperationDescriptor

# Our own operations, so our own canonical URLs.
_VERIFY = "urn:fhir-exchange-server:OperationDefinition/Provenance-verify"
_VERIFY_SIGNATURE = "urn:fhir-exchange-server:OperationDefinition/verify-signature"


async def verify_provenance(call: OperationCall) -> FhirResponse:
    await call.single_parameters(())  # it takes none: a body that is not Parameters is 400
    return FhirResponse(call.request, await call.service.verify_provenance(
        call.resource_id or "", call.caller.scopes))


async def verify_signature(call: OperationCall) -> FhirResponse:
    return FhirResponse(call.request, await call.service.verify_signature(await call.body()))


OPERATIONS = (
    Operation(
        OperationDescriptor("verify", _VERIFY, INSTANCE, ("Provenance",),
                            checks_own_parameters=True),
        verify_provenance,
    ),
    Operation(
        OperationDescriptor("verify-signature", _VERIFY_SIGNATURE, SYSTEM, interaction="none",
                            methods=("POST",)),
        verify_signature,
    ),
)
