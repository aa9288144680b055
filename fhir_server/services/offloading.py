"""CPU-heavy work on large inputs runs in a worker thread, so that the event loop keeps
answering other clients meanwhile: Python hands the interpreter over between threads every
few milliseconds, where a call on the loop itself would hold every other request until it
ends (validating and indexing a 16 MiB resource takes seconds). The threads are those of
costly work (`conformance/costly_work.py`), where one caller's works take turns: in the
threads all requests share, one client's six large creates held everyone's XML reads."""

import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from fhir_server.conformance.costly_work import in_costly_thread
from fhir_server.conformance.unit_reading import UnitsNotRead, in_units_thread, reading_forbidden

P = ParamSpec("P")
T = TypeVar("T")

# The event loop waits for a busy worker thread to hand the interpreter over at most this
# long per switch; a request takes dozens of switches, Python's default 5 ms made 200 ms.
SWITCH_INTERVAL_SECONDS = 0.001
# Below this many bytes of input, the work takes about as long as handing it to a thread.
LARGE_INPUT_BYTES = 64 * 1024

input_size: ContextVar[int] = ContextVar("input_size", default=0)
"""Bytes of the input the current request or background job works on (its body, say)."""


def share_the_interpreter_often() -> None:
    """Make worker threads hand the interpreter back to the event loop every millisecond."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))


async def run_sized(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args)`, in a thread for costly work when the current input is large
    (`input_size`), else on the event loop; in the units thread when it meets a UCUM code
    not read before (done again there, the work holds neither the event loop nor the
    costly work's threads while codes are read). A thread sees the caller's context
    variables. `work` must change nothing it was given."""
    return await _units_apart(work, input_size.get() >= LARGE_INPUT_BYTES, *args, **kwargs)


async def run_off_the_loop(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args)` in a thread for costly work (`conformance/costly_work.py`); in the units
    thread when it meets a UCUM code not read before, as `run_sized`."""
    return await _units_apart(work, True, *args, **kwargs)


async def _units_apart(work: Callable[P, T], off_the_loop: bool, *args: P.args,
                       **kwargs: P.kwargs) -> T:
    """`work(*args)` on the event loop or in a costly work thread; if it meets a UCUM code
    not read before, again in the units thread."""
    forbidden = reading_forbidden.set(True)
    try:
        if off_the_loop:
            return await in_costly_thread(work, *args, **kwargs)
        return work(*args, **kwargs)
    except UnitsNotRead:
        pass
    finally:
        reading_forbidden.reset(forbidden)
    return await in_units_thread(work, *args, **kwargs)
