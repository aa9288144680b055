"""The one place where errors become HTTP responses with an OperationOutcome."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from fhir_server.api.asgi import HttpMiddleware, StatusWatch
from fhir_server.api.languages import outcome_language
from fhir_server.api.media import ACCEPT_PATCH, FhirResponse
from fhir_server.api.resources import READS, TYPE_ENDPOINTS
from fhir_server.conformance.registry import READ_ONLY_TYPES, is_supported
from fhir_server.errors import FhirError, Issue, operation_outcome
from fhir_server.services.resources import SYSTEM_ENDPOINTS
from fhir_server.storage.database import DatabaseUnreachable, unavailable

log = logging.getLogger(__name__)

_HTTP_ISSUE_CODES = {404: "not-found", 405: "not-supported"}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FhirError)
    async def fhir_error(request: Request, error: FhirError) -> FhirResponse:
        if error.status == 405 and "Allow" not in error.headers:
            # A write the service refuses (a read-only or append-only type): what the URL
            # still takes is its reads (RFC 9110 §15.5.6).
            reads = [method for method in _allowed_methods(request) if method in READS]
            return _response(request, error, _allow(reads))
        allowed = error.headers.get("Allow", "") if error.status == 405 else ""
        if request.method in (method.strip() for method in allowed.split(",")):
            # A 405 naming the very method used (`GET /metadata/x`, `GET /_history/1`): the
            # method is fine, what it names is not there.
            issue = Issue(f"No FHIR interaction at {request.method} {request.url.path}",
                          "not-found")
            return FhirResponse(request, _outcome(issue), 404)
        return _response(request, error)

    @app.exception_handler(DatabaseUnreachable)
    async def database_error(request: Request, error: Exception) -> FhirResponse:
        """No MongoDB primary within the server selection timeout: 503, retry later."""
        log.warning("database unreachable on %s %s: %s", request.method, request.url.path,
                    type(error).__name__)
        return _response(request, unavailable())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> FhirResponse:
        diagnostics = (
            f"No FHIR interaction at {request.method} {request.url.path}"
            if error.status_code in (404, 405)
            else str(error.detail)
        )
        issue = Issue(diagnostics, _HTTP_ISSUE_CODES.get(error.status_code, "processing"))
        headers = dict(error.headers or {})
        if error.status_code == 405:  # RFC 9110 §15.5.6: say which methods the URL takes
            headers |= _allow(_allowed_methods(request))
        return FhirResponse(request, _outcome(issue), error.status_code, headers)

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, error: RequestValidationError) -> FhirResponse:
        return FhirResponse(request, _outcome(Issue(f"Invalid request: {error.errors()}")), 400)

    app.add_middleware(LastResort)


class LastResort(HttpMiddleware):
    """While the database is known to be down (its mongod restarting), FHIR requests get
    503 at once rather than after a server selection timeout. A bug becomes a 500
    OperationOutcome, with no stack trace sent to the client. Pure ASGI: no task and no
    response stream per request."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        service = getattr(request.app.state, "service", None)
        outage = service.database.outage if service is not None else None
        if outage is not None and scope["path"].startswith("/fhir"):
            await _response(request, unavailable(outage))(scope, receive, send)
            return
        watched = StatusWatch(send)
        try:
            await self.app(scope, receive, watched)
        except ClientDisconnect:
            # The client went before its body ended: nothing of the request was done, and no
            # server fault (a 500 here filled the log and the audit trail with false ones).
            # The answer reaches no one; it is what the request's AuditEvent records.
            if watched.status is None:
                issue = Issue("The client closed the connection before the request body "
                              "ended", "incomplete")
                await FhirResponse(request, _outcome(issue), 400)(scope, receive, send)
        except Exception as error:
            log.exception("Unhandled error on %s %s", request.method, request.url.path)
            # The AuditEvent names the error's type: the trail outlives the log.
            request.state.failure = type(error).__name__
            if watched.status is not None:  # too late for another response
                raise
            issue = Issue("Internal server error; it has been logged", "exception")
            await FhirResponse(request, _outcome(issue), 500)(scope, receive, send)


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route answers at the request's path (Starlette's own Allow names
    only those of the first route whose path matches), but those the routes of a type
    match and then refuse: also what an OPTIONS, which no route takes, is told."""
    parts = request.url.path.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-1] in TYPE_ENDPOINTS and is_supported(parts[-2]):
        # `[type]/_history` is no instance of the type (no FHIR id holds `_`), whose PUT and
        # DELETE routes would match it and then refuse it.
        return TYPE_ENDPOINTS[parts[-1]].split(", ")
    if parts[-2:-1] == ["fhir"] and parts[-1] in SYSTEM_ENDPOINTS:
        return SYSTEM_ENDPOINTS[parts[-1]].split(", ")  # `metadata` is no type either
    routed = [
        method for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
               for route in request.app.routes)
    ]
    if request.path_params.get("resource_type") in READ_ONLY_TYPES:
        return [method for method in routed if method in READS]  # written by the server
    return routed


def _allow(methods: list[str]) -> dict[str, str]:
    """The headers naming what a URL takes: its methods and, where PATCH is one, the patch
    formats (RFC 5789 §3.1: Accept-Patch "SHOULD appear in the OPTIONS response")."""
    allowed = {"Allow": ", ".join(methods)}
    return allowed | {"Accept-Patch": ACCEPT_PATCH} if "PATCH" in methods else allowed


def _response(request: Request, error: FhirError,
              headers: dict[str, str] | None = None) -> FhirResponse:
    language = outcome_language(request)
    return FhirResponse(request, error.operation_outcome(language), error.status,
                        {**error.headers, **(headers or {})})


def _outcome(issue: Issue) -> dict:
    return operation_outcome([issue])
