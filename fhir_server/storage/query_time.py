"""The time MongoDB may spend on the queries of one search (FHIR_SEARCH_TIME_LIMIT_SECONDS).

Counted from when the search's store is made, and sent as each query's `maxTimeMS` (what is
left of it): mongod stops a query itself when its time is up, so a search whose filter costs
minutes (hundreds of `:contains` or `:not` values over a large type), or whose chains and
`_has` run many such queries one after the other, holds neither mongod nor the request that
long, and the client is told why: 400 `too-costly`, as HAPI and Firely answer a search they
will not run.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import ExecutionTimeout

from fhir_server.errors import TooCostly


def milliseconds(seconds: float) -> int | None:
    """The limit in milliseconds of one in seconds (None: no limit, for 0 or less)."""
    return max(1, round(seconds * 1000)) if seconds > 0 else None


def options(millis: int | None) -> dict:
    """The keyword arguments of a command that gives it `millis` at most."""
    return {"maxTimeMS": millis} if millis else {}


def left_of(ends: float | None) -> int | None:
    """The `maxTimeMS` of a query sent now that must be done by `ends` (`time.monotonic()`;
    None: no limit); ExecutionTimeout, as mongod stops one, when that time has passed (a
    search sent again alone after a union of searches ran out its time)."""
    if ends is None:
        return None
    left = int((ends - time.monotonic()) * 1000)
    if left <= 0:
        raise ExecutionTimeout("the search's time was spent before this query", 50)
    return left


class QueryClock:
    """The time left to the queries of one search (no limit when `millis` is None)."""

    def __init__(self, millis: int | None):
        self.millis = millis
        # When its queries must be done (`time.monotonic()`; None: no limit).
        self.ends = None if millis is None else time.monotonic() + millis / 1000

    def left(self, at_most: int | None = None) -> int | None:
        """The `maxTimeMS` of the next query (at most `at_most`): 400 once none is left."""
        try:
            left = left_of(self.ends)
        except ExecutionTimeout:
            raise self.stopped() from None
        return at_most if left is None else left if at_most is None else min(left, at_most)

    def stopped(self) -> TooCostly:
        return TooCostly(
            f"The search was stopped after {(self.millis or 0) / 1000:g} s, the longest the "
            "database may spend on the queries of one search: narrow it down (fewer values, "
            "repeated parameters, chains or _has; an exact or token match rather than "
            ":contains, :text or :not)")

    def timed_out(self, sent: int | None, own: int | None, what: str) -> Exception:
        """What a query stopped at its `maxTimeMS` (`sent`, as `left(own)` gave it) raises:
        TimeoutError when the caller's own limit (`own`, an estimate's) stopped it, which
        the caller does without; else the search's 400 `too-costly`."""
        if own and sent == own:
            return TimeoutError(f"{what} took too long")
        return self.stopped()

    @contextmanager
    def within(self) -> Iterator[None]:
        """Queries whose `maxTimeMS` ran out as the request's 400 `too-costly`."""
        try:
            yield
        except ExecutionTimeout:
            if self.millis is None:
                raise
            raise self.stopped() from None
