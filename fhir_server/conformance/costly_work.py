"""Two threads of their own for work whose cost its input does not tell (terminology: an
expansion within its budget may take seconds, and so may translating through maps or
indexing a large stored code system). On the event loop such work held every client; in
the threads every request shares, twenty such requests held the writes that sign there
(26-47 s for a 1 KB update). Here they wait for each other."""

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="costly")


async def in_costly_thread(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args)` in one of the two threads, with the caller's context."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(
        _THREADS, partial(context.run, work, *args, **kwargs))
