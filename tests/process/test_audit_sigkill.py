"""No AuditEvent is lost when `fhir-server serve` is killed: during mixed traffic (writes,
reads, searches, refused and bad requests) the server gets SIGKILL; restarted on the same
data directory, it holds exactly one AuditEvent for every request that was answered."""

import signal
import threading
from collections import Counter

import httpx
import pytest
from api.helpers import unique_cccd
from process_issuer import bearer

from fhir_server.services.audit_events import REQUEST_ID_SYSTEM

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
# Claimed by the client; no proxy is trusted, so no event may show it.
FORGED_ADDRESS = "203.0.113.9"
TERMINATED = (0, -signal.SIGTERM)


def _patient(value: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": CCCD, "value": value}],
            "name": [{"family": "Đặng", "given": ["Văn", "Bình"]}], "gender": "male"}


def _requests(http: httpx.Client, anonymous: httpx.Client):
    """An endless mix of interactions, each a (label, send) pair; sends take no argument."""
    created: list[str] = []

    def create() -> httpx.Response:
        response = http.post("/Patient", json=_patient(unique_cccd()))
        if response.status_code == 201:
            created.append(response.json()["id"])
        return response

    def update() -> httpx.Response:
        body = {**_patient(unique_cccd()), "id": created[-1], "active": True}
        return http.put(f"/Patient/{created[-1]}", json=body)

    def transaction() -> httpx.Response:
        return http.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": _patient(unique_cccd()), "request": {"method": "POST", "url": "Patient"}}
        ]})

    while True:
        yield "create", create
        yield "read", lambda: http.get(f"/Patient/{created[-1]}")
        yield "search", lambda: http.get("/Patient", params={"family": "Đặng", "_count": "5"})
        yield "update", update
        yield "bad", lambda: http.post("/Patient", json={"resourceType": "Patient", "gender": 1})
        yield "missing", lambda: http.get("/Patient/khong-co")
        yield "anonymous", lambda: anonymous.get("/Patient")
        yield "transaction", transaction


def _traffic(base: str, answered: list[tuple[str, str, int]], failures: list[str]) -> None:
    """Send requests until the server stops answering; note each answer's request id."""
    headers = {**FHIR_JSON, "X-Forwarded-For": FORGED_ADDRESS}
    with httpx.Client(base_url=base, headers={**headers, **bearer()}, timeout=60) as http, \
            httpx.Client(base_url=base, headers=headers, timeout=60) as anonymous:
        try:
            for label, send in _requests(http, anonymous):
                response = send()
                if response.status_code == 429:  # rate limited: refused before auditing
                    continue
                answered.append((response.headers["X-Request-Id"], label,
                                 response.status_code))
        except httpx.TransportError:
            return  # killed
        except Exception as error:  # reported by the test
            failures.append(repr(error))


def _all_events(base: str) -> list[dict]:
    events, url, params = [], f"{base}/AuditEvent", {"_count": "1000"}
    with httpx.Client(headers={**FHIR_JSON, **bearer()}, timeout=60) as http:
        while url:
            response = http.get(url, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            events += [entry["resource"] for entry in page.get("entry", [])]
            url = next((link["url"] for link in page.get("link", [])
                        if link["relation"] == "next"), None)
            params = None
    return events


def _request_id(event: dict) -> str | None:
    for entity in event.get("entity", []):
        identifier = entity.get("what", {}).get("identifier", {})
        if identifier.get("system") == REQUEST_ID_SYSTEM:
            return identifier["value"]
    return None


@pytest.mark.slow
def test_sigkill_during_traffic_loses_no_audit_event(spawn, mongods, eventually, tmp_path):
    data = tmp_path / "data"
    server = spawn(data, "--dev")
    server.wait_ready()
    answered: list[tuple[str, str, int]] = []
    failures: list[str] = []
    traffic = threading.Thread(target=_traffic, args=(server.base, answered, failures))
    traffic.start()
    assert eventually(lambda: len(answered) >= 120 or not traffic.is_alive(), 180), answered
    server.process.kill()
    server.process.wait(10)
    traffic.join(60)
    assert not failures, failures
    assert {label for _, label, _ in answered} >= {"create", "read", "search", "update", "bad",
                                                    "missing", "anonymous", "transaction"}
    assert eventually(lambda: mongods(data) == [], 30), mongods(data)

    restarted = spawn(data, "--dev")
    restarted.wait_ready()
    expected = {request_id for request_id, _, _ in answered}
    events: list[dict] = []

    def all_there() -> bool:
        events[:] = _all_events(restarted.base)
        return expected <= {_request_id(event) for event in events}

    assert eventually(all_there, 60, interval=1), (
        [a for a in answered if a[0] in expected - {_request_id(e) for e in events}],
        sorted(p.name for p in (data / "audit-spool").iterdir()))
    per_request = Counter(_request_id(event) for event in events)
    assert {rid: n for rid, n in per_request.items() if rid in expected and n != 1} == {}
    by_id = {event["id"]: event for event in events}
    for request_id, label, status in answered:
        event = by_id[request_id]
        assert event["outcome"] == ("0" if status < 400 else "4"), (label, status, event)
        assert event["agent"][0]["network"]["address"] == "127.0.0.1", (label, event)
    assert restarted.stop() in TERMINATED
