"""`Patient/$everything` (with or without an id) and `Encounter/{id}/$everything`
(http://hl7.org/fhir/R4/operation-patient-everything.html,
http://hl7.org/fhir/R4/operation-encounter-everything.html)."""

from fhir_server.api.media import FhirResponse, bundle_response
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import INSTANCE, TYPE, OperationDescriptor
from fhir_server.search.request import PRESENTATION
from fhir_server.services.everything import Everything, parse_everything

_CORE = "http://hl7.org/fhir/OperationDefinition"


async def everything(call: OperationCall) -> FhirResponse:
    service = call.service
    kind = call.resource_type or ""
    patient_id = call.resource_id
    if patient_id is None and not call.caller.scopes.allows_outside_compartment(kind, "s"):
        # Without an id, "all patients that the user ... has access to": a token that reads
        # only its launch patient's compartment (patient/ scopes) has that one record.
        patient_id = call.caller.patient
    if patient_id is not None:
        await service.read(kind, patient_id)  # 404 unknown, 410 deleted
    request = parse_everything(
        kind,
        patient_id,
        await call.parameters(),
        call.caller.scopes,
        service.default_count,
        service.max_count,
        await call.strict(),
        # Its pages' links keep the format asked for, as a search's do.
        [(name, value) for name, value in call.request.query_params.multi_items()
         if name in PRESENTATION],
    )
    searcher = Everything(service.database.store(), service.cursors, call.base, call.caller.scopes,
                          service.response_limits.max_bytes)
    return await bundle_response(call.request, await searcher.page(request))


OPERATIONS = (
    Operation(
        OperationDescriptor("everything", f"{_CORE}/Patient-everything", INSTANCE, ("Patient",),
                            launch_patient=True, checks_own_parameters=True),
        everything,
    ),
    Operation(
        # Without an id it lists every patient, as a search does: it needs search scope
        # (with patient/ scopes alone, the launch patient's record).
        OperationDescriptor("everything", f"{_CORE}/Patient-everything", TYPE, ("Patient",),
                            interaction="search-type", launch_patient=True,
                            checks_own_parameters=True),
        everything,
    ),
    Operation(
        OperationDescriptor("everything", f"{_CORE}/Encounter-everything", INSTANCE,
                            ("Encounter",), checks_own_parameters=True),
        everything,
    ),
)
