"""A person's signature comes from a remote signing service; a slow one slows that write
only. The signature is requested outside the MongoDB transaction, once per write, and a
resource changed by someone else while it was being signed is signed again as it is."""

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from api.helpers import FHIR_HEADERS, created, new_patient
from security.helpers import fhir_client, own_server

from fhir_server.api.dev_csc import create_dev_csc_app
from provenance.helpers import assert_passed, provenance_of, verify, versioned

SIGNING_DELAY = 3.0


class SlowSigningService:
    """An ASGI wrapper of the development CSC app: every `signatures/signHash` waits
    `delay` seconds first (and calls `before_signing`), and is counted."""

    def __init__(self, app, delay: float):
        self.app = app
        self.delay = delay
        self.sign_requests = 0
        self.before_signing = lambda: None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith("/signatures/signHash"):
            self.sign_requests += 1
            self.before_signing()
            await _sleep(self.delay)
        await self.app(scope, receive, send)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@pytest.fixture(scope="module")
def slow_signing(signing_service) -> Iterator[SlowSigningService]:
    threaded = _root_threaded_server()
    slow = SlowSigningService(create_dev_csc_app(signing_service.service, signing_service.token),
                              SIGNING_DELAY)
    threaded.start(slow, lifespan="off")
    slow.url = f"http://127.0.0.1:{threaded.port}/csc/v2"
    yield slow
    threaded.__exit__(None, None, None)


def _root_threaded_server():
    from security.helpers import _ROOT

    return _ROOT.ThreadedServer()


@pytest.fixture(scope="module")
def slow_server(mongo_uri, request, tmp_path_factory, issuer, slow_signing):
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    csc_url=slow_signing.url) as running:
        yield running


@pytest.fixture(scope="module")
def person(slow_server, issuer) -> Iterator[httpx.Client]:
    with fhir_client(slow_server.base, issuer.token()) as http:
        http.timeout = 60
        yield http


def test_a_person_write_is_signed_once_and_verifies(person, slow_signing):
    person.get("/metadata")
    created(person, new_patient())  # the credential lookup, once per person
    before = slow_signing.sign_requests
    started = time.monotonic()
    patient = created(person, new_patient())
    assert time.monotonic() - started >= SIGNING_DELAY
    assert slow_signing.sign_requests == before + 1
    assert_passed(verify(person, provenance_of(person, versioned(patient))["id"]))


def test_other_requests_are_answered_while_a_signature_is_slow(person, slow_signing):
    """Reads, searches and writes of the same types go on while a person's write waits for
    its signature; nothing holds a transaction open meanwhile."""
    patient = created(person, new_patient())
    writer = threading.Thread(target=lambda: created(person, new_patient()))
    writer.start()
    time.sleep(0.5)  # the write is now waiting for the signing service
    latencies = []
    for _ in range(5):
        started = time.monotonic()
        assert person.get(f"/Patient/{patient['id']}").status_code == 200
        assert person.get("/Patient", params={"_count": "1"}).status_code == 200
        latencies.append(time.monotonic() - started)
    writer.join()
    assert max(latencies) < SIGNING_DELAY / 2, latencies


def test_a_resource_changed_while_being_signed_is_signed_again(person, slow_signing,
                                                               slow_server, issuer):
    """Another writer updates the resource while the person's update is at the signing
    service: the update then writes the next version, signed over what it really stores."""
    patient = created(person, new_patient())
    url = f"/Patient/{patient['id']}"
    racing = {**patient, "gender": "female"}
    racer: list[threading.Thread] = []
    racing_responses: list[httpx.Response] = []

    def racing_update():
        with httpx.Client(base_url=slow_server.base, timeout=60, headers={
                **FHIR_HEADERS, "Authorization": f"Bearer {issuer.token()}"}) as other:
            racing_responses.append(other.put(url, json=racing))

    def interfere():
        if not racer:
            racer.append(threading.Thread(target=racing_update))
            racer[0].start()
            time.sleep(0.3)  # the racing update reads version 1 before ours is signed

    before = slow_signing.sign_requests
    slow_signing.before_signing = interfere
    try:
        response = person.put(url, json={**patient, "gender": "other"}, headers=FHIR_HEADERS)
        racer[0].join()
    finally:
        slow_signing.before_signing = lambda: None
    assert response.status_code == 200, response.text
    assert racing_responses[0].status_code == 200, racing_responses[0].text
    history = person.get(f"{url}/_history").json()
    versions = {entry["resource"]["meta"]["versionId"]: entry["resource"]
                for entry in history["entry"]}
    assert sorted(versions) == ["1", "2", "3"]
    assert slow_signing.sign_requests >= before + 3  # ours twice, the racing one once
    for resource in versions.values():
        assert_passed(verify(person, provenance_of(person, versioned(resource))["id"]))
