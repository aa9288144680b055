"""One socket write per response: uvicorn writes a response's status line and headers, then
its body, each straight to the socket (a send() system call each, and a TCP segment each,
which wakes the client twice). Writes made during one turn of the event loop are joined and
sent at the end of that turn instead: a read by id costs 0.326-0.328 ms of server CPU instead
of 0.345-0.346 (bench/read.py, one worker). A large write (a streamed export file) is sent at once,
so what waits in memory stays small and the transport's flow control keeps working."""

import asyncio
from typing import Any, cast

# Writes buffered beyond this size are sent at once.
FLUSH_BYTES = 64 * 1024


class CoalescingTransport(asyncio.Transport):
    """`transport`, its writes of one event-loop turn joined into one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_BYTES:
            self.flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what was written so far (a closing or aborted transport takes nothing more)."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._pending_bytes + self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


class CoalescedWrites:
    """A protocol mixin (before uvicorn's protocol class): it writes through a
    CoalescingTransport."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; a switch of protocols
        # (to h11) hands on the wrapper itself.
        if not isinstance(transport, CoalescingTransport):
            transport = CoalescingTransport(cast(asyncio.Transport, transport),
                                            asyncio.get_running_loop())
        super().connection_made(transport)  # type: ignore[misc]
