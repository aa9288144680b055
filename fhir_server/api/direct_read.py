"""The read of a resource by id, the most frequent request of an exchange, answered without
FastAPI's per-request machinery: route matching over every route, then the dependency graph
solved and validated for each request took about a quarter of a read's CPU. The checks and
their order are the `read` route's: a URL that is UTF-8, the bearer token, the media type,
the scopes; then the same service call and response."""

import re

from fastapi import FastAPI, Request
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from fhir_server.api.dependencies import negotiate
from fhir_server.api.media import utf8_url
from fhir_server.api.resources import read, read_response
from fhir_server.api.security import authenticate, check_interaction
from fhir_server.conformance.registry import is_supported

# /fhir/{type}/{id} with a FHIR id (http://hl7.org/fhir/R4/datatypes.html#id): `_history`,
# `_search` and `$operation` are no ids, so those paths go on to their routes.
_READ_PATH = re.compile(r"/fhir/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")


class DirectRead(BaseRoute):
    """GET and HEAD of `[type]/[id]` for every type but Binary (whose read may answer in the
    Binary's own media type: its route does that). Matched first; any other request goes on
    to FastAPI's routes. The audit trail and the metrics see the `read` endpoint, as when
    that route answers."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        found = _READ_PATH.fullmatch(scope["path"])
        if found is None or found[1] == "Binary" or not is_supported(found[1]):
            return Match.NONE, {}
        params = {"resource_type": found[1], "resource_id": found[2]}
        return Match.FULL, {"endpoint": read, "path_params": params}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        await utf8_url(request)
        principal = await authenticate(request)
        await negotiate(request)
        resource_type = scope["path_params"]["resource_type"]
        check_interaction(principal, "read", resource_type)
        service = request.app.state.service
        response = await read_response(request, service, resource_type,
                                       scope["path_params"]["resource_id"])
        await response(scope, receive, send)


def install_direct_read(app: FastAPI) -> None:
    """Before every other route (the routes are tried in order)."""
    app.router.routes.insert(0, DirectRead())
