"""`ConceptMap/$translate` and `ConceptMap/{id}/$translate`
(http://hl7.org/fhir/R4/conceptmap-operation-translate.html)."""

from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.api.operations.terminology import CORE, instance, terminology_input
from fhir_server.conformance.operations import INSTANCE, TYPE, OperationDescriptor
from fhir_server.services.terminology import stored_concept_maps
from fhir_server.services.translation import coded_systems, names_one_map, translate


async def translate_code(call: OperationCall) -> FhirResponse:
    given = await terminology_input(call)
    concept_map = await instance(call, given)
    stored = [] if names_one_map(given, concept_map) else await stored_concept_maps(
        call.service.database.store(), coded_systems(given), given.flag("reverse"))
    return FhirResponse(call.request, translate(given, concept_map, stored))


OPERATIONS = tuple(
    Operation(OperationDescriptor("translate", f"{CORE}/ConceptMap-translate", level,
                                  ("ConceptMap",)), translate_code)
    for level in (TYPE, INSTANCE)
)
