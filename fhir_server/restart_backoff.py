"""How long to wait before restarting a process that died (an embedded mongod, the audit
drainer): at once when it had run for a while, then 1, 2, 4 ... seconds while it keeps dying
soon after each start, so that one that cannot run does not take the machine with it."""

import time

# The longest wait between restarts.
MAX_RESTART_DELAY = 30.0
# A process that ran this long before dying is restarted at once.
STABLE_SECONDS = 60.0


class RestartBackoff:
    def __init__(self) -> None:
        self._delay = 0.0
        self._started = float("-inf")  # a first death is restarted at once

    def delay(self) -> float:
        """The seconds to wait before the next start (ask once per attempt, then start)."""
        if time.monotonic() - self._started >= STABLE_SECONDS:
            self._delay = 0.0
        delay = self._delay
        self._delay = min(max(2 * delay, 1.0), MAX_RESTART_DELAY)
        self._started = time.monotonic() + delay
        return delay
