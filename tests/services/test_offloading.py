"""CPU-heavy work on a large input runs in a worker thread, seeing the caller's context (the
fixed clock of a repeatable unit, say); on a small input it runs in place."""

import asyncio
import threading

from fhir_server.services.offloading import LARGE_INPUT_BYTES, input_size, run_sized
from fhir_server.services.versions import repeatable_unit, utc_now


def _where_and_when() -> tuple[threading.Thread, object]:
    return threading.current_thread(), utc_now()


async def _run(size: int) -> tuple[threading.Thread, object, object]:
    input_size.set(size)
    with repeatable_unit():
        thread, now = await run_sized(_where_and_when)
        return thread, now, utc_now()


def test_a_large_input_is_worked_on_in_another_thread_with_the_callers_context():
    thread, now_there, now_here = asyncio.run(_run(LARGE_INPUT_BYTES))
    assert thread is not threading.current_thread()
    assert now_there == now_here  # the unit's clock, not a new "now"


def test_a_small_input_is_worked_on_in_place():
    thread, now_there, now_here = asyncio.run(_run(LARGE_INPUT_BYTES - 1))
    assert thread is threading.current_thread()
    assert now_there == now_here
