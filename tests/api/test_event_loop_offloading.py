"""Work whose cost follows a stored resource, not the request, runs off the event loop (a
worker thread): a tiny PATCH of a 10 MB resource, reading it as XML and `$validate` of it
held the loop, and so every other client, for seconds (8 at once: 4 to 6 s)."""

import asyncio

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
