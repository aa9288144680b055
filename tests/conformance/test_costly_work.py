"""Costly work (terminology) runs in two threads of its own, one caller's works in turn:
a client's many expansions take one thread and leave the other to everyone else (eight of
them held another client's trivial `$validate-code` 21 s, probe BX)."""

import asyncio
import time

from fhir_server.conformance.costly_work import _TURNS, costly_caller, in_costly_thread


def test_one_callers_works_leave_the_other_thread_to_another_caller():
    finished: list[str] = []

    async def as_caller(name: str, seconds: float) -> None:
        costly_caller.set(name)  # in this task's own context, as authentication sets it
        await in_costly_thread(time.sleep, seconds)
        finished.append(name)

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
