"""The order a batch's entries run in: that of a transaction (http.html#brules: DELETE,
POST, PUT/PATCH, GET), its plain writes of one step a few at a time, since each is
independent and its own transaction (one after the other, a batch of 5,000 creates took
142 s); reads and operations one by one, as their budgets (`read_budget`) count them in the
order they run."""

import asyncio
from collections.abc import Callable, Coroutine
from itertools import groupby
from typing import Any

from fhir_server.services.bundle_entries import ORDER

# Plain write entries of one step run at once.
WRITES_AT_ONCE = 4


async def run_in_steps(raw_entries: list,
                       answer: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """Call `answer(i)` for every entry index, step after step; within a step, its plain
    writes together (`WRITES_AT_ONCE` at a time), then its other entries in request order.
    The first failure that escapes `answer` cancels the writes still running."""
    def step_of(i: int) -> int:
        return ORDER.get(_method_of(raw_entries[i]), 0)

    for _, step in groupby(sorted(range(len(raw_entries)), key=step_of), key=step_of):
        indexes = list(step)
        writes = [i for i in indexes if _plain_write(raw_entries[i])]
        await _at_most(WRITES_AT_ONCE, answer, writes)
        for i in indexes:
            if i not in writes:
                await answer(i)


def _method_of(raw: object) -> str:
    """A raw entry's request.method, if it has one (the entry is checked when it runs)."""
    request = raw.get("request") if isinstance(raw, dict) else None
    method = request.get("method") if isinstance(request, dict) else None
    return method if isinstance(method, str) else ""


def _plain_write(raw: object) -> bool:
    """Whether a raw batch entry is a write, not an operation."""
    request = raw.get("request") if isinstance(raw, dict) else None
    url = request.get("url") if isinstance(request, dict) else None
    return (_method_of(raw) in ("DELETE", "POST", "PUT", "PATCH") and isinstance(url, str)
            and "$" not in url)


async def _at_most(limit: int, answer: Callable[[int], Coroutine[Any, Any, None]],
                   indexes: list[int]) -> None:
    """`answer` each index, `limit` at a time; the first failure cancels the rest (those not
    started yet are never called)."""
    slots = asyncio.Semaphore(limit)

    async def held(i: int) -> None:
        async with slots:
            await answer(i)

    try:
        async with asyncio.TaskGroup() as group:
            for i in indexes:
                group.create_task(held(i))
    except ExceptionGroup as failures:
        # As one by one: the first (MongoDB unreachable: 503 for the request) goes up as it is.
        raise failures.exceptions[0] from None
