"""The server writes each response to its socket in one piece (api/coalesced_writes.py): the
writes of one event-loop turn are joined, nothing is reordered, lost or held back past that
turn, and a large write goes out at once so that flow control still sees it."""

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.api.coalesced_writes import FLUSH_BYTES, CoalescingTransport


class SocketTransport(asyncio.Transport):
    """Stands in for the socket's transport: records each write that reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data) -> None:
        assert not self.closed, "written after close"
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


async def _next_turn() -> None:
    await asyncio.sleep(0)


async def _written(turns: list[list[bytes]]) -> tuple[list[bytes], SocketTransport]:
    """Each turn's writes through a CoalescingTransport, a loop turn after each."""
    socket = SocketTransport()
    transport = CoalescingTransport(socket, asyncio.get_running_loop())
    for writes in turns:
        for data in writes:
            transport.write(data)
        await _next_turn()
    return socket.sent, socket


def test_head_and_body_of_a_response_go_out_in_one_write():
    async def scenario():
        socket = SocketTransport()
        transport = CoalescingTransport(socket, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert socket.sent == []  # not before the turn ends
        assert transport.get_write_buffer_size() == 40
        await _next_turn()
        assert socket.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]

    asyncio.run(scenario())


@given(st.lists(st.lists(st.binary(max_size=3 * FLUSH_BYTES // 2), max_size=4), max_size=5))
def test_bytes_arrive_complete_and_in_order(turns):
    sent, _ = asyncio.run(_written(turns))
    assert b"".join(sent) == b"".join(b"".join(writes) for writes in turns)
    # Small writes of one turn make one socket write; a large one goes out at once.
    assert len(sent) <= sum(1 + sum(len(d) for d in writes) // FLUSH_BYTES for writes in turns)


def test_a_large_write_is_not_held_back():
    async def scenario():
        socket = SocketTransport()
        transport = CoalescingTransport(socket, asyncio.get_running_loop())
        transport.write(b"h" * 100)
        transport.write(b"x" * FLUSH_BYTES)
        assert socket.sent == [b"h" * 100 + b"x" * FLUSH_BYTES]

    asyncio.run(scenario())


def test_close_sends_what_was_written_first_and_abort_drops_it():
    async def scenario():
        socket = SocketTransport()
        transport = CoalescingTransport(socket, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        transport.close()
        assert socket.sent == [b"HTTP/1.1 408 Request Timeout\r\n\r\n"] and socket.closed

        aborted = SocketTransport()
        transport = CoalescingTransport(aborted, asyncio.get_running_loop())
        transport.write(b"half a response")
        transport.abort()
        await _next_turn()
        assert aborted.sent == [] and aborted.aborted

    asyncio.run(scenario())
