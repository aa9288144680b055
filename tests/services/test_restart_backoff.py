"""A process that dies (the embedded mongod, the audit drainer) is restarted at once, then
after 1, 2, 4 ... up to 30 s while it keeps dying soon after each start, and at once again
once it has run for a minute."""

import pytest

from fhir_server import restart_backoff
from fhir_server.restart_backoff import RestartBackoff


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(restart_backoff.time, "monotonic", lambda: now[0])
    return now


def test_restarts_of_a_process_that_keeps_dying_wait_ever_longer(clock):
    backoff = RestartBackoff()
    delays = []
    for _ in range(8):
        delays.append(delay := backoff.delay())
        clock[0] += delay + 5  # it dies 5 s after its start
    assert delays == [0, 1, 2, 4, 8, 16, 30, 30]


def test_a_process_that_ran_a_minute_is_restarted_at_once(clock):
    backoff = RestartBackoff()
    assert [backoff.delay(), backoff.delay(), backoff.delay()] == [0, 1, 2]
    clock[0] += 2 + restart_backoff.STABLE_SECONDS  # started after its 2 s, ran 60 s
    assert backoff.delay() == 0
    assert backoff.delay() == 1
