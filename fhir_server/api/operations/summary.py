"""`Patient/[id]/$summary` and `Patient/$summary?identifier=system|value` (IPS 2.0.0,
http://hl7.org/fhir/uv/ips/OperationDefinition-summary.html): the patient's International
Patient Summary, a `document` Bundle made on request (services/patient_summary.py)."""

from fastapi.responses import Response

from fhir_server.api.media import bundle_response
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.definitions import registry
from fhir_server.conformance.operations import INSTANCE, TYPE, OperationDescriptor
from fhir_server.errors import BadRequest
from fhir_server.services.documents import DocumentAssembly
from fhir_server.services.patient_summary import IPS_COMPOSITION, PatientSummary
from fhir_server.services.versions import utc_now

_DEFINITION = "http://hl7.org/fhir/uv/ips/OperationDefinition/summary"
_PARAMETERS = ("identifier", "profile")


async def summary(call: OperationCall) -> Response:
    values = await call.single_parameters(_PARAMETERS)
    # "A specific version may be requested using a canonical reference (e.g.
    # ...Composition-uv-ips|2.0.0)": the installed one's.
    url, _, version = values.get("profile", IPS_COMPOSITION).partition("|")
    made = registry().resolve(IPS_COMPOSITION) or {}
    if url != IPS_COMPOSITION or version not in ("", made.get("version")):
        raise BadRequest(f"This server makes summaries of the IPS profile {IPS_COMPOSITION}"
                         f"|{made.get('version')} only, not {values['profile']}",
                         expression="profile")
    if call.resource_id is not None and "identifier" in values:
        raise BadRequest("Name the patient by the id in the path or by identifier, not both",
                         expression="identifier")
    service = call.service
    assembly = DocumentAssembly(service.database.store(), call.base, call.caller.scopes)
    summariser = PatientSummary(assembly, service.provenance.hospital.organization())
    patient = await summariser.patient(call.resource_id, values.get("identifier"))
    document = await summariser.document(patient, utc_now())
    return await bundle_response(
        call.request, await service.provenance.seal_document(assembly.store, document))


OPERATIONS = tuple(
    Operation(OperationDescriptor("summary", _DEFINITION, level, ("Patient",),
                                  launch_patient=level == INSTANCE,
                                  checks_own_parameters=True), summary)
    for level in (TYPE, INSTANCE)
)
