"""A MongoDB (given by URI, not owned by the server) that goes away: requests fail fast with
503, `Retry-After` and an OperationOutcome instead of hanging, `/health/ready` says which
check fails, and everything works again once the database is back."""

import time

import httpx
import pytest
from api.helpers import FHIR_HEADERS, new_patient
from security.helpers import fhir_client, own_server, wait_until

from fhir_server.embedded_mongo import EmbeddedMongo

SELECTION_TIMEOUT = 1.0
# The selection timeout plus generous room for a loaded 2-core machine: far below the 30 s
# (reads) and 120 s (writes) pymongo would otherwise wait.
FAST = 6.0


@pytest.fixture
def external_mongo(tmp_path):
    """A mongod of the test's own, which the server only knows by its URI."""
    mongo = EmbeddedMongo(tmp_path / "external")
    mongo.start()
    yield mongo
    mongo.stop()


def _timed(call) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"
    assert "database is unavailable" in outcome["issue"][0]["diagnostics"]
    assert "127.0.0.1" not in response.text  # no topology details for anonymous callers


def test_requests_get_503_at_once_while_no_primary_answers_then_recover(
        external_mongo, request, tmp_path_factory, issuer):
    with own_server(external_mongo.uri, request, tmp_path_factory, issuer,
                    mongodb_server_selection_timeout=SELECTION_TIMEOUT) as server, \
            fhir_client(server.base, issuer.token()) as http:
        root = server.base.removesuffix("/fhir")
        created = http.post("/Patient", json=new_patient(), headers=FHIR_HEADERS)
        assert created.status_code == 201, created.text
        patient = created.json()

        external_mongo.process.kill()
        external_mongo.process.wait()

        for call in (lambda: http.get(f"/Patient/{patient['id']}"),
                     lambda: http.get("/Patient", params={"family": "Nguyễn"}),
                     lambda: http.post("/Patient", json=new_patient(), headers=FHIR_HEADERS)):
            response, elapsed = _timed(call)
            _assert_unavailable(response)
            assert elapsed < FAST, elapsed
        ready, elapsed = _timed(lambda: httpx.get(f"{root}/health/ready", timeout=30))
        assert ready.status_code == 503, ready.text
        assert ready.headers["retry-after"] == "5"
        assert elapsed < FAST, elapsed
        assert ready.json()["checks"]["mongodb"][0]["status"] == "fail"
        assert httpx.get(f"{root}/health/live", timeout=30).status_code == 200

        external_mongo.restart()  # same port: the server's URI is valid again
        back = wait_until(lambda: http.get(f"/Patient/{patient['id']}").status_code == 200, 30)
        assert back, "reads did not recover"
        assert http.get(f"/Patient/{patient['id']}").json() == patient
        assert wait_until(
            lambda: httpx.get(f"{root}/health/ready", timeout=30).status_code == 200, 10)
