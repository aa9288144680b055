"""Health probes: `/health/live` and `/health/ready` answer without a token, in the
`application/health+json` format, name the readiness check that fails, and leave no
AuditEvent (they are no FHIR interaction)."""

import socket

import httpx
import pytest
from security.helpers import assert_only_the_refusal_is_audited, own_server

HEALTH_JSON = "application/health+json"


def _root(server) -> str:
    return server.base.removesuffix("/fhir")


def _probe(server, path: str) -> httpx.Response:
    response = httpx.get(f"{_root(server)}/health/{path}", timeout=30)
    assert response.headers["content-type"].startswith(HEALTH_JSON), response.headers
    assert response.headers["cache-control"] == "no-store"
    return response


def _dead_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_live_answers_pass_without_a_token(server):
    response = _probe(server, "live")
    assert response.status_code == 200
    assert response.json() == {"status": "pass"}


def test_ready_passes_every_check_without_a_token(server):
    response = _probe(server, "ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "pass"
    assert {"mongodb", "signer"} <= body["checks"].keys(), body
    assert all(check == [{"status": "pass"}] for check in body["checks"].values()), body


def test_probes_leave_no_audit_event(server, client):
    for _ in range(3):
        assert _probe(server, "live").status_code == 200
        assert _probe(server, "ready").status_code == 200
    assert_only_the_refusal_is_audited(server.base, client)


@pytest.fixture
def server_with_unreachable_signer(mongo_uri, request, tmp_path_factory, issuer):
    dead = f"http://127.0.0.1:{_dead_port()}/csc/v2"
    with own_server(mongo_uri, request, tmp_path_factory, issuer, csc_url=dead) as running:
        yield running


def test_ready_fails_naming_an_unreachable_signing_service(server_with_unreachable_signer):
    response = _probe(server_with_unreachable_signer, "ready")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"  # a 503 is temporary: when to look again
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["mongodb"] == [{"status": "pass"}]
    (signer,) = body["checks"]["signer"]
    assert signer["status"] == "fail"
    assert "signing service" in signer["output"], signer
    assert "signer" in body["output"]
    # The process itself is fine.
    assert _probe(server_with_unreachable_signer, "live").status_code == 200
