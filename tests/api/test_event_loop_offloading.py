"""Work whose cost follows a stored resource, not the request, runs off the event loop (a
worker thread): a tiny PATCH of a 10 MB resource, reading it as XML and `$validate` of it
held the loop, and so every other client, for seconds (8 at once: 4 to 6 s). One caller's
such work takes turns (conformance/costly_work.py): in the threads every request shared,
one client's six large creates held another user's XML read 7 s (probe CI)."""

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from functools import partial

import httpx
import pytest
from helpers import FHIR_HEADERS, created, new_patient

from fhir_server.api import media
from fhir_server.services import interactions
from fhir_server.services.conformance_policy import ConformancePolicy
from signing import provenance as signing_provenance


@pytest.fixture
def threads_of(monkeypatch):
    """`threads_of(module, name)`: record, for each call of a module's function, whether it
    ran on an event loop's thread (the server's, which runs in a thread of the tests)."""
    seen: list[bool] = []

    def watch(module, name: str) -> list[bool]:
        real = getattr(module, name)

        def recorded(*args, **kwargs):
            seen.append(_on_an_event_loop())
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)
        return seen

    return watch


def _on_an_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _off_the_loop(seen: list[bool]) -> bool:
    return bool(seen) and not any(seen)


def test_a_small_patch_is_applied_and_checked_off_the_loop(client, threads_of):
    patient = created(client, new_patient())
    seen = threads_of(interactions, "apply_json_patch")
    response = client.patch(f"/Patient/{patient['id']}",
                            json=[{"op": "replace", "path": "/gender", "value": "female"}],
                            headers={"Content-Type": "application/json-patch+json"})
    assert response.status_code == 200, response.text
    assert _off_the_loop(seen), seen


def test_an_xml_read_is_written_off_the_loop(client, threads_of):
    patient = created(client, new_patient())
    seen = threads_of(media, "resource_to_xml")
    response = client.get(f"/Patient/{patient['id']}",
                          headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 200 and response.text.startswith("<"), response.text
    assert _off_the_loop(seen), seen


def test_a_write_is_canonicalised_for_its_signature_off_the_loop(client, threads_of):
    seen = threads_of(signing_provenance, "_signing_input")
    created(client, new_patient())
    assert _off_the_loop(seen), seen


def test_a_search_answered_in_xml_is_written_off_the_loop(client, threads_of):
    created(client, new_patient())
    seen = threads_of(media, "resource_to_xml")
    response = client.get("/Patient", params={"_count": "2"},
                          headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 200 and "<Bundle" in response.text, response.text[:200]
    assert _off_the_loop(seen), seen


def test_validate_of_a_stored_resource_runs_off_the_loop(client, threads_of):
    patient = created(client, new_patient())
    seen = threads_of(ConformancePolicy, "issues")
    response = client.get(f"/Patient/{patient['id']}/$validate", headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    assert _off_the_loop(seen), seen


# The threads of asyncio's default executor, which every request's offloaded work shared.
SHARED_THREADS = min(32, (os.cpu_count() or 1) + 4)
BUSY = "Bận"  # the family name of the busy caller's Patients
BUSY_CALLER = "079085012347"


class BusyCaller:
    """Holds the work done for a busy caller's Patients (or a Bundle of them) in the thread
    it runs in, until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, client: httpx.Client):
        self.client = client
        self.holding: list[None] = []
        self.released = threading.Event()
        self._monkeypatch = monkeypatch

    def hold(self, owner: object, name: str) -> None:
        real = getattr(owner, name)

        def held(*args, **kwargs):
            if any(_busy(argument) for argument in args):
                self.holding.append(None)
                self.released.wait(30)
            return real(*args, **kwargs)

        self._monkeypatch.setattr(owner, name, held)

    def xml_read_meanwhile(self, reader: httpx.Client, patient_id: str,
                           request: Callable[[], httpx.Response]) -> httpx.Response | None:
        """Another caller's XML read, sent while the busy caller's `request`s, as many as
        the shared threads, are held; None when it is not answered within 5 s."""
        with ThreadPoolExecutor(SHARED_THREADS + 1) as pool:
            busy = [pool.submit(request) for _ in range(SHARED_THREADS)]
            deadline = time.monotonic() + 2  # for all of them to take a thread, if they may
            while len(self.holding) < SHARED_THREADS and time.monotonic() < deadline:
                time.sleep(0.02)
            read = pool.submit(reader.get, f"/Patient/{patient_id}",
                               headers={"Accept": "application/fhir+xml"})
            answered = bool(wait_for([read], timeout=5).done)
            self.released.set()
            assert all(done.result().status_code in (200, 201) for done in busy)
        return read.result() if answered else None


def _busy(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    resources = [entry.get("resource", {}) for entry in value.get("entry", ())] or [value]
    return any(name.get("family") == BUSY for resource in resources
               for name in resource.get("name", ()))


@pytest.fixture
def busy_caller(server, issuer, monkeypatch) -> Iterator[BusyCaller]:
    headers = {"Accept": "application/fhir+json",
               "Authorization": f"Bearer {issuer.token(subject=BUSY_CALLER)}"}
    with httpx.Client(base_url=server.base, timeout=60, headers=headers) as http:
        busy = BusyCaller(monkeypatch, http)
        yield busy
        busy.released.set()


def test_one_callers_large_writes_leave_another_callers_xml_read_a_thread(
        client, busy_caller):
    """Probe CI: six concurrent 570 KB creates of one user (8.5 s of work each) held every
    thread the requests shared, and another user's XML read waited for them, 7 s."""
    reader = created(client, new_patient())
    busy_caller.hold(ConformancePolicy, "check")
    large = new_patient(name=[{"family": BUSY, "text": "Bận " * 20_000}])  # off the loop
    create = partial(busy_caller.client.post, "/Patient", json=large, headers=FHIR_HEADERS)
    answer = busy_caller.xml_read_meanwhile(client, reader["id"], create)
    assert answer is not None, "the XML read waited for the other caller's writes"
    assert answer.status_code == 200 and answer.text.startswith("<"), answer.text


def test_one_callers_pages_rendered_off_the_loop_take_turns(client, busy_caller):
    """Probe CI: one client's concurrent large pages, rendered in the threads every request
    shared, held other users' responses rendered there."""
    reader = created(client, new_patient())
    created(busy_caller.client, new_patient(name=[{"family": BUSY}]))
    busy_caller.hold(media, "resource_to_xml")
    search = partial(busy_caller.client.get, "/Patient", params={"family": BUSY},
                     headers={"Accept": "application/fhir+xml"})
    answer = busy_caller.xml_read_meanwhile(client, reader["id"], search)
    assert answer is not None, "the XML read waited for the other caller's pages"
    assert answer.status_code == 200 and answer.text.startswith("<"), answer.text
