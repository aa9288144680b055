"""Slow request heads (issue 14): `fhir-server serve` runs uvicorn with a protocol that
disconnects (after a 408 with an OperationOutcome) a client whose request line and headers
are not complete
FHIR_HEADER_TIMEOUT_SECONDS after they began, however it trickles them; a request being
served is never cut, and kept-alive connections keep working."""

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from fhir_server.api.coalesced_writes import CoalescingTransport
from fhir_server.api.header_timeout import MAX_HEAD_BYTES, with_client_deadlines
from security.helpers import raw_response

TIMEOUT = 1.0
BIG = 64 * 1024 * 1024  # more than the socket buffers of both ends hold


async def _app(scope, receive, send) -> None:
    """Answers `/slow` after 2 s (longer than TIMEOUT), `/echo` with the request's body,
    `/headers` (after the body) with the names of its headers, anything else at once."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(2 * TIMEOUT)
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    answer = {"/echo": body, "/headers": b",".join(name for name, _ in scope["headers"]),
              "/big": b"x" * BIG}
    content = answer.get(scope["path"], b"ok")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    config = uvicorn.Config(_app, host="127.0.0.1", port=free, log_level="warning",
                            lifespan="off", http=with_client_deadlines(TIMEOUT, TIMEOUT))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield free
    server.should_exit = True
    thread.join(10)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_until_closed(connection: socket.socket) -> bytes:
    data = b""
    while chunk := connection.recv(4096):
        data += chunk
    return data


def _response(connection: socket.socket) -> bytes:
    """One whole response of `_app` (its body is two bytes)."""
    data = b""
    while not (b"\r\n\r\n" in data and data.endswith(b"ok")):
        chunk = connection.recv(4096)
        assert chunk, data
        data += chunk
    return data


def _exchange(connection: socket.socket) -> tuple[int, bytes]:
    status, _, body = raw_response(connection)
    return status, body


def test_a_connection_that_sends_nothing_is_closed(port):
    started = time.monotonic()
    with _connect(port) as connection:
        answer = _read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/fhir+json" in head.lower(), head
    assert json.loads(body)["issue"][0]["code"] == "timeout"
    # uvloop arms a timer from the time its loop iteration began, so it may fire a few
    # milliseconds short of the deadline by the test's clock (0.9998 s once for 1 s).
    assert TIMEOUT - 0.1 <= time.monotonic() - started < TIMEOUT + 2


def test_headers_trickled_byte_by_byte_are_cut_off(port):
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
    started = time.monotonic()
    with _connect(port) as connection:
        try:
            for byte in head:  # one byte every 50 ms: activity, but never a whole head
                connection.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            pass  # closed by the server meanwhile
        answer = _read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < TIMEOUT + 2


def test_a_slow_answer_is_not_cut_and_the_connection_is_kept(port):
    with _connect(port) as connection:
        connection.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        first = _response(connection)
        assert first.startswith(b"HTTP/1.1 200"), first
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        second = _response(connection)
        assert second.startswith(b"HTTP/1.1 200"), second
        # The next request's head, begun and never finished, times out in its turn.
        connection.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        assert _read_until_closed(connection).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < TIMEOUT + 2


@pytest.mark.parametrize("pieces", [1, 64])
def test_a_head_over_16_kib_is_refused_and_one_under_it_served(port, pieces):
    """llhttp would hold headers without end; the protocol stops at MAX_HEAD_BYTES, whether
    the head comes at once or in pieces."""
    def head(header_bytes: int) -> bytes:
        return b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * header_bytes + b"\r\n\r\n"

    for size, served in ((MAX_HEAD_BYTES - 100, True), (MAX_HEAD_BYTES + 100, False)):
        data = head(size)
        with _connect(port) as connection:
            step = -(-len(data) // pieces)
            for start in range(0, len(data), step):
                connection.sendall(data[start:start + step])
            if served:
                assert _response(connection).startswith(b"HTTP/1.1 200")
            else:
                _assert_refused(_read_until_closed(connection), 431)


def test_a_request_asking_to_switch_protocols_is_answered_as_sent(port):
    """`Upgrade: h2c` (Java's HttpClient) is ignored, as HTTP lets a server do: the request is
    served with its body, and the connection goes on, its heads still on a deadline."""
    body = b"name=nguy%E1%BB%85n&_count=5"
    upgrade = (b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))
    with _connect(port) as connection:
        connection.sendall(upgrade + body)
        assert _exchange(connection) == (200, body)
        connection.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        assert _exchange(connection) == (200, b"hi")
        connection.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        assert _read_until_closed(connection).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < TIMEOUT + 2


@pytest.fixture
def socket_writes(monkeypatch) -> list[bytes]:
    """What each of the protocol's writes to its socket's transport carried."""
    writes: list[bytes] = []
    flush = CoalescingTransport.flush

    def recorded(transport: CoalescingTransport) -> None:
        writes.append(b"".join(transport._pending))
        flush(transport)

    monkeypatch.setattr(CoalescingTransport, "flush", recorded)
    return writes


@pytest.mark.parametrize("upgrade", [False, True], ids=["httptools", "h11"])
def test_each_response_reaches_the_socket_in_one_write(port, socket_writes, upgrade):
    """Its head and body together: one send() and one TCP segment, not one each (uvicorn
    writes them apart), on the server's event loop and after a switch to h11 too."""
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    if upgrade:
        head += b"Connection: Upgrade\r\nUpgrade: h2c\r\n"
    with _connect(port) as connection:
        for _ in range(2):
            connection.sendall(head + b"\r\nhi")
            assert _exchange(connection) == (200, b"hi")
    responses = [w for w in socket_writes if w]
    assert len(responses) == 2, responses
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b"\r\n\r\nhi")
               for w in responses), responses


def test_a_header_line_without_end_is_refused_at_once(port):
    """llhttp hands a header line over only at its end: one sent without end is refused
    (400) once it passes MAX_HEAD_BYTES, not held in memory until the deadline (408)."""
    with _connect(port) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        try:
            for _ in range(512):  # up to 2 MiB
                connection.sendall(b"a" * 4096)
                time.sleep(0.001)
        except OSError:
            pass  # refused and closed meanwhile
        _assert_refused(_read_until_closed(connection), 431)


def test_the_separators_of_many_small_headers_count(port):
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"a:b\r\n" * 4000 + b"\r\n"  # 20 KB
    with _connect(port) as connection:
        connection.sendall(head)
        _assert_refused(_read_until_closed(connection), 431)


@pytest.mark.parametrize(("head", "status"), [
    (b"GET /?q=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS to plain HTTP
    (b"FOO /fhir/Patient HTTP/1.1\r\nHost: x\r\n\r\n", 501),  # a method nobody implements
    (b"\r\nget / HTTP/1.1\r\nHost: x\r\n\r\n", 501),  # methods are case-sensitive
    (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # no method: "(" is not in a token
])
def test_a_head_the_parser_refuses_is_answered_with_an_operation_outcome(port, head, status):
    """A URL too long is 414 (RFC 9110 §15.5.15), a method the server does not know 501
    (RFC 9110 §9.1; llhttp knows a fixed list), a malformed head 400; each with an
    OperationOutcome, as FHIR clients read every error, not uvicorn's plain text."""
    with _connect(port) as connection:
        connection.sendall(head)
        _assert_refused(_read_until_closed(connection), status)


def _assert_refused(answer: bytes, status: int) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status), answer[:200]
    assert b"content-type: application/fhir+json" in head.lower()
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"


def test_a_blank_line_after_a_response_does_not_hold_the_connection(port):
    """Bytes after a finished exchange begin the next one, even a bare CRLF (which the parser
    skips): the head deadline runs, where the keep-alive timer has been stopped."""
    with _connect(port) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _response(connection).startswith(b"HTTP/1.1 200")
        connection.sendall(b"\r\n")
        started = time.monotonic()
        _read_until_closed(connection)
        assert time.monotonic() - started < TIMEOUT + 2  # uvicorn's keep-alive is 5 s


def test_trailers_are_read_but_are_not_request_headers(port):
    chunked = (b"POST /headers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               b"Trailer: X-Checksum\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: 5d41\r\n\r\n")
    with _connect(port) as connection:
        connection.sendall(chunked)
        status, names = _exchange(connection)
    assert status == 200
    assert names.split(b",") == [b"host", b"transfer-encoding", b"trailer"]


def test_a_client_that_takes_in_nothing_of_a_response_is_dropped(port):
    """A response nobody reads would hold its bytes and its task for ever: once the send
    buffer has stayed full for the stall deadline, the connection is dropped."""
    with socket.socket() as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.connect(("127.0.0.1", port))
        connection.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(TIMEOUT + 1.5)  # read nothing
        connection.settimeout(10)
        received = 0
        try:
            while chunk := connection.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
    assert received < BIG
