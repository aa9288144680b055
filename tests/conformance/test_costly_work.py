"""Costly work (terminology here; large bodies and responses: tests/api/
test_event_loop_offloading.py) runs in threads of its own, one caller's works in turn: a
client's many expansions take one thread and leave the others to everyone else (eight of
them held another client's trivial `$validate-code` 21 s, probe BX), and so do a few busy
clients' (two held a third's 3 s, probe CE)."""

import asyncio
import time

from fhir_server.conformance.costly_work import (
    _TURNS,
    THREADS,
    costly_caller,
    in_costly_thread,
)

finished: list[str] = []


async def as_caller(name: str, seconds: float) -> None:
    costly_caller.set(name)  # in this task's own context, as authentication sets it
    await in_costly_thread(time.sleep, seconds)
    finished.append(name)


def test_one_callers_works_leave_the_other_thread_to_another_caller():
    finished.clear()

    async def scenario() -> None:
        busy = [asyncio.create_task(as_caller("client-a", 0.3)) for _ in range(4)]
        await asyncio.sleep(0.05)  # all four sent before the other caller's
        await as_caller("client-b", 0.01)
        await asyncio.gather(*busy)

    started = time.monotonic()
    asyncio.run(scenario())
    # Before, client-a's four took both threads and client-b's waited behind two of them.
    assert finished == ["client-b"] + ["client-a"] * 4
    assert time.monotonic() - started >= 4 * 0.3  # client-a's one after the other
    assert _TURNS == {}  # no turn kept once its works are done


def test_busy_callers_leave_a_thread_to_another_caller():
    finished.clear()
    busy_callers = ["client-a", "client-b"]  # probe CE's two
    assert len(busy_callers) < THREADS

    async def scenario() -> None:
        busy = [asyncio.create_task(as_caller(name, 0.5))
                for name in busy_callers for _ in range(2)]
        await asyncio.sleep(0.05)
        await as_caller("bystander", 0.01)
        await asyncio.gather(*busy)

    asyncio.run(scenario())
    # With two threads, two busy callers' first works took both: the bystander's waited.
    assert finished[0] == "bystander"
    assert _TURNS == {}
