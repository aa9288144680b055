"""The routes of every registered operation: `/$name`, `/{type}/$name`,
`/{type}/{id}/$name` and, for those that take a version, `/{type}/{id}/_history/{vid}/$name`,
by GET (and HEAD) or POST as each operation allows. Included before the other
routers, so that `Patient/$everything` is no read."""

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.api import operations
from fhir_server.api.dependencies import negotiate
from fhir_server.api.operations.base import OperationCall
from fhir_server.api.security import check_interaction_scopes
from fhir_server.auth.scopes import INTERACTION_PERMISSION
from fhir_server.auth.tokens import Principal
from fhir_server.conformance.operations import INSTANCE, SYSTEM, TYPE, OperationDescriptor
from fhir_server.conformance.search_parameters import compartment_members
from fhir_server.errors import MethodNotAllowed, NotFound
from fhir_server.services.resources import check_type

router = APIRouter()
# Every method reaches the operation, OPTIONS too: its 405 names the methods it takes.
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def invoke(
    request: Request, level: str, name: str, resource_type: str | None = None,
    resource_id: str | None = None, version_id: str | None = None,
) -> Response:
    operation = operations.find(level, name, resource_type)
    if resource_type is not None and (
            operation is None or resource_type not in operation.descriptor.unstored_types):
        check_type(resource_type)
    if operation is None or (version_id is not None and not operation.descriptor.versions):
        where = f" on {resource_type}" if resource_type else ""
        where += " versions" if version_id is not None else ""
        raise NotFound(f"This server has no operation ${name} at {level} level{where}; "
                       "the CapabilityStatement (/metadata) lists those it has")
    descriptor = operation.descriptor
    if descriptor.negotiated:
        await negotiate(request)
    # HEAD wherever GET is (http.html#head), with GET's headers and no body (uvicorn's part),
    # but where GET starts work: HEAD is a safe method (RFC 9110 §9.2.1).
    method = "GET" if request.method == "HEAD" and descriptor.safe else request.method
    if method not in descriptor.methods:
        raise MethodNotAllowed(f"${name} is invoked with {' or '.join(descriptor.methods)}",
                               headers={"Allow": ", ".join(descriptor.allowed)})
    caller = request.state.principal
    permission = INTERACTION_PERMISSION.get(descriptor.interaction)
    if permission and _on_launch_patient(caller, descriptor, permission, resource_id):
        caller = replace(caller, scopes=caller.scopes.within_compartment(
            compartment_members("Patient")))
    elif permission:
        where = resource_type or "the system"
        check_interaction_scopes(caller, descriptor.interaction, resource_type or "*",
                                 f"${name} on {where}")
    request.state.interaction = descriptor.audit_subtype
    call = await OperationCall.of(request, descriptor, resource_type, resource_id, caller,
                                  version_id)
    if not descriptor.checks_own_parameters:
        await call.refuse_unknown_parameters()
    return await operation.handle(call)


def _on_launch_patient(caller: Principal, descriptor: OperationDescriptor, permission: str,
                       resource_id: str | None) -> bool:
    """Whether only `patient/` scopes allow the call, made on the token's own patient (at
    type level, where the operation then answers for that patient)."""
    named = resource_id if descriptor.level == INSTANCE else caller.patient
    return (descriptor.launch_patient and caller.patient is not None
            and named == caller.patient
            and not caller.scopes.allows("Patient", permission)
            and caller.scopes.patient_allows("Patient", permission))


@router.api_route("/${name}", methods=_METHODS)
async def system_operation(name: str, request: Request) -> Response:
    return await invoke(request, SYSTEM, name)


@router.api_route("/{resource_type}/${name}", methods=_METHODS)
async def type_operation(resource_type: str, name: str, request: Request) -> Response:
    return await invoke(request, TYPE, name, resource_type)


@router.api_route("/{resource_type}/{resource_id}/${name}", methods=_METHODS)
async def instance_operation(
    resource_type: str, resource_id: str, name: str, request: Request
) -> Response:
    return await invoke(request, INSTANCE, name, resource_type, resource_id)


@router.api_route("/{resource_type}/{resource_id}/_history/{version_id}/${name}", methods=_METHODS)
async def version_operation(
    resource_type: str, resource_id: str, version_id: str, name: str, request: Request
) -> Response:
    return await invoke(request, INSTANCE, name, resource_type, resource_id, version_id)
