"""`ConceptMap/$translate` and `ConceptMap/{id}/$translate`
(http://hl7.org/fhir/R4/conceptmap-operation-translate.html)."""

from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.api.operations.terminology import CORE, instance, terminology_input
from fhir_server.conformance.operations import INSTANCE, TYPE, OperationDescriptor
from fhir_server.services.translation import translate


async def translate_code(call: OperationCall) -> FhirResponse:
    given = await terminology_input(call)
    return FhirResponse(call.request, translate(given, await instance(call, given)))


OPERATIONS = tuple(
    Operation(OperationDescriptor("translate", f"{CORE}/ConceptMap-translate", level,
                                  ("ConceptMap",)), translate_code)
    for level in (TYPE, INSTANCE)
)
