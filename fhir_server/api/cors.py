"""CORS (http://hl7.org/fhir/R4/http.html#security: "servers SHOULD implement CORS"), for the
browser apps of the origins FHIR_CORS_ORIGINS names: a SMART app in a hospital's portal calls
the API itself. Starlette's CORSMiddleware, a pure ASGI one: preflights are answered before
the request limits, authentication and the audit trail (they carry no token and change
nothing); other responses get the headers an app needs to read FHIR's (ETag, Location, ...).
The public discovery documents are open to any origin (SMART App Launch, "Considerations for
CORS support": servers that support browser-based apps permit access to
`.well-known/smart-configuration` and `metadata` "for requests from any origin"; an app
reads them to learn where to get its token before it is anything the server knows)."""

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# What a FHIR client sends: conditional and versioned interactions, Prefer, the request id,
# a raw Binary's security context (binary.html#rest), a resumed download's range.
_REQUEST_HEADERS = ["Authorization", "Content-Type", "Accept", "Prefer", "If-Match",
                    "If-None-Match", "If-None-Exist", "If-Modified-Since",
                    "If-Unmodified-Since", "X-Request-Id", "Content-Encoding",
                    "X-Security-Context", "Range", "If-Range"]
# What a FHIR client reads beyond the CORS-safelisted headers: also the formats of a PATCH
# a 405 or 415 names (Accept-Patch, RFC 5789), a Binary's security context, a range's place.
_RESPONSE_HEADERS = ["ETag", "Location", "Content-Location", "Last-Modified", "Retry-After",
                     "X-Request-Id", "X-Correlation-Id", "X-Progress", "Expires",
                     "WWW-Authenticate", "Allow", "Accept-Patch", "X-Security-Context",
                     "Content-Range", "Accept-Ranges"]
_PREFLIGHT_SECONDS = 600
# What needs no token and names no one: read by an app before it has one.
_DISCOVERY = frozenset({"/fhir/metadata", "/fhir/.well-known/smart-configuration",
                        "/fhir/auth/jwks"})


class Cors:
    """CORS for the configured origins; for any origin on the discovery documents."""

    def __init__(self, app: ASGIApp, origins: list[str]):
        self.configured = _cors(app, origins, ["GET", "HEAD", "POST", "PUT", "PATCH",
                                               "DELETE"])
        self.discovery = _cors(app, ["*"], ["GET", "HEAD"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        discovery = scope["type"] == "http" and scope["path"].rstrip("/") in _DISCOVERY
        await (self.discovery if discovery else self.configured)(scope, receive, send)


def _cors(app: ASGIApp, origins: list[str], methods: list[str]) -> CORSMiddleware:
    return CORSMiddleware(app, allow_origins=origins, allow_methods=methods,
                          allow_headers=_REQUEST_HEADERS, expose_headers=_RESPONSE_HEADERS,
                          max_age=_PREFLIGHT_SECONDS)


def install_cors(app: FastAPI) -> None:
    origins = app.state.settings.cors_origins
    if origins:
        app.add_middleware(Cors, origins=origins)
