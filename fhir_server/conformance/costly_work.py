"""Threads of their own for costly work, one caller's works in turn:

- work whose cost its input does not tell (terminology: an expansion within its budget may
  take seconds, and so may translating through maps or indexing a large stored code system);
- work on a large input or output: a body of 64 KiB or more parsed, validated and indexed
  (`services/offloading.run_sized`), a response written as XML or of many entries, a large
  page of search results decoded.

On the event loop such work held every client. In the threads every request shares, it held
everyone's: twenty expansions held the writes that sign there (26-47 s for a 1 KB update),
and six 570 KB creates of one client (8.5 s each) another user's XML read 5-7 s (probe CI;
here 0.07-0.22 s). Here one caller's works wait for each other, in turn: eight expansions of
one client held another's trivial `$validate-code` 21 s when they took both threads of two.
Four threads, so that a few busy callers leave one to everyone else: with two, two callers'
expansions held a third's `$validate-code` 3 s (probe CE). With four, it took 0.01-0.03 s,
and a search on the event loop, which shares the interpreter lock with these threads,
0.01-0.02 s (0.01 s idle)."""

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

THREADS = 4
_THREADS = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="costly")
# Whose work it is (the token's issuer and subject, set when a request is authenticated).
costly_caller: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "costly_caller", default=None)


class CallerTurns:
    """One turn per caller (and event loop): the works of one caller that take it run one
    after the other; other callers' do not wait for them."""

    def __init__(self, turns: dict[tuple[int, str], tuple[asyncio.Lock, int]]) -> None:
        # (event loop, caller) → its turn, and how many works hold or wait for it.
        self._turns = turns

    @asynccontextmanager
    async def turn(self, caller: str) -> AsyncIterator[None]:
        key = (id(asyncio.get_running_loop()), caller)
        turn, users = self._turns.get(key, (asyncio.Lock(), 0))
        self._turns[key] = (turn, users + 1)
        try:
            async with turn:
                yield
        finally:
            users = self._turns[key][1] - 1
            if users:
                self._turns[key] = (turn, users)
            else:
                del self._turns[key]


_TURNS: dict[tuple[int, str], tuple[asyncio.Lock, int]] = {}
_CALLER_TURNS = CallerTurns(_TURNS)


async def in_costly_thread(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args)` in one of the threads, with the caller's context, after the caller's
    works sent earlier."""
    loop = asyncio.get_running_loop()
    run = partial(contextvars.copy_context().run, work, *args, **kwargs)
    caller = costly_caller.get()
    if caller is None:
        return await loop.run_in_executor(_THREADS, run)
    async with _CALLER_TURNS.turn(caller):
        return await loop.run_in_executor(_THREADS, run)
