"""When a UCUM code not read before may be read. Reading one takes 1 to 50 ms of CPU under a
lock (ucumvert and pint are not thread-safe), so it is never done on the event loop (416
made-up codes in one search held every client for 8.6 s, 295 in one write 14 s), and only in
one thread of its own: work waiting for that lock held the threads every request shares (six
writes of 250 made-up codes held all of them for 40 s; a small XML read waited 20 s). Each
request reads a bounded number; codes past it have no base form here (compared as written)."""

import asyncio
import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Codes not read before that one request's searches may have read, and its writes: the
# units thread is every request's, and six writes of 250 made-up codes each kept a write
# with one new code waiting 31 s behind them at 1,000 a request.
MOST_NEW_CODES_PER_SEARCH = 32
MOST_NEW_CODES_PER_REQUEST = 128

_new_codes_read: ContextVar[list[int] | None] = ContextVar("ucum_new_codes", default=None)
# Set while work runs where reading a code would hold others (the event loop, the shared
# threads): a code not read before raises `UnitsNotRead` there, and the work is done again
# in the units thread.
reading_forbidden: ContextVar[bool] = ContextVar("ucum_reading_forbidden", default=False)
_UNITS_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ucum")


class UnitsNotRead(Exception):
    """A UCUM code not read before, met where reading it would hold other requests."""


@contextmanager
def new_codes_counted() -> Iterator[None]:
    """Count the codes not read before that this block reads (a request, or a background
    job's search) against one bound; a block within another counts against the outer's."""
    if _new_codes_read.get() is not None:
        yield
        return
    token = _new_codes_read.set([0])
    try:
        yield
    finally:
        _new_codes_read.reset(token)


def may_read_new(most: int = MOST_NEW_CODES_PER_REQUEST) -> bool:
    """Whether a code not read before may be read here: never where `reading_forbidden`
    (raises UnitsNotRead), else while the count (`new_codes_counted`) is under `most`."""
    if reading_forbidden.get():
        raise UnitsNotRead()
    count = _new_codes_read.get()
    if count is None:  # uncounted: one code of a request ($validate-code)
        return True
    if count[0] >= most:
        return False
    count[0] += 1
    return True


async def in_units_thread(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args)` in the one thread that reads codes, with the caller's context."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(
        _UNITS_THREAD, partial(context.run, work, *args, **kwargs))
