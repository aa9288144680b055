"""`Patient/$match` (http://hl7.org/fhir/R4/patient-operation-match.html): stored patients
who may be the one described, graded (services/patient_match.py)."""

from fastapi.responses import Response

from fhir_server.api.media import bundle_response
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import TYPE, OperationDescriptor
from fhir_server.errors import BadRequest
from fhir_server.services.parameters import resource_parameter
from fhir_server.services.patient_match import PatientMatch, parse_match


async def match(call: OperationCall) -> Response:
    body = await call.posted_body()
    if isinstance(body, dict) and body.get("resourceType") == "Patient":
        # Patient-match: "(e.g. POST a patient record to Patient/$match)", as HAPI takes it.
        body = {"resourceType": "Parameters", "parameter": [{"name": "resource",
                                                             "resource": body}]}
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("The body of Patient/$match is the Patient, or a Parameters resource "
                         "with the Patient as its resource parameter")
    request = parse_match(resource_parameter(body, "resource", "$match"), call.input_pairs(body))
    matcher = PatientMatch(call.service.database.store(), call.base, call.caller.scopes)
    return await bundle_response(call.request, await matcher.matches(request))


OPERATIONS = (
    Operation(OperationDescriptor("match", "http://hl7.org/fhir/OperationDefinition/"
                                  "Patient-match", TYPE, ("Patient",),
                                  interaction="search-type", methods=("POST",)), match),
)
