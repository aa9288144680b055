"""The `Date` of every response, when the server leaves it to the app (`fhir-server serve`
runs uvicorn with `date_header=False`). uvicorn makes its own about once a second on its own
clock, up to a second behind: a write was answered with a `Last-Modified` later than its
`Date`, which RFC 9110 §8.8.2.1 forbids."""

import time
from email.utils import formatdate

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from fhir_server.api.asgi import HttpMiddleware

_last: tuple[int, str] = (0, "")


def _http_date() -> str:
    """Now, as an HTTP-date (RFC 9110 §5.6.7), formatted once a second."""
    global _last
    second = int(time.time())
    if _last[0] != second:
        _last = (second, formatdate(second, usegmt=True))
    return _last[1]


class DateHeader(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def dated_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["date"] = _http_date()
            await send(message)

        await self.app(scope, receive, dated_send)


def install_date_header(app: FastAPI) -> None:
    """Outermost, so that every response the app makes has it (a 429 of the limits too)."""
    app.add_middleware(DateHeader)
