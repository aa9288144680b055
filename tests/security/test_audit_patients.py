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


def _patients(event: dict) -> list[str]:
    return [e["what"]["reference"] for e in event["entity"]
            if e.get("role", {}).get("code") == "1" and "reference" in e.get("what", {})]


def test_reads_and_writes_of_a_patients_data_name_the_patient(client):
    """BALP's PatientRead/Create/Update/Delete name the patient whose data it is, so
    `AuditEvent?patient=` answers who read or wrote an Observation of theirs, not only who
    read the Patient resource or searched by `patient=`."""
    response = client.post("/Patient", json={"resourceType": "Patient"},
                           headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201, response.text
    patient = f"Patient/{response.json()['id']}"
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "subject": {"reference": patient}}
    created = client.post("/Observation", json=observation,
                          headers={"Content-Type": "application/fhir+json"})
    assert created.status_code == 201, created.text
    written = f"Observation/{created.json()['id']}"
    read = client.get(f"/{written}")
    vread = client.get(f"/{written}/_history/1")
    updated = client.put(f"/{written}", json=created.json(),  # what is stored: no write
                         headers={"Content-Type": "application/fhir+json"})
    amended = client.put(f"/{written}", json={**created.json(), "status": "amended"},
                         headers={"Content-Type": "application/fhir+json"})
    answered = (read, vread, updated, amended)
    assert [r.status_code for r in answered] == [200] * 4, [r.text for r in answered]
    deleted = client.delete(f"/{written}")
    assert deleted.status_code == 204, deleted.text
    ids = [r.headers["X-Request-Id"] for r in (created, *answered, deleted)]
    for request_id in ids:
        event = _event(client, request_id)
        assert _patients(event) == [patient], (ids.index(request_id), event)
        assert written in [e["what"].get("reference") for e in event["entity"]], event
    found = client.get("/AuditEvent", params={"patient": patient, "_count": "100"}).json()
    assert set(ids) <= {e["resource"]["id"] for e in found.get("entry", [])}
