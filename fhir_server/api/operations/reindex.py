"""`$reindex` at system and type level (README "Command line"): recompute the search
entries of resources indexed under older definitions."""

from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import EVERY_TYPE, SYSTEM, TYPE, OperationDescriptor
from fhir_server.services.reindex import reindex

# Our own operation, so our own canonical URL.
DEFINITION = "urn:fhir-exchange-server:OperationDefinition/reindex"


async def reindex_resources(call: OperationCall) -> FhirResponse:
    """The output counts the re-indexed resources per type."""
    types = [call.resource_type] if call.resource_type else None
    counts = await reindex(call.service.database, types, call.service.index_currency)
    parameters = [{"name": kind, "valueInteger": count} for kind, count in counts.items()]
    return FhirResponse(call.request, {"resourceType": "Parameters", "parameter": parameters})


OPERATIONS = (
    Operation(
        OperationDescriptor("reindex", DEFINITION, SYSTEM, interaction="update",
                            methods=("POST",)),
        reindex_resources,
    ),
    Operation(
        OperationDescriptor("reindex", DEFINITION, TYPE, EVERY_TYPE, interaction="update",
                            methods=("POST",)),
        reindex_resources,
    ),
)
