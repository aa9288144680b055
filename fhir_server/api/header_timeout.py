"""uvicorn's HTTP/1.1 protocol on httptools (llhttp), with what it lacks for a server on the
open network: a deadline for what the client owes, the request line and headers of each
request (uvicorn times out only idle keep-alive connections, so a client sending its headers
a byte at a time, slowloris, would hold a connection for ever), and a bound on their size
(llhttp has none: headers sent without end would be held in memory without end).

httptools rather than h11: reads by id were served 1,368 a second where h11 served 1,085
(bench/read.py, one process), the pure-Python parser and response writer being most of it."""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
# As h11 and Node.js allow; a larger head is answered 400 (uvicorn's "Invalid HTTP request").
MAX_HEAD_BYTES = 16 * 1024


class HeadTooLarge(Exception):
    """Raised from a parser callback: llhttp stops, and uvicorn answers 400 and closes."""


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """Closes a connection, after a bare 408, whose client has not sent a complete request
    head `header_timeout` seconds after it began (a new connection, or the first bytes of
    the next request on a kept-alive one), or that still sends a body nobody reads any more
    (after an early 413 or 408). The body of a request being served has its own deadline
    (api/limits.py)."""

    header_timeout = 30.0
    _deadline: asyncio.TimerHandle | None = None
    _request_done = False  # the parser has seen the whole of the current request
    _head_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._request_done = False
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self._request_done = True
        super().on_message_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise HeadTooLarge

    def _waiting_for_client(self) -> bool:
        serving = self.cycle is not None and not self.cycle.response_complete
        return not serving and not self._request_done

    def _watch(self) -> None:
        if not self._waiting_for_client():
            self._stop_watching()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._late)

    def _stop_watching(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if self._waiting_for_client() and not self.transport.is_closing():
            self.transport.write(_TIMED_OUT)
            self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to give uvicorn (`http=`), with this deadline."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": seconds})
