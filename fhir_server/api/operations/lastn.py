"""`Observation/$lastn` (http://hl7.org/fhir/R4/observation-operation-lastn.html): the most
recent Observations of each code (services/lastn.py)."""

from fastapi.responses import Response

from fhir_server.api.media import bundle_response
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import TYPE, OperationDescriptor
from fhir_server.services.lastn import LastN, parse_max


async def lastn(call: OperationCall) -> Response:
    params = await call.parameters()
    most_recent = parse_max(next((value for name, value in params if name == "max"), None))
    service = call.service
    searcher = LastN(service.database.store(), call.base, call.caller.scopes, service.max_count)
    criteria = [(name, value) for name, value in params if name != "max"]
    return await bundle_response(call.request, await searcher.search(criteria, most_recent,
                                                                  await call.strict()))


OPERATIONS = (
    Operation(OperationDescriptor("lastn", "http://hl7.org/fhir/OperationDefinition/"
                                  "Observation-lastn", TYPE, ("Observation",),
                                  interaction="search-type", checks_own_parameters=True),
              lastn),
)
