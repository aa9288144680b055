"""Rate limiting per client address, before authentication (issue 14): a flood of requests
without a token gets 429 + Retry-After from the first request over the limit, costs no
token verification and leaves no AuditEvent; addresses are counted apart, the address is
taken from X-Forwarded-For only when the peer is a trusted proxy, and paths outside the
FHIR base (health checks, docs) are not limited."""

import time
import uuid

import httpx
import pytest

from security.helpers import fhir_client, own_server, wait_until

PER_MINUTE = 60  # one a second
BURST = 10


@pytest.fixture(scope="module")
def limited(mongo_uri, request, tmp_path_factory, issuer):
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    rate_limit_per_address_per_minute=PER_MINUTE,
                    rate_limit_address_burst=BURST,
                    trusted_proxies=["127.0.0.1/32"]) as running:
        yield running


def _address() -> str:
    """An address of its own for each test (the limits are per address)."""
    number = uuid.uuid4().int
    return f"10.{number % 250}.{number // 250 % 250}.{number // 62500 % 250 + 1}"


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, "Accept": "application/fhir+json"}


def _refused_count(http: httpx.Client) -> int:
    """AuditEvents of refused requests (outcome 4) stored so far."""
    response = http.get("/AuditEvent", params={"outcome": "4", "_summary": "count"})
    assert response.status_code == 200, response.text
    return response.json()["total"]


def _settled(http: httpx.Client) -> int:
    """The refused-request count once it stopped changing (AuditEvents are written in
    the background)."""
    previous = -1
    while True:
        count = _refused_count(http)
        if count == previous:
            return count
        previous = count
        time.sleep(1.5)


def test_unauthenticated_flood_gets_429_and_no_audit_records(limited, issuer):
    with fhir_client(limited.base, issuer.token()) as auditor:
        auditor.headers.update({"X-Forwarded-For": _address()})
        before = _settled(auditor)
        flooder = _address()
        with httpx.Client(base_url=limited.base, timeout=30, headers=_from(flooder)) as http:
            statuses = [http.get("/Patient").status_code for _ in range(5 * BURST)]
            refused = http.get("/Patient")
        assert statuses[:BURST] == [401] * BURST, statuses
        assert set(statuses[BURST + 1:]) == {429}, statuses
        assert refused.status_code == 429
        outcome = refused.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "throttled", outcome
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-content-type-options"] == "nosniff"
        # The 401s are audited; the 429s are not.
        wait_until(lambda: _refused_count(auditor) >= before + BURST, 30)
        assert _settled(auditor) - before in (BURST, BURST + 1), before


def test_addresses_are_limited_apart(limited, issuer):
    first, second = _address(), _address()
    with httpx.Client(base_url=limited.base, timeout=30, headers=_from(first)) as http:
        for _ in range(BURST + 1):
            last = http.get("/metadata")
        assert last.status_code == 429
    with fhir_client(limited.base, issuer.token()) as http:
        http.headers.update({"X-Forwarded-For": second})
        assert http.get("/Patient").status_code == 200


def test_forwarded_for_from_an_untrusted_peer_is_ignored(limited):
    """127.0.0.2 is no trusted proxy: whatever X-Forwarded-For it sends, it is one address."""
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=limited.base, timeout=30, transport=transport) as http:
        statuses = [http.get("/metadata", headers=_from(_address())).status_code
                    for _ in range(BURST + 1)]
        assert statuses == [200] * BURST + [429], statuses
        # Outside the FHIR base nothing is limited (health checks, the API docs).
        assert http.get(limited.base.removesuffix("/fhir") + "/docs").status_code == 200


def test_retry_after_is_honest(limited):
    with httpx.Client(base_url=limited.base, timeout=30, headers=_from(_address())) as http:
        for _ in range(BURST):
            assert http.get("/metadata").status_code == 200
        refused = http.get("/metadata")
        assert refused.status_code == 429
        time.sleep(int(refused.headers["retry-after"]))
        assert http.get("/metadata").status_code == 200
