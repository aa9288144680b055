"""What anyone may call without a token: the CapabilityStatement, the SMART configuration,
this server's public keys and the token endpoint of SMART Backend Services."""

import functools
import hashlib
import os
from datetime import UTC, datetime
from importlib.metadata import version
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from fhir_server.api.dependencies import Base, negotiate
from fhir_server.api.media import VARY, field_list, negotiated, read_body, render
from fhir_server.api.operations import DESCRIPTORS
from fhir_server.auth.client_keys import ASSERTION_ALGORITHMS
from fhir_server.auth.scopes import Permissions
from fhir_server.auth.tokens import Principal
from fhir_server.conformance import definitions
from fhir_server.conformance.capability import capability_statement
from fhir_server.conformance.terminology_capabilities import terminology_capabilities
from fhir_server.errors import BadRequest, MethodNotAllowed, PayloadTooLarge
from fhir_server.services.authentication import token_issuer
from fhir_server.services.held_code_systems import stored_code_systems
from fhir_server.services.subsetting import subset_read
from fhir_server.services.token_service import (
    OAuthError,
    claimed_client,
    invalid_client,
    invalid_request,
    token_form,
)
from fhir_server.services.versions import named_by
from fhir_server.settings import STARTED_AT_VARIABLE

router = APIRouter()
_STARTED = os.environ.get(STARTED_AT_VARIABLE) or datetime.now(UTC).strftime(
    "%Y-%m-%dT%H:%M:%SZ")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# What a client may ask this token endpoint for (SMART Backend Services: system/ scopes).
# user/ and patient/ scopes come in the tokens of the trusted issuers (VNeID), whose own
# discovery lists them: listed here, they were refused (invalid_scope) to whoever asked.
_SCOPES = (
    "system/*.cruds",
    "system/*.rs",
    "system/*.read",
    "system/*.write",
)


@router.api_route("/metadata", methods=["GET", "HEAD"], dependencies=[Depends(negotiate)])
async def metadata(base: Base, request: Request):
    """capabilities (http://hl7.org/fhir/R4/http.html#capabilities): the CapabilityStatement,
    or with `mode=terminology` the TerminologyCapabilities. Both change only with the
    definitions, which are loaded at start-up, and the TerminologyCapabilities with the
    CodeSystems stored through the API: each rendering is kept."""
    media, pretty = negotiated(request)
    mode = request.query_params.get("mode", "full")
    if mode not in _MODES:
        raise BadRequest(f"mode must be one of {', '.join(_MODES)}, not '{mode}'",
                         expression="mode")
    terminology = mode == "terminology"
    params = request.query_params.multi_items()
    settings = request.app.state.settings
    cors = bool(settings.cors_origins)
    # A type whose writes must conform to one profile has it as its base profile.
    required = tuple(sorted((kind, urls[0]) for kind, urls in settings.required_profiles.items()
                            if len(urls) == 1))
    # A part (`_summary=true`: a client polling for the version, say) is kept as well.
    part = tuple((name, value) for name, value in params if name in ("_summary", "_elements"))
    stored = (await stored_code_systems(request.app.state.service.database.store())
              if terminology else ())
    body, etag = _capabilities(base, media, pretty, terminology, id(definitions.registry()),
                               cors, required, part, stored)
    # http.html#capabilities: an ETag, which changes with the statement; a client that has
    # this one gets 304, as a conditional read of a resource does: If-None-Match compares
    # weakly, `*` names any, and its lines are one list (RFC 9110 §13.1.2, §5.3).
    if named_by(field_list(request, "if-none-match"), etag.strip('"')):
        return Response(status_code=304, headers={"ETag": etag, **VARY})
    return Response(body, media_type=f"{media}; charset=utf-8", headers={"ETag": etag, **VARY})


# http://hl7.org/fhir/R4/valueset-capability-statement-kind.html names `full` and
# `normative` (the normative part, which here is the whole); `terminology` is R4's own.
_MODES = ("full", "normative", "terminology")


@functools.lru_cache(maxsize=64)  # bounded: `base` and `part` follow what clients send
def _capabilities(base: str, media: str, pretty: bool, terminology: bool,
                  _registry: int, cors: bool, required: tuple[tuple[str, str], ...],
                  part: tuple[tuple[str, str], ...],
                  stored: tuple[tuple[str, str | None], ...]) -> tuple[bytes, str]:
    statement = _statement(base, terminology, _registry, cors, required, stored)
    return _tagged(render(subset_read(statement, list(part)), media, pretty, 200)[0])


def _tagged(body: bytes) -> tuple[bytes, str]:
    """The body and its (strong) entity tag: a digest of these very bytes."""
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@functools.lru_cache(maxsize=16)
def _statement(base: str, terminology: bool, _registry: int, cors: bool,
               required: tuple[tuple[str, str], ...],
               stored: tuple[tuple[str, str | None], ...]) -> dict:
    """`stored`: the CodeSystems stored through the API (TerminologyCapabilities only)."""
    software = version("fhir-exchange-server")
    return (terminology_capabilities(base, software, _STARTED, stored) if terminology
            else capability_statement(base, software, _STARTED, DESCRIPTORS, cors, required))


@router.api_route("/.well-known/smart-configuration", methods=["GET", "HEAD"])
async def smart_configuration(base: Base):
    """SMART discovery (http://hl7.org/fhir/smart-app-launch/conformance.html)."""
    return JSONResponse(
        {
            # No `issuer`: "Required if the server's capabilities include
            # sso-openid-connect; otherwise, omitted" (this server issues no id_token).
            "jwks_uri": f"{base}/auth/jwks",
            "token_endpoint": f"{base}/auth/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "scopes_supported": list(_SCOPES),
            # REQUIRED, with S256 and never plain; of the VNeID authorization server that
            # issues the tokens of persons (no authorization endpoint here).
            "code_challenge_methods_supported": ["S256"],
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2",
                             "permission-patient", "permission-user"],
        }
    )


@router.api_route("/.well-known/smart-configuration",
                  methods=["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def smart_configuration_by_another_method() -> None:
    """Discovery is read only: 405 naming GET and HEAD, where the resource routes would take
    `.well-known` for a resource type (404, or an Allow naming their own methods)."""
    raise MethodNotAllowed("SMART discovery is read with GET or HEAD",
                           headers={"Allow": "GET, HEAD"})


@router.api_route("/auth/jwks", methods=["GET", "HEAD"])
async def jwks(request: Request):
    """The keys this server signs its access tokens with."""
    return JSONResponse(request.app.state.authenticator.server_key.public_jwks())


async def _token_body(request: Request, max_bytes: int) -> bytes:
    """The token request's form body, read up to `max_bytes`: every refusal of the token
    endpoint is an OAuth error (https://www.rfc-editor.org/rfc/rfc6749#section-5.2), never
    an OperationOutcome."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise invalid_request("send the request as application/x-www-form-urlencoded")
    try:
        return await read_body(request, max_bytes)
    except PayloadTooLarge:
        raise invalid_request(f"the request body is larger than {max_bytes} bytes") from None


@router.api_route("/auth/token", methods=["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def token_by_another_method() -> JSONResponse:
    """RFC 6749 §3.2: the token endpoint takes POST only."""
    refused = invalid_request("the token endpoint takes POST only")
    return JSONResponse(refused.body(), 405, headers={**_NO_STORE, "Allow": "POST"})


@router.post("/auth/token")
async def token(base: Base, request: Request):
    """client_credentials with a private_key_jwt assertion
    (http://hl7.org/fhir/smart-app-launch/backend-services.html#obtain-access-token)."""
    settings = request.app.state.settings
    limit = min(settings.max_token_body_bytes, settings.max_body_bytes)
    if scheme := request.headers.get("authorization", "").split(" ")[0]:
        # RFC 6749 §5.2: a client authenticating by the Authorization header (Basic) MUST
        # be answered 401 with a challenge of its scheme; here clients sign an assertion.
        refused = invalid_client("clients of this server authenticate with a signed "
                                  "client_assertion (private_key_jwt), not the Authorization "
                                  "header")
        return JSONResponse(refused.body(), 401, headers={
            **_NO_STORE, "WWW-Authenticate": f'{scheme} realm="{base}/auth/token"'})
    try:
        form = token_form(await _token_body(request, limit))
        # The trail names the client the assertion claims to be, and what it asked for
        # (never the assertion); a token granted, the client as its agent.
        client = claimed_client(form) or ""
        request.state.audit_query = urlencode({"client": client} | {
            name: form[name] for name in ("grant_type", "scope") if name in form})
        answer = await request.app.state.tokens.client_credentials(
            form, f"{base}/auth/token", token_issuer(base), base
        )
    except OAuthError as refused:
        return JSONResponse(refused.body(), refused.status, headers=_NO_STORE)
    request.state.principal = Principal(
        token_issuer(base), client, None, client, None,
        Permissions.from_text(answer["scope"]), answer["scope"])
    return JSONResponse(answer, headers=_NO_STORE)
