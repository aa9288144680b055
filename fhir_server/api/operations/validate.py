"""`$validate` at type and instance level, GET and POST
(http://hl7.org/fhir/R4/resource-operation-validate.html)."""

from fhir_server.api.languages import outcome_language
from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import EVERY_TYPE, INSTANCE, TYPE, OperationDescriptor
from fhir_server.services.resource_validation import parse_validate, validate

_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"


async def validate_resource(call: OperationCall) -> FhirResponse:
    body = await call.body() if call.request.method == "POST" and not call.without_body() else None
    request = parse_validate(list(call.request.query_params.multi_items()), body)
    issues = await validate(call.service, call.resource_type or "", call.resource_id, request)
    language = outcome_language(call.request)
    return FhirResponse(call.request, {"resourceType": "OperationOutcome",
                                       "issue": [issue.to_fhir(language) for issue in issues]})


OPERATIONS = tuple(
    Operation(OperationDescriptor("validate", _DEFINITION, level, EVERY_TYPE), validate_resource)
    for level in (TYPE, INSTANCE)
)
