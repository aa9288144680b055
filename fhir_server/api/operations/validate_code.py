"""`CodeSystem/$validate-code` and `ValueSet/$validate-code`, at type level and on a stored
instance (http://hl7.org/fhir/R4/codesystem-operation-validate-code.html,
http://hl7.org/fhir/R4/valueset-operation-validate-code.html)."""

from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.api.operations.terminology import (
    CORE,
    drawn_on_stored,
    instance,
    supplements_stored_for,
    terminology_input,
)
from fhir_server.conformance.held_terminology import drawing_on
from fhir_server.conformance.operations import INSTANCE, TYPE, OperationDescriptor
from fhir_server.services.code_validation import validate_in_code_system, validate_in_value_set
from fhir_server.services.offloading import run_off_the_loop


async def validate_code(call: OperationCall) -> FhirResponse:
    validate = (validate_in_code_system if call.resource_type == "CodeSystem"
                else validate_in_value_set)
    given = await terminology_input(call)
    resource = await instance(call, given)
    drawn_on = (await supplements_stored_for(call, given, resource)
                if call.resource_type == "CodeSystem"
                else await drawn_on_stored(call, given, resource))
    # In a worker thread, as `$expand`: checking a code may expand a costly value set.
    return FhirResponse(call.request, await run_off_the_loop(
        drawing_on, drawn_on, validate, given, resource))


OPERATIONS = tuple(
    Operation(OperationDescriptor("validate-code", f"{CORE}/{kind}-validate-code", level,
                                  (kind,)), validate_code)
    for kind in ("CodeSystem", "ValueSet") for level in (TYPE, INSTANCE)
)
