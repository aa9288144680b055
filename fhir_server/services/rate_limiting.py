"""Token buckets: so many requests a minute per key (a caller, a client address), refilled
continuously, in a table of bounded size that the server processes of one data directory
share (`storage/bucket_table.py`), so that a limit holds for the server as a whole."""

import math
import time
from pathlib import Path

from fhir_server.errors import TooManyRequests
from fhir_server.storage.bucket_table import BucketTable


class TokenBuckets:
    """`per_minute` requests a minute per key, at most `burst` at once (default: a minute's
    worth). At most `max_keys` keys are tracked, in the table at `path` (shared with the
    other processes using it) or in this process's memory: a bucket idle long enough to be
    full again is the same as none, and a new key takes the place of one used less recently
    (so a flood from very many addresses costs bounded memory, at worst resetting a bucket)."""

    def __init__(self, per_minute: int, burst: int | None = None, max_keys: int = 100_000,
                 path: Path | None = None):
        self.per_minute = per_minute
        self.rate = per_minute / 60
        self.capacity = float(burst or per_minute)
        self.table = BucketTable(max_keys, path)

    def __len__(self) -> int:
        """The keys whose buckets are not full again yet."""
        return self.table.used_since(time.monotonic() - self.capacity / self.rate)

    def take(self, key: str, cost: int = 1, refund: int = 0) -> float:
        """Take `cost` tokens (at most a full bucket) from `key`'s bucket: 0 if there were
        as many, else the seconds until there will be. Refused, it gives back `refund`
        tokens taken for the same request before, and the wait counts them in: a client
        that waits as long gets through."""
        cost = min(cost, int(self.capacity)) or 1
        with self.table.locked():
            # Read under the lock: a time read before it could be older than what another
            # process wrote meanwhile, and would pass for one from before a restart.
            now = time.monotonic()
            index, digest, found = self.table.slot(key)
            # A time ahead of the clock was written before the machine restarted: long ago.
            tokens, since = found if found and found[1] <= now else (self.capacity, now)
            tokens = min(self.capacity, tokens + (now - since) * self.rate)
            if tokens >= cost:
                self.table.write(index, digest, tokens - cost, now)
                return 0.0
            tokens = min(self.capacity, tokens + refund)
            self.table.write(index, digest, tokens, now)
        return (cost + refund - tokens) / self.rate

    def check(self, key: str, whose: str = "", cost: int = 1, what: str = "",
              refund: int = 0) -> None:
        """429 with `Retry-After` when `key` has fewer than `cost` tokens left (`what` says
        why a request costs more than one; `refund`: as `take`)."""
        wait = self.take(key, cost, refund)
        if wait:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequests(
                f"{what}More than {self.per_minute} requests a minute{whose}; retry in "
                f"{seconds} s", headers={"Retry-After": str(seconds)},
            )
