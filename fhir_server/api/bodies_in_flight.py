"""What the request bodies of one process may take at once.

- Bytes being received: requests hold their bodies' bytes until they end, together at most
  MOST_BYTES; a request whose body would take more is answered 503 with Retry-After (a
  hundred stalled uploads of just under 16 MiB held 1.6 GB until the body deadline).
- Large bodies (LARGE_BYTES or more, decoded): their parsed objects take 10-20 times their
  bytes, and parsing, validating and writing them holds a worker thread for seconds. Each
  caller's large bodies are handled one after the other, and at most LARGE_AT_ONCE
  requests of the process handle one at once; the others wait on the event loop, holding
  no thread. Twenty gzipped `$validate` bodies of one client (41 KiB each, 16 MiB decoded)
  held every worker thread, so another user's XML read took 50 s and the process grew by
  2.4 GB; they now take one thread, and another caller's large body the other slot.

Both are held from when the body is read until the request ends (`request_bodies`)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from fhir_server.conformance.costly_work import CallerTurns, costly_caller
from fhir_server.errors import ServiceUnavailable

MOST_BYTES = 512 * 2**20
LARGE_BYTES = 2**20
LARGE_AT_ONCE = 2
_RETRY_AFTER_SECONDS = 5


@dataclass
class _Request:
    """What one request holds: its bytes, and its large body's turns (`turns`, left open
    until it ends)."""

    turns: AsyncExitStack
    size: int = 0
    large: bool = False


@dataclass
class _Process:
    """The bytes all requests of this process hold, and the turns of large bodies, for one
    event loop."""

    held: int = 0
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(LARGE_AT_ONCE))


_current: ContextVar[_Request | None] = ContextVar("request_body", default=None)
_processes: dict[int, _Process] = {}
_callers = CallerTurns({})


def _process() -> _Process:
    loop = id(asyncio.get_running_loop())
    if loop not in _processes:
        _processes[loop] = _Process()
    return _processes[loop]


@asynccontextmanager
async def request_bodies() -> AsyncIterator[None]:
    """Count the body bytes and hold the large body turns of the request running in this
    block, and give them back when it ends."""
    async with AsyncExitStack() as turns:
        request = _Request(turns)
        token = _current.set(request)
        try:
            yield
        finally:
            _current.reset(token)
            _process().held -= request.size


def receive(size: int) -> None:
    """Count `size` more bytes of the current request's body; 503 past MOST_BYTES."""
    request = _current.get()
    if request is None:
        return
    process = _process()
    if process.held + size > MOST_BYTES:
        raise ServiceUnavailable(
            f"The server holds {MOST_BYTES // 2**20} MiB of request bodies already; send "
            "the request again later", retry_after=_RETRY_AFTER_SECONDS)
    process.held += size
    request.size += size


async def large_body_turn(size: int) -> None:
    """Before a body of `size` bytes (decoded) is parsed: when it is large, wait for the
    caller's turn and a slot of the process, both held until the request ends."""
    request = _current.get()
    if request is None or size < LARGE_BYTES or request.large:
        return
    request.large = True
    await request.turns.enter_async_context(_callers.turn(costly_caller.get() or ""))
    await request.turns.enter_async_context(_process().slots)

