"""Authentication and authorisation of FHIR requests (SMART App Launch 2.x scopes), the
security headers of every response, and the audit record of every request."""

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from fhir_server.api.asgi import HttpMiddleware
from fhir_server.api.dependencies import request_base
from fhir_server.api.request_state import state_value
from fhir_server.auth.scopes import ANSWERED_WITH_STORED_CONTENT, INTERACTION_PERMISSION
from fhir_server.auth.tokens import Principal
from fhir_server.conformance.costly_work import costly_caller
from fhir_server.errors import BadRequest, Forbidden, bearer_challenge
from fhir_server.services.access import (
    Reach,
    current_permissions,
    current_principal,
    patient_compartment,
    scope_queries,
)
from fhir_server.services.conditional_criteria import criteria_base
from fhir_server.services.resources import check_type

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


async def authenticate(request: Request) -> Principal:
    """The caller, from the bearer token (401 without a valid one)."""
    authorizations = request.headers.getlist("authorization")
    if len(authorizations) > 1:  # which one to believe? (RFC 6750 §3.1 invalid_request)
        raise BadRequest(f"The request has {len(authorizations)} Authorization headers; send "
                         "one, with one bearer token", headers=bearer_challenge("invalid_request"))
    base = await request_base(request)
    criteria_base.set(base)
    authenticator = request.app.state.authenticator
    principal = await authenticator.verify(authorizations[0] if authorizations else None, base)
    # Known before their limit is checked: the AuditEvent of a 429 names who was throttled.
    request.state.principal = principal
    authenticator.check_rate(principal)
    if (principal.patient is None and principal.personal_id is not None
            and principal.scopes.has_patient_grants):
        # A person's own login: their record is their launch patient.
        own = await request.app.state.personal_records.patient_of(principal.personal_id)
        principal = replace(principal, patient=own)
    request.state.principal = principal
    current_permissions.set(principal.scopes)
    current_principal.set(principal)
    costly_caller.set(f"{principal.issuer}|{principal.subject}")
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


def require(interaction: str):
    """A route dependency: the token's scopes must allow `interaction` on the type in the
    path (403 otherwise)."""
    async def check(request: Request, principal: Caller) -> Principal:
        authorise(request, principal, interaction,
                  request.path_params.get("resource_type", "*"))
        return principal

    return Depends(check)


def authorise(request: Request, principal: Principal, interaction: str, resource_type: str
              ) -> None:
    """403 unless the token's scopes allow `interaction` on `resource_type`. What the answer
    must keep to, for `restricted_to` and `reach_of`: the compartment when only
    `patient/` scopes allow it (`patient_compartment`), the searches of which a resource
    must match one when only granular scopes do (`scope_queries`)."""
    request.state.compartment = patient_compartment(principal, interaction, resource_type)
    request.state.scope_queries = scope_queries(principal, interaction, resource_type)
    if request.state.compartment is None and not request.state.scope_queries:
        what = (f"{interaction} on {resource_type}" if resource_type != "*" else
                f"{interaction} on every type (a scope on every type grants it: "
                f"user/*.{INTERACTION_PERMISSION[interaction]})")
        check_interaction_scopes(principal, interaction, resource_type, what)


def check_interaction_scopes(principal: Principal, interaction: str, resource_type: str,
                             what: str) -> None:
    """403 unless the token's scopes grant what `interaction` needs on `resource_type`: its
    permission, and read too when it answers with the stored content."""
    check_scopes(principal, resource_type, INTERACTION_PERMISSION[interaction], what)
    if interaction in ANSWERED_WITH_STORED_CONTENT:
        check_scopes(principal, resource_type, "r",
                     f"{what}, which answers with the stored resource: read (r) is needed "
                     "as well as update (u)")


def restricted_to(request: Request) -> str | None:
    """The compartment `authorise` limited the request to, if any."""
    return state_value(request, "compartment")


def reach_of(request: Request) -> Reach:
    """What `authorise` limited the request to: the compartment, the searches of which a
    resource must match one."""
    return Reach(restricted_to(request), state_value(request, "scope_queries") or ())


def check_scopes(principal: Principal, resource_type: str, permission: str, what: str) -> None:
    """403 unless the token's scopes grant `permission` on `resource_type`."""
    if not principal.scopes.allows(resource_type, permission):
        if resource_type != "*":
            check_type(resource_type)  # a type this server has not is 404 whatever the scopes
        why = ""
        if (principal.patient is None and principal.personal_id is not None
                and principal.scopes.has_patient_grants):
            why = ("; its patient/ scopes grant nothing, since no Patient, or more than one, "
                   "holds the token's personal ID as its current CCCD")
        raise Forbidden(
            f"The token's scopes ({principal.scope_text or 'none'}) do not allow {what}{why}"
        )


class SecurityHeaders(HttpMiddleware):
    """SECURITY_HEADERS on every response that does not set them itself; pure ASGI, so it
    costs a few header lookups per request rather than a wrapped response."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, secured_send)


def install_security_headers(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)
