"""What every FHIR request is held to before authentication, routing and the audit trail
run: a rate limit per client address, bounded query strings, a deadline for the body, and
the header fields HTTP requires (api/request_head.py).
A pure ASGI middleware, so a refused request costs a few microseconds and no audit record:
a flood must not fill the audit trail (uvicorn's access log still shows each one)."""

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server.api.asgi import HttpMiddleware, StatusWatch
from fhir_server.api.bodies_in_flight import request_bodies
from fhir_server.api.client_address import client_address
from fhir_server.api.media import FhirResponse, negotiated, render
from fhir_server.api.request_head import check_request_head
from fhir_server.api.security import SECURITY_HEADERS
from fhir_server.conformance.unit_reading import new_codes_counted
from fhir_server.errors import FhirError, RequestTimeout
from fhir_server.search.request import check_query_counts
from fhir_server.services.rate_limiting import TokenBuckets
from fhir_server.settings import Settings
from fhir_server.storage.pages_in_flight import held_by_request


class RequestLimits(HttpMiddleware):
    """The limits of FHIR_RATE_LIMIT_PER_ADDRESS_PER_MINUTE, FHIR_MAX_PARAMETERS,
    FHIR_MAX_PARAMETER_REPEATS and FHIR_BODY_TIMEOUT_SECONDS on every request under /fhir
    (health checks and the docs are outside it), and of the UCUM codes not read before it
    may read."""

    prefix = "/fhir"

    def __init__(self, app: ASGIApp, settings: Settings):
        super().__init__(app)
        self.settings = settings
        self.addresses = None
        if settings.rate_limit_per_address_per_minute > 0:
            self.addresses = TokenBuckets(
                settings.rate_limit_per_address_per_minute,
                settings.rate_limit_address_burst,
                settings.rate_limit_max_addresses,
                settings.data_dir / "rate-limits" / "addresses",
            )

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            check_request_head(scope)
            if self.addresses is not None:
                address = client_address(HTTPConnection(scope)) or "unknown"
                self.addresses.check(address, " from one address")
            check_query_counts(
                scope.get("query_string", b"").decode("latin-1"),
                self.settings.max_parameters,
                self.settings.max_parameter_repeats,
            )
        except FhirError as refused:
            await _refuse(refused, scope, send)
            return
        watched = StatusWatch(_paced(send))
        timed = _body_deadline(receive, scope, self.settings.body_timeout_seconds)
        # The UCUM codes it may read (conformance/unit_reading.py), the bytes of search
        # pages it holds until its response is sent (storage/pages_in_flight.py), and of its
        # body, with the turn of a large one (bodies_in_flight.py).
        with new_codes_counted(), held_by_request():
            async with request_bodies():
                await self.app(scope, timed, watched)
        if scope.get(_TIMED_OUT) and watched.status is None:  # nobody answered the request
            await _refuse(_late(self.settings), scope, send)


# A larger body goes out in pieces of this size, each once the client has taken in what
# the last left in the send buffer (uvicorn waits for the transport to drain before a send).
BODY_PIECE = 256 * 1024


def _paced(send: Send) -> Send:
    """`send` with a large body in pieces: sent whole, a 32 MiB page went into the
    transport's buffer at once, the request ended and gave back its share of the pages in
    flight, and clients that never read held a page each beyond that bound (150 of them
    2.4 GB). Paced, the request holds its page until the client takes it (or is dropped)."""
    async def paced(message: Message) -> None:
        body = message.get("body", b"") if message["type"] == "http.response.body" else b""
        if len(body) <= BODY_PIECE:
            await send(message)
            return
        more = message.get("more_body", False)
        for start in range(0, len(body), BODY_PIECE):
            end = start + BODY_PIECE
            await send({"type": "http.response.body", "body": body[start:end],
                        "more_body": more or end < len(body)})
    return paced


# Set in the ASGI scope when the body deadline passed.
_TIMED_OUT = "fhir_server.body_timed_out"


def _late(settings: Settings) -> RequestTimeout:
    return RequestTimeout(
        f"The request body was not received within {settings.body_timeout_seconds:g} s",
        headers={"Connection": "close"},
    )


def _body_deadline(receive: Receive, scope: Scope, seconds: float) -> Receive:
    """`receive` that, once the body has taken longer than FHIR_BODY_TIMEOUT_SECONDS since
    the application first asked for it, answers as if the client had gone (a client
    trickling a body byte by byte would otherwise hold its request for ever): the request
    ends there, and is answered 408 (`body_too_slow`). Once the body is in, `receive` is
    the server's own (it then waits for a disconnect, legitimately long)."""
    deadline: float | None = None
    body_done = False

    async def timed() -> Message:
        nonlocal deadline, body_done
        if body_done:
            return await receive()
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + seconds
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            scope[_TIMED_OUT] = body_done = True
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_done = True
        return message

    return timed


def install_request_limits(app: FastAPI) -> None:
    """RequestLimits around everything else (added last, it runs first), and the 408 of a
    request whose body came too slowly."""
    app.add_middleware(RequestLimits, settings=app.state.settings)

    @app.exception_handler(ClientDisconnect)
    async def body_too_slow(request: Request, error: ClientDisconnect) -> Response:
        if not request.scope.get(_TIMED_OUT):
            raise error  # the client did go: as without this handler
        late = _late(request.app.state.settings)
        return FhirResponse(request, late.operation_outcome(), late.status, late.headers)


async def _refuse(error: FhirError, scope: Scope, send: Send) -> None:
    """Answer with the error's OperationOutcome, the way api/errors.py would: in the format
    the client asked for (XML to an XML client)."""
    body, media = render(error.operation_outcome(), *negotiated(Request(scope)), error.status)
    headers = {
        **SECURITY_HEADERS,
        **error.headers,
        "Content-Type": f"{media}; charset=utf-8",
        "Content-Length": str(len(body)),
    }
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})
