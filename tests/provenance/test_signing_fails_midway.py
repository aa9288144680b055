"""A signing service that lists a person's credentials but then fails to sign (an error
answer, or the connection dropped): the write is 503 and stores nothing, never a server
error; the same write succeeds once the service signs again."""

from collections.abc import Iterator

import httpx
import pytest
from api.helpers import assert_outcome, create, new_patient, search_ids
from security.helpers import _ROOT, fhir_client, own_server, personal_id

from fhir_server.api.dev_csc import create_dev_csc_app
from provenance.helpers import CCCD_SYSTEM


class FailingSigner:
    """An ASGI wrapper of the development CSC app whose `signatures/signHash` answers 502
    while `failing` is set."""

    def __init__(self, app):
        self.app = app
        self.failing = True

    async def __call__(self, scope, receive, send):
        if self.failing and scope["type"] == "http" and scope["path"].endswith("/signHash"):
            await send({"type": "http.response.start", "status": 502,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"error": "bad_gateway"}'})
            return
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def failing(signing_service) -> Iterator[FailingSigner]:
    threaded = _ROOT.ThreadedServer()
    signer = FailingSigner(create_dev_csc_app(signing_service.service, signing_service.token))
    threaded.start(signer, lifespan="off")
    signer.url = f"http://127.0.0.1:{threaded.port}/csc/v2"
    yield signer
    threaded.__exit__(None, None, None)


@pytest.fixture(scope="module")
def person(mongo_uri, request, tmp_path_factory, issuer, failing) -> Iterator[httpx.Client]:
    with (own_server(mongo_uri, request, tmp_path_factory, issuer,
                     csc_url=failing.url) as running,
          fhir_client(running.base, issuer.token()) as http):
        yield http


def test_a_failed_signature_is_503_and_stores_nothing_then_the_write_succeeds(person, failing):
    marker = personal_id(1977)
    response = create(person, new_patient(marker))
    assert_outcome(response, 503)
    assert search_ids(person, "Patient", identifier=f"{CCCD_SYSTEM}|{marker}") == []
    failing.failing = False
    assert create(person, new_patient(marker)).status_code == 201
