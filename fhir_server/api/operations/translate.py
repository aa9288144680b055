"""`ConceptMap/$translate` and `ConceptMap/{id}/$translate`
(http://hl7.org/fhir/R4/conceptmap-operation-translate.html)."""

from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.api.operations.terminology import CORE, instance, terminology_input
from fhir_server.conformance.operations import INSTANCE, TYPE, OperationDescriptor
from fhir_server.services.offloading import run_off_the_loop
from fhir_server.services.terminology import stored_concept_maps, stored_terminology
from fhir_server.services.translation import (
    coded_systems,
    names_one_map,
    other_maps,
    translate,
)

# How many `other-map` links are followed to maps stored through the API.
_OTHER_MAP_DEPTH = 8


async def translate_code(call: OperationCall) -> FhirResponse:
    given = await terminology_input(call)
    concept_map = await instance(call, given)
    store = call.service.database.store()
    stored = [] if names_one_map(given, concept_map) else await stored_concept_maps(
        store, coded_systems(given), given.flag("reverse"))
    # The stored maps an `other-map` rule names, which the registry does not hold.
    named = [m for m in (concept_map, given.resource("conceptMap", "ConceptMap"), *stored) if m]
    for _ in range(_OTHER_MAP_DEPTH):
        held = {m.get("url") for m in stored}
        wanted = [url for url in other_maps(named) if url not in held]
        named = [m for url in wanted
                 if (m := await stored_terminology(store, "ConceptMap", url, None))]
        if not named:
            break
        stored += named
    # In a worker thread: a translation through many maps may take long.
    return FhirResponse(call.request,
                        await run_off_the_loop(translate, given, concept_map, stored))


OPERATIONS = tuple(
    Operation(OperationDescriptor("translate", f"{CORE}/ConceptMap-translate", level,
                                  ("ConceptMap",)), translate_code)
    for level in (TYPE, INSTANCE)
)
