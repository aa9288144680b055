"""`$validate` at type and instance level, GET and POST
(http://hl7.org/fhir/R4/resource-operation-validate.html)."""

from fhir_server.api.languages import outcome_language
from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.api.request_state import state_value
from fhir_server.conformance.operations import EVERY_TYPE, INSTANCE, TYPE, OperationDescriptor
from fhir_server.conformance.registry import NOT_STORED_TYPES
from fhir_server.errors import InvalidResource, Issue, operation_outcome
from fhir_server.services.parameters import resource_parameter
from fhir_server.services.resource_validation import is_input, parse_validate, validate

_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"


async def validate_resource(call: OperationCall) -> FhirResponse:
    language = outcome_language(call.request)
    try:
        body = await call.posted_body()
    except InvalidResource as unread:
        # Well-formed XML that is no valid FHIR (an unknown element, `value="yes"` for a
        # boolean): a finding of the validation, as in JSON, not a refusal of the request.
        return _outcome(call, unread.issues, language)
    resource_type = call.resource_type or ""
    if is_input(body, resource_type):
        request = parse_validate(call.input_pairs(body),
                                 resource_parameter(body, "resource", "$validate"))
    else:
        request = parse_validate(call.input_pairs(None), body)
    # XML elements out of order were read in order all the same: warnings.
    disorder = state_value(call.request, "xml_disorder") or []
    issues = await validate(call.service, resource_type, call.resource_id, request, disorder)
    return _outcome(call, issues, language)


def _outcome(call: OperationCall, issues: list[Issue], language: str) -> FhirResponse:
    return FhirResponse(call.request, operation_outcome(issues, language))


OPERATIONS = (
    # At type level on Parameters too, never stored: how a client checks an operation's body.
    Operation(OperationDescriptor("validate", _DEFINITION, TYPE, EVERY_TYPE,
                                  unstored_types=tuple(NOT_STORED_TYPES)), validate_resource),
    Operation(OperationDescriptor("validate", _DEFINITION, INSTANCE, EVERY_TYPE),
              validate_resource),
)
