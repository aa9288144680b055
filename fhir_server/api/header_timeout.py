"""uvicorn's HTTP/1.1 protocols with what they lack for a server on the open network: a
deadline for what the client owes, the request line and headers of each request (uvicorn
times out only idle keep-alive connections, so a client sending its headers a byte at a
time, slowloris, would hold a connection for ever), and a bound on their size; and a
deadline for a response the client takes none of (uvicorn would wait for it for ever,
holding the response and its task). Both write each response in one piece
(api/coalesced_writes.py).

httptools (llhttp) serves: reads by id were served 1,368 a second where h11 served 1,085
(bench/read.py, one process), the pure-Python parser and response writer being most of it.
A request asking to switch protocols (`Upgrade: h2c`, as Java's HttpClient sends by default)
goes on in h11 for the rest of its connection: llhttp stops at such a head and would read its
body as the next request, where HTTP lets a server ignore the upgrade and answer the request
as sent (RFC 9110 §7.8)."""

import asyncio
import json
import re

import h11
import httptools
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http import h11_impl, httptools_impl
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fhir_server.api.coalesced_writes import CoalescedWrites

# With an OperationOutcome, as the 408 of a body not received in time has (api/limits.py).
_TIMED_OUT_OUTCOME = (
    b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout",'
    b'"diagnostics":"The request head was not received in time"}]}')
_TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/fhir+json\r\n"
              b"Content-Length: " + str(len(_TIMED_OUT_OUTCOME)).encode()
              + b"\r\nConnection: close\r\n\r\n" + _TIMED_OUT_OUTCOME)
_BUSY_OUTCOME = (
    b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient",'
    b'"diagnostics":"The server is at its limit of connections at once; retry shortly"}]}')


async def _busy(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """The answer past the connection limit: an OperationOutcome with Retry-After."""
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/fhir+json"),
        (b"content-length", str(len(_BUSY_OUTCOME)).encode()),
        (b"retry-after", b"1"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": _BUSY_OUTCOME, "more_body": False})


# As h11 and Node.js allow; a larger head is answered 400 (uvicorn's "Invalid HTTP request").
MAX_HEAD_BYTES = 16 * 1024
_HEADER_LINE_EXTRA = 4  # ": " and CRLF around a header's name and value


# A request line's start: a method (a token, RFC 9110 §9.1) and the space after it.
_REQUEST_LINE_START = re.compile(rb"(?:\r\n)*[!#$%&'*+.^_`|~0-9A-Za-z-]+ ")


class HeadTooLarge(Exception):
    """Raised from a parser callback: llhttp stops, and the head is refused (414 or 431)."""


# What a head the parser refuses is answered, by what was too large (None: malformed;
# "method": a method llhttp does not know, which HTTP lets anyone define).
_REFUSALS = {
    None: (400, "Bad Request", "structure", "The request line or headers are not valid HTTP/1.1"),
    "method": (501, "Not Implemented", "not-supported",
               "The request method is not one this server implements"),
    "url": (414, "URI Too Long", "too-long",
            f"The URL is longer than {MAX_HEAD_BYTES} bytes: send the search by POST to "
            "[type]/_search with a form body"),
    "head": (431, "Request Header Fields Too Large", "too-long",
             f"The request line and headers are longer than {MAX_HEAD_BYTES} bytes"),
}


def _refusal(too_large: str | None) -> bytes:
    """A closing answer with an OperationOutcome, as every FHIR error is answered."""
    status, reason, code, diagnostics = _REFUSALS[too_large]
    body = json.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": code, "diagnostics": diagnostics}]}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/fhir+json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class _HeadDeadline:
    """Closes a connection, after a 408, whose client has not sent a complete request
    head `header_timeout` seconds after it began (a new connection, or the first bytes of
    the next request on a kept-alive one), or that still sends a body nobody reads any more
    (after an early 413 or 408). The body of a request being served has its own deadline
    (api/limits.py). Drops a connection whose client has taken in nothing of a response for
    `stall_timeout` seconds (the send buffer stayed full)."""

    header_timeout = 30.0
    stall_timeout = 60.0
    _too_large: str | None = None  # "url" or "head" when that made the parser stop
    _deadline: asyncio.TimerHandle | None = None
    _stalled: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        self._writable()
        super().connection_lost(exc)  # type: ignore[misc]

    def pause_writing(self) -> None:
        super().pause_writing()  # type: ignore[misc]
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.stall_timeout, self.transport.abort)

    def resume_writing(self) -> None:
        self._writable()
        super().resume_writing()  # type: ignore[misc]

    def _writable(self) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _waiting_for_client(self) -> bool:
        raise NotImplementedError

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a head its parser refuses, with the right status and an
        OperationOutcome instead of its plain-text 400."""
        self.logger.warning("%s", msg)  # type: ignore[attr-defined]
        self.transport.write(_refusal(self._too_large))
        self.transport.close()

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


class H11HeadDeadlineProtocol(_HeadDeadline, CoalescedWrites, H11Protocol):
    """h11 bounds a head to 16 KiB itself."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def _waiting_for_client(self) -> bool:
        serving = self.cycle is not None and not self.cycle.response_complete
        return not serving and self.conn.their_state is not h11.DONE


class HeadDeadlineProtocol(_HeadDeadline, CoalescedWrites, HttpToolsProtocol):
    """On httptools, with the size of a head (and of trailers) counted as it comes. llhttp
    gives a header line to Python only once it ends, so bytes that reach no parser callback
    (a header line, a chunk-size line or blank lines, sent without end) count too."""

    h11_protocol: type[H11HeadDeadlineProtocol] = H11HeadDeadlineProtocol
    _request_done = False  # the parser has seen the whole request, and nothing since
    _in_head = False  # the request line and headers; the trailers come after the body
    _head_bytes = 0  # of the head (or trailers) in progress, by the parser's callbacks
    _heard = False  # the parser called back while given the last bytes received
    _unheard_bytes = 0  # received since the parser last called back
    _switching = False  # the head asks to switch protocols

    def data_received(self, data: bytes) -> None:
        serving = self.cycle is not None and not self.cycle.response_complete
        if self._request_done and not serving:
            # The next exchange begins, even with a bare CRLF (which llhttp skips unseen).
            self._request_done = False
        # uvicorn's data_received, but for a switch of protocols and the unheard bytes.
        self._unset_keepalive_if_required()
        self._heard = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._continue_on_h11(data[upgrade.args[0]:])
            return
        except httptools.HttpParserInvalidMethodError:
            # RFC 9110 §9.1: a method the server does not recognize SHOULD be 501 (a request
            # line that does not begin with a method at all stays 400).
            if _REQUEST_LINE_START.match(data):
                self._too_large = "method"
            self._refuse()
            return
        except httptools.HttpParserError:
            self._refuse()
            return
        self._unheard_bytes = 0 if self._heard else self._unheard_bytes + len(data)
        if self._unheard_bytes > MAX_HEAD_BYTES:
            self._too_large = "head"
            self._refuse()
            return
        self._watch()

    def _refuse(self) -> None:
        self.send_400_response("Invalid HTTP request received.")

    def on_message_begin(self) -> None:
        self._heard, self._request_done, self._switching = True, False, False
        self._in_head, self._head_bytes = True, 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._heard = True
        self._count(len(url), "url")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._heard = True
        self._count(len(name) + len(value) + _HEADER_LINE_EXTRA, "head")
        if self._in_head:  # not a trailer, which the request's scope does not carry
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._heard, self._in_head, self._head_bytes = True, False, 0
        if self.parser.should_upgrade():
            self._switching = True  # `_continue_on_h11` answers it
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._heard = True
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._heard, self._request_done = True, True
        if not self._switching:
            super().on_message_complete()

    def _count(self, size: int, part: str) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._too_large = part
            raise HeadTooLarge

    def _waiting_for_client(self) -> bool:
        serving = self.cycle is not None and not self.cycle.response_complete
        return not serving and not self._request_done

    def _continue_on_h11(self, rest: bytes) -> None:
        """Hand the connection to h11 from the head llhttp stopped at, and `rest` after it."""
        if self.cycle is not None and not self.cycle.response_complete:
            # Pipelined behind a response still being written: the connection closes after
            # that response, and the client sends the request again on a new one.
            self.cycle.keep_alive = False
            return
        self._stop_watching()
        self._unset_keepalive_if_required()
        self.connections.discard(self)
        version = self.parser.get_http_version().encode("ascii")
        head = [self.parser.get_method(), b" ", self.url, b" HTTP/", version, b"\r\n"]
        for name, value in self.headers:
            head += [name, b": ", value, b"\r\n"]
        protocol = self.h11_protocol(self.config, self.server_state, self.app_state)
        protocol.connection_made(self.transport)
        self.transport.set_protocol(protocol)
        protocol.data_received(b"".join(head) + b"\r\n" + rest)


def with_client_deadlines(head_seconds: float,
                          stall_seconds: float) -> type[HeadDeadlineProtocol]:
    """The protocol class to give uvicorn (`http=`), with these deadlines; past the
    connection limit (FHIR_MAX_CONNECTIONS) it answers FHIR's 503."""
    # uvicorn's protocols look their 503 app up in their modules: a bare text 503 there gave
    # clients nothing to act on (RFC 9110 §15.6.4: Retry-After).
    httptools_impl.service_unavailable = h11_impl.service_unavailable = _busy
    deadlines = {"header_timeout": head_seconds, "stall_timeout": stall_seconds}
    fallback = type("H11HeadDeadlineProtocol", (H11HeadDeadlineProtocol,), deadlines)
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,),
                {**deadlines, "h11_protocol": fallback})
