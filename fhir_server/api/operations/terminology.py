"""`CodeSystem/$lookup`, `CodeSystem/$subsumes` and `ValueSet/$expand` (also
`ValueSet/{id}/$expand` for a ValueSet stored here) over the terminology the server holds
(http://hl7.org/fhir/R4/terminology-service.html), and what every terminology operation
reads of its invocation."""

from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import INSTANCE, TYPE, OperationDescriptor
from fhir_server.services.terminology import expand_value_set, lookup, subsumes
from fhir_server.services.terminology_input import TerminologyInput, read_input

CORE = "http://hl7.org/fhir/OperationDefinition"


async def terminology_input(call: OperationCall) -> TerminologyInput:
    """The query's parameters and those of a POSTed `Parameters`, complex ones included."""
    body = await call.body() if call.request.method == "POST" else None
    return read_input(f"${call.descriptor.name}", list(call.request.query_params.multi_items()),
                      body)


async def instance(call: OperationCall) -> dict | None:
    """The stored resource an instance-level invocation is on (404 unknown, 410 deleted)."""
    if call.resource_id is None or call.resource_type is None:
        return None
    return (await call.service.read(call.resource_type, call.resource_id)).resource


async def lookup_code(call: OperationCall) -> FhirResponse:
    return FhirResponse(call.request, lookup(await terminology_input(call)))


async def subsumes_codes(call: OperationCall) -> FhirResponse:
    return FhirResponse(call.request, subsumes(await terminology_input(call), await instance(call)))


async def expand_value_set_operation(call: OperationCall) -> FhirResponse:
    given = await terminology_input(call)
    return FhirResponse(call.request, expand_value_set(given, await instance(call)))


OPERATIONS = (
    Operation(OperationDescriptor("lookup", f"{CORE}/CodeSystem-lookup", TYPE, ("CodeSystem",)),
              lookup_code),
    *(Operation(OperationDescriptor("subsumes", f"{CORE}/CodeSystem-subsumes", level,
                                    ("CodeSystem",)), subsumes_codes)
      for level in (TYPE, INSTANCE)),
    *(Operation(OperationDescriptor("expand", f"{CORE}/ValueSet-expand", level, ("ValueSet",)),
                expand_value_set_operation) for level in (TYPE, INSTANCE)),
)
