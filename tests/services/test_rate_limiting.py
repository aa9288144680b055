"""The token buckets behind both rate limits: a bounded table whatever the number of keys
(a flood from many addresses costs bounded memory), refilled on a clock."""

import multiprocessing
import time

import pytest

from fhir_server.errors import TooManyRequests
from fhir_server.services import rate_limiting
from fhir_server.services.rate_limiting import TokenBuckets


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(rate_limiting.time, "monotonic", fake)
    return fake


def test_burst_then_refused_with_the_wait(clock):
    buckets = TokenBuckets(per_minute=60, burst=3)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == pytest.approx(1.0)
    with pytest.raises(TooManyRequests) as refused:
        buckets.check("a")
    assert refused.value.headers == {"Retry-After": "1"}
    clock.now += 1
    assert buckets.take("a") == 0
    assert buckets.take("b") == 0  # keys apart


def test_the_table_never_holds_more_than_max_keys(clock):
    buckets = TokenBuckets(per_minute=60, burst=5, max_keys=100)
    for n in range(10_000):
        buckets.take(f"10.0.{n // 256}.{n % 256}")
        assert len(buckets) <= 100
    # The most recently used keys are the ones kept.
    assert buckets.take("10.0.39.15") == 0 and len(buckets) == 100


def test_idle_keys_are_dropped_once_their_bucket_is_full_again(clock):
    buckets = TokenBuckets(per_minute=60, burst=5)
    for n in range(50):
        buckets.take(f"key{n}")
    clock.now += 5  # 5 tokens at one a second: every bucket is full again
    buckets.take("other")
    assert len(buckets) == 1


def test_buckets_on_one_file_are_one_limit(clock, tmp_path):
    # As the worker processes of one server: each opens the table under the data dir.
    path = tmp_path / "rate-limits" / "callers"
    first, second = (TokenBuckets(per_minute=60, burst=4, path=path) for _ in range(2))
    assert [first.take("a"), second.take("a"), first.take("a"), second.take("a")] == [0] * 4
    assert first.take("a") > 0 and second.take("a") > 0
    clock.now += 1
    assert second.take("a") == 0 and first.take("a") > 0
    assert len(first) == len(second) == 1


def test_a_time_from_before_a_restart_of_the_machine_is_a_full_bucket(clock, tmp_path):
    path = tmp_path / "callers"
    TokenBuckets(per_minute=60, burst=2, path=path).take("a")
    TokenBuckets(per_minute=60, burst=2, path=path).take("a")
    clock.now = 5.0  # the monotonic clock started again
    restarted = TokenBuckets(per_minute=60, burst=2, path=path)
    assert [restarted.take("a"), restarted.take("a")] == [0, 0]


def _take_for(path, seconds: float, allowed) -> None:
    buckets = TokenBuckets(60, max_keys=1000, path=path)
    end, taken = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        taken += buckets.take("one client") == 0
    with allowed.get_lock():
        allowed.value += taken


def test_processes_racing_for_one_key_share_its_limit(tmp_path):
    """Four processes taking from one bucket as fast as they can for 2 s, at 60 a minute:
    about 62 are allowed in all, however their takes interleave."""
    path = tmp_path / "buckets"
    TokenBuckets(60, max_keys=1000, path=path)
    context = multiprocessing.get_context("spawn")
    allowed = context.Value("i", 0)
    workers = [context.Process(target=_take_for, args=(path, 2.0, allowed)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * 4
    assert 60 <= allowed.value <= 66


def test_a_table_of_another_size_on_the_same_path_leaves_this_one_alone(tmp_path):
    """A process started with another table size (a changed setting) while this one runs:
    each keeps its own table, and this one's memory map stays whole (a shrunk file would
    kill the process with SIGBUS)."""
    path = tmp_path / "rate-limits" / "addresses"
    running = TokenBuckets(60, max_keys=4096, path=path)
    assert running.take("client") == 0
    TokenBuckets(60, max_keys=16, path=path)
    for _ in range(59):
        assert running.take("client") == 0
    assert running.take("client") > 0


@pytest.mark.parametrize("entries", [2, 10, 30, 45])
def test_a_bundle_that_waits_as_told_gets_through(clock, entries):
    """A Bundle costs a token for its request, then one per further entry (at most a full
    bucket): refused, it gives its request's token back, and `Retry-After` counts it, so a
    client that retries after that wait is not refused again (it was, for ever, one token
    short)."""
    buckets = TokenBuckets(per_minute=30)
    for _ in range(30):
        buckets.take("a")
    clock.now += 2.5  # 1.25 tokens back
    for _ in range(5):
        assert buckets.take("a") == 0  # the Bundle's request
        more = min(entries, 30) - 1
        wait = buckets.take("a", more, refund=1)
        if wait == 0:
            return
        clock.now += wait
    pytest.fail("waiting as told never let the Bundle through")
