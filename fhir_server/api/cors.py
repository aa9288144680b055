"""CORS (http://hl7.org/fhir/R4/http.html#security: "servers SHOULD implement CORS"), for the
browser apps of the origins FHIR_CORS_ORIGINS names: a SMART app in a hospital's portal calls
the API itself. Starlette's CORSMiddleware, a pure ASGI one: preflights are answered before
the request limits, authentication and the audit trail (they carry no token and change
nothing); other responses get the headers an app needs to read FHIR's (ETag, Location, ...)."""

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

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


def install_cors(app: FastAPI) -> None:
    origins = app.state.settings.cors_origins
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=_REQUEST_HEADERS,
        expose_headers=_RESPONSE_HEADERS,
        max_age=_PREFLIGHT_SECONDS,
    )
