"""HTTP-dates (RFC 9110 §5.6.7): the `Date` of every response, `Last-Modified` and
`Expires`, and the dates of conditional requests. The app dates responses when the server
leaves it to it (`fhir-server serve` runs uvicorn with `date_header=False`): uvicorn makes its
own about once a second on its own clock, up to a second behind, and a write was answered
with a `Last-Modified` later than its `Date`, which RFC 9110 §8.8.2.1 forbids."""

import time
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from fhir_server.api.asgi import HttpMiddleware

_last: tuple[int, str] = (0, "")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def header_date(request: Request, name: str) -> datetime | None:
    """A header's HTTP-date (`If-Modified-Since`, `If-Unmodified-Since`), in UTC; None when
    absent, no HTTP-date or more than one member, which RFC 9110 (§13.1.3-4) says to
    ignore. An HTTP-date has one comma at most (IMF-fixdate's and rfc850-date's after the
    day's name, asctime-date's none)."""
    if (value := request.headers.get(name)) is None:
        return None
    if value.count(",") > 1:
        # More than one member (`<date>, <date>`, or a date and more): RFC 9110 says to
        # ignore the field; email.utils read the first date and dropped the rest, so a
        # list was answered 304 (or 412) as if the client had sent its first date alone.
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # "-0000": UTC


def http_date(moment: datetime) -> str:
    """RFC 9110's IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), with English names whatever
    the locale; email.utils' format_datetime gives the same at several times the cost of
    every read's Last-Modified."""
    utc = moment.astimezone(UTC)
    return (f"{_DAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
            f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT")



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
