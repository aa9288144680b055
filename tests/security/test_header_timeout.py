"""Slow request heads (issue 14): `fhir-server serve` runs uvicorn with a protocol that
disconnects (after a bare 408) a client whose request line and headers are not complete
FHIR_HEADER_TIMEOUT_SECONDS after they began, however it trickles them; a request being
served is never cut, and kept-alive connections keep working."""

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from fhir_server.api.header_timeout import MAX_HEAD_BYTES, with_header_timeout

TIMEOUT = 1.0


async def _app(scope, receive, send) -> None:
    """Answers `/slow` after 2 s (longer than TIMEOUT), anything else at once."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(2 * TIMEOUT)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    config = uvicorn.Config(_app, host="127.0.0.1", port=free, log_level="warning",
                            lifespan="off", http=with_header_timeout(TIMEOUT))
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


def test_a_connection_that_sends_nothing_is_closed(port):
    started = time.monotonic()
    with _connect(port) as connection:
        answer = _read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 2


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
                assert _read_until_closed(connection).startswith(b"HTTP/1.1 400")
