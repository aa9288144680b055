"""What the audit trail keeps of a request's query: the patients it names (BALP), and no
credential a client put in the URL."""

import base64

import httpx

from security.helpers import wait_until

POLL_SECONDS = 10


def _event(client: httpx.Client, request_id: str) -> dict:
    def stored():
        response = client.get(f"/AuditEvent/{request_id}")
        return response.json() if response.status_code == 200 else None

    event = wait_until(stored, POLL_SECONDS)
    assert event, request_id
    return event


def _queries(event: dict) -> list[str]:
    return [base64.b64decode(e["query"]).decode() for e in event["entity"] if "query" in e]


def test_a_token_sent_in_the_url_is_not_kept_in_the_trail(server, client, issuer):
    """RFC 6750 §2.3's `access_token` query parameter is not taken (401), and its value,
    a valid bearer token, is not written into the AuditEvent anyone reading the trail sees."""
    token = issuer.token()
    response = httpx.get(f"{server.base}/Patient", timeout=30,
                         params={"family": "tran", "access_token": token})
    assert response.status_code == 401
    (query,) = _queries(_event(client, response.headers["X-Request-Id"]))
    assert token not in query
    assert query == "family=tran&access_token=REDACTED"

    response = client.get("/Patient", params={"family": "le", "client_secret": "s3cret"})
    assert response.status_code == 200
    (query,) = _queries(_event(client, response.headers["X-Request-Id"]))
    assert query == "family=le&client_secret=REDACTED"
