"""Stopping the background tasks of a service."""

import asyncio
from collections.abc import Iterable

# How long a cancelled task is waited for before it is cancelled again.
_RECANCEL_SECONDS = 1.0


async def cancel_all(tasks: Iterable[asyncio.Task]) -> None:
    """Cancel the tasks and wait until every one has ended. A cancellation that lands inside
    a driver call can be swallowed there (PyMongo's network layer, while a reply is read), and
    the task's loop then runs on: such a task is cancelled again until it ends, or shutting
    down would wait for it forever."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=_RECANCEL_SECONDS)
