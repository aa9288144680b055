"""The order a batch's entries run in (services/batch_steps.py): every entry once, step after
step as a transaction's (DELETE, POST, PUT/PATCH, GET), the reads and operations of a step
in request order, and a failure that escapes an entry going up as itself."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.services.batch_steps import run_in_steps
from fhir_server.services.bundle_entries import ORDER

ENTRIES = st.lists(st.tuples(st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                              "TRACE"]),
                             st.sampled_from(["Patient", "Patient/1", "Patient/1/$meta"])),
                   max_size=30)


def _raw(entries: list[tuple[str, str]]) -> list[dict]:
    return [{"request": {"method": method, "url": url}} for method, url in entries]


@given(ENTRIES)
def test_every_entry_runs_once_step_after_step(entries):
    raw = _raw(entries)
    started: list[int] = []

    async def answer(i: int) -> None:
        started.append(i)
        await asyncio.sleep(0)

    asyncio.run(run_in_steps(raw, answer))
    assert sorted(started) == list(range(len(raw)))
    steps = [ORDER.get(raw[i]["request"]["method"], 0) for i in started]
    assert steps == sorted(steps)
    one_by_one = [i for i in started if raw[i]["request"]["method"] in ("GET", "HEAD", "TRACE")
                  or "$" in raw[i]["request"]["url"]]
    for step in set(steps):
        mine = [i for i in one_by_one if ORDER.get(raw[i]["request"]["method"], 0) == step]
        assert mine == sorted(mine)


def test_a_failure_of_a_write_goes_up_as_itself():
    raw = _raw([("POST", "Patient")] * 6)

    async def answer(i: int) -> None:
        await asyncio.sleep(0)
        if i == 3:
            raise ConnectionError("MongoDB unreachable")

    with pytest.raises(ConnectionError, match="unreachable"):
        asyncio.run(run_in_steps(raw, answer))
