"""What anyone may call without a token: the CapabilityStatement, the SMART configuration,
this server's public keys and the token endpoint of SMART Backend Services."""

from datetime import UTC, datetime
from importlib.metadata import version

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fhir_server.api.dependencies import Base
from fhir_server.api.media import FhirResponse, form_body
from fhir_server.api.operations import DESCRIPTORS
from fhir_server.conformance.capability import capability_statement
from fhir_server.services.authentication import token_issuer
from fhir_server.services.token_service import ASSERTION_ALGORITHMS, OAuthError

router = APIRouter()
_STARTED = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_SCOPES = (
    "system/*.cruds",
    "system/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "system/*.read",
    "system/*.write",
    "user/*.read",
    "user/*.write",
)


@router.get("/metadata")
async def metadata(base: Base, request: Request):
    """capabilities (http://hl7.org/fhir/R4/http.html#capabilities)."""
    statement = capability_statement(
        base, version("fhir-exchange-server"), _STARTED, DESCRIPTORS
    )
    return FhirResponse(request, statement)


@router.get("/.well-known/smart-configuration")
async def smart_configuration(base: Base):
    """SMART discovery (http://hl7.org/fhir/smart-app-launch/conformance.html)."""
    return JSONResponse(
        {
            "issuer": token_issuer(base),
            "jwks_uri": f"{base}/auth/jwks",
            "token_endpoint": f"{base}/auth/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "scopes_supported": list(_SCOPES),
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        }
    )


@router.get("/auth/jwks")
async def jwks(request: Request):
    """The keys this server signs its access tokens with."""
    return JSONResponse(request.app.state.authenticator.server_key.public_jwks())


@router.post("/auth/token")
async def token(base: Base, request: Request):
    """client_credentials with a private_key_jwt assertion
    (http://hl7.org/fhir/smart-app-launch/backend-services.html#obtain-access-token)."""
    try:
        form = dict(await form_body(request, request.app.state.settings.max_body_bytes))
        answer = await request.app.state.tokens.client_credentials(
            form, f"{base}/auth/token", token_issuer(base), base
        )
    except OAuthError as refused:
        return JSONResponse(refused.body(), refused.status, headers=_NO_STORE)
    return JSONResponse(answer, headers=_NO_STORE)
