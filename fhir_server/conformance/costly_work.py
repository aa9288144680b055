"""Two threads of their own for work whose cost its input does not tell (terminology: an
expansion within its budget may take seconds, and so may translating through maps or
indexing a large stored code system). On the event loop such work held every client; in
the threads every request shares, twenty such requests held the writes that sign there
(26-47 s for a 1 KB update). Here they wait for each other, one caller's in turn: eight
expansions of one client held another's trivial `$validate-code` 21 s when they took both
threads, and now leave it the other."""

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="costly")
# Whose work it is (the token's issuer and subject, set when a request is authenticated).
costly_caller: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "costly_caller", default=None)
# (event loop, caller) → the turn its works take, and how many of them hold or wait for it.
_TURNS: dict[tuple[int, str], tuple[asyncio.Lock, int]] = {}


async def in_costly_thread(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args)` in one of the two threads, with the caller's context, after the
    caller's works sent earlier."""
    loop = asyncio.get_running_loop()
    run = partial(contextvars.copy_context().run, work, *args, **kwargs)
    caller = costly_caller.get()
    if caller is None:
        return await loop.run_in_executor(_THREADS, run)
    key = (id(loop), caller)
    turn, users = _TURNS.get(key, (asyncio.Lock(), 0))
    _TURNS[key] = (turn, users + 1)
    try:
        async with turn:
            return await loop.run_in_executor(_THREADS, run)
    finally:
        users = _TURNS[key][1] - 1
        if users:
            _TURNS[key] = (turn, users)
        else:
            del _TURNS[key]
