"""`CodeSystem/$lookup` and `ValueSet/$expand` over the terminology the server holds
(http://hl7.org/fhir/R4/terminology-service.html)."""

from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import TYPE, OperationDescriptor
from fhir_server.services.terminology import expand_value_set, lookup

_CORE = "http://hl7.org/fhir/OperationDefinition"


async def lookup_code(call: OperationCall) -> FhirResponse:
    return FhirResponse(call.request, lookup(await call.parameters()))


async def expand_value_set_operation(call: OperationCall) -> FhirResponse:
    return FhirResponse(call.request, expand_value_set(await call.parameters()))


OPERATIONS = (
    Operation(OperationDescriptor("lookup", f"{_CORE}/CodeSystem-lookup", TYPE, ("CodeSystem",)),
              lookup_code),
    Operation(OperationDescriptor("expand", f"{_CORE}/ValueSet-expand", TYPE, ("ValueSet",)),
              expand_value_set_operation),
)
