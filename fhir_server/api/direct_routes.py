"""The two most frequent requests of an exchange, a read by id and a search by GET, answered
without FastAPI's per-request machinery: matching over every route, then the dependency graph
solved and validated for each request took about a fifth of a read's CPU. The checks and
their order are those of the routes they stand for (`read`, `search_type`): a URL that is
UTF-8, the bearer token, the media type, the scopes; then the same service call and answer."""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from fhir_server.api.dependencies import negotiate
from fhir_server.api.media import utf8_url
from fhir_server.api.resources import (
    READS,
    read,
    read_response,
    search_type,
    search_type_response,
)
from fhir_server.api.security import authenticate, authorise
from fhir_server.conformance.primitives import ID_REGEX
from fhir_server.conformance.registry import is_supported
from fhir_server.services.resources import ResourceService

Answer = Callable[[Request, ResourceService, dict[str, str]], Awaitable[Response]]


@dataclass(frozen=True)
class _Shortcut:
    path: re.Pattern  # named groups: the route's path parameters
    endpoint: Callable  # the route's function: the audit trail and the metrics name it
    interaction: str
    answer: Answer


async def _read(request: Request, service: ResourceService, params: dict[str, str]) -> Response:
    return await read_response(request, service, params["resource_type"], params["resource_id"])


async def _search(request: Request, service: ResourceService, params: dict[str, str]
                  ) -> Response:
    return await search_type_response(request, service, params["resource_type"])


_SHORTCUTS = (
    # A FHIR id (http://hl7.org/fhir/R4/datatypes.html#id): `_history`, `_search` and
    # `$operation` are none, so those paths go on to their routes. A Binary's read may
    # answer in the Binary's own media type: its route does that.
    _Shortcut(re.compile(r"/fhir/(?!Binary/)(?P<resource_type>[A-Z][A-Za-z]+)"
                         rf"/(?P<resource_id>{ID_REGEX})"), read, "read", _read),
    _Shortcut(re.compile(r"/fhir/(?P<resource_type>[A-Z][A-Za-z]+)"), search_type,
              "search-type", _search),
)


class DirectRoutes(BaseRoute):
    """GET and HEAD of `[type]/[id]` and `[type]?...`, matched first; any other request goes
    on to FastAPI's routes."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["method"] in READS:
            for shortcut in _SHORTCUTS:
                found = shortcut.path.fullmatch(scope["path"])
                if found is None:
                    continue
                if not is_supported(found["resource_type"]):
                    break
                return Match.FULL, {"endpoint": shortcut.endpoint,
                                    "path_params": found.groupdict(), "shortcut": shortcut}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        shortcut: _Shortcut = scope["shortcut"]
        params = scope["path_params"]
        await utf8_url(request)
        principal = await authenticate(request)
        await negotiate(request)
        authorise(request, principal, shortcut.interaction, params["resource_type"])
        response = await shortcut.answer(request, request.app.state.service, params)
        await response(scope, receive, send)


def install_direct_routes(app: FastAPI) -> None:
    """Before every other route (the routes are tried in order)."""
    app.router.routes.insert(0, DirectRoutes())
