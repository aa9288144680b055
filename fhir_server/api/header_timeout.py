"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for what the client owes: the request
line and headers of each request. uvicorn times out only idle keep-alive connections, so a
client sending its headers a byte at a time (slowloris) would hold a connection for ever."""

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class HeaderDeadlineProtocol(H11Protocol):
    """Closes a connection, after a bare 408, whose client has not sent a complete request
    head `header_timeout` seconds after it began (a new connection, or the first bytes of
    the next request on a kept-alive one), or that still sends a body nobody reads any more
    (after an early 413 or 408). The body of a request being served has its own deadline
    (api/limits.py)."""

    header_timeout = 30.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def _waiting_for_client(self) -> bool:
        serving = self.cycle is not None and not self.cycle.response_complete
        return not serving and self.conn.their_state is not h11.DONE

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
