"""What the request bodies of one process take at once (api/bodies_in_flight.py): their bytes
within a budget, past which a request is 503 with Retry-After; large bodies one caller at a
time, and a few at once in all, waiting on the event loop rather than in worker threads."""

import asyncio

from api.helpers import FHIR_HEADERS, assert_outcome, new_patient

from fhir_server.api import bodies_in_flight
from fhir_server.api.bodies_in_flight import LARGE_BYTES, large_body_turn, request_bodies
from fhir_server.conformance.costly_work import costly_caller


def test_a_body_beyond_what_the_process_may_hold_is_503_and_gives_its_bytes_back(
        client, monkeypatch):
    monkeypatch.setattr(bodies_in_flight, "MOST_BYTES", 100_000)
    large = new_patient(name=[{"text": "Nguyễn Văn An " * 10_000}])
    refused = client.post("/Patient", json=large, headers=FHIR_HEADERS)
    assert "request bodies" in assert_outcome(refused, 503)["issue"][0]["diagnostics"]
    assert int(refused.headers["Retry-After"]) > 0
    # What the refused request held was given back: the process holds no bytes now.
    for _ in range(3):
        assert client.post("/Patient", json=new_patient(), headers=FHIR_HEADERS
                           ).status_code == 201


def test_one_callers_large_bodies_take_turns_and_leave_others_a_slot():
    """A's second large body waits for A's first request to end; B's does not wait for A's;
    C's waits for one of the two slots of the process. Small bodies never wait."""
    async def scenario() -> list[str]:
        events: list[str] = []
        ends = {name: asyncio.Event() for name in ("a1", "a2", "b1", "c1", "small")}

        async def request(caller: str, name: str, size: int) -> None:
            costly_caller.set(caller)
            async with request_bodies():
                await large_body_turn(size)
                events.append(name)
                await ends[name].wait()

        tasks = [asyncio.create_task(request(caller, name, size)) for caller, name, size in (
            ("A", "a1", LARGE_BYTES), ("A", "a2", LARGE_BYTES), ("B", "b1", 5 * LARGE_BYTES),
            ("C", "c1", LARGE_BYTES), ("C", "small", LARGE_BYTES - 1))]
        await asyncio.sleep(0.05)
        events.append("|")
        ends["a1"].set()
        await asyncio.sleep(0.05)
        events.append("|")
        for end in ends.values():
            end.set()
        await asyncio.gather(*tasks)
        return events

    first, second, rest = " ".join(asyncio.run(scenario())).split(" | ")
    assert sorted(first.split()) == ["a1", "b1", "small"]
    assert second == "c1"  # a1's slot, before a2, which waits for A's turn and then a slot
    assert rest == "a2"
