"""Token buckets: so many requests a minute per key (a caller, a client address), refilled
continuously, in a table of bounded size. Kept in memory, so a limit applies per process."""

import math
import time
from collections import OrderedDict

from fhir_server.errors import TooManyRequests


class TokenBuckets:
    """`per_minute` requests a minute per key, at most `burst` at once (default: a minute's
    worth). At most `max_keys` keys are tracked: a bucket idle long enough to be full again
    is the same as none and is dropped, and beyond `max_keys` the least recently used goes
    (so a flood from very many addresses costs bounded memory, at worst resetting a bucket)."""

    def __init__(self, per_minute: int, burst: int | None = None, max_keys: int = 100_000):
        self.per_minute = per_minute
        self.rate = per_minute / 60
        self.capacity = float(burst or per_minute)
        self.max_keys = max_keys
        # Least recently used first: each take moves its key to the end.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Take one token from `key`'s bucket: 0 if there was one, else the seconds until
        there will be."""
        now = time.monotonic()
        tokens, since = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - since) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
        self._evict(now)
        return wait

    def check(self, key: str, whose: str = "") -> None:
        """429 with `Retry-After` when `key` has no token left."""
        wait = self.take(key)
        if wait:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequests(
                f"More than {self.per_minute} requests a minute{whose}; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def _evict(self, now: float) -> None:
        refilled = self.capacity / self.rate
        while self._buckets:
            _, (_, since) = next(iter(self._buckets.items()))
            if len(self._buckets) <= self.max_keys and now - since < refilled:
                return
            self._buckets.popitem(last=False)
