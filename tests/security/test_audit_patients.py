"""What the audit trail keeps of a request: the patients whose data it is about (BALP), no
credential a client put in the URL, who was throttled, the agent's name; and that no client
writes to it, whatever it sends."""

import base64

import httpx
from api.helpers import CCCD

from security.helpers import fhir_client, own_server, personal_id, wait_until

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

    # A name percent-encoded is the same parameter to the server: its value was kept.
    response = client.get("/Patient?family=ly&access%5Ftoken=" + token)
    assert response.status_code == 200
    (query,) = _queries(_event(client, response.headers["X-Request-Id"]))
    assert query == "family=ly&access%5Ftoken=REDACTED"


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


def test_a_throttled_request_is_audited_with_the_caller(mongo_uri, request, tmp_path_factory,
                                                        issuer):
    """The 429 of the per-caller limit (FHIR_RATE_LIMIT_PER_MINUTE) comes after the token
    was verified: its AuditEvent names the person throttled, as a 403's does; it named
    nobody, so a person's flood left anonymous events."""
    someone = personal_id(1990)
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    rate_limit_per_minute=2) as running:
        with fhir_client(running.base, issuer.token(subject=someone)) as http:
            statuses = [http.get("/Patient").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]

        def throttled() -> list[dict]:
            # Each look by a person of their own, whose bucket is full.
            with fhir_client(running.base, issuer.token(subject=personal_id())) as reader:
                found = reader.get("/AuditEvent", params={"outcome": "4", "_count": "10"})
            assert found.status_code == 200, found.text
            return [e["resource"] for e in found.json().get("entry", [])]

        (event,) = wait_until(throttled, POLL_SECONDS)
        assert event["outcomeDesc"] == "HTTP 429", event
        (agent,) = event["agent"]
        assert agent["who"]["identifier"] == {"system": CCCD, "value": someone}, agent


def test_the_reads_of_a_batch_and_a_transaction_name_the_patient(client):
    """Each read entry leaves the event its request alone would: with the patient whose data
    it read."""
    headers = {"Content-Type": "application/fhir+json"}
    response = client.post("/Patient", json={"resourceType": "Patient"}, headers=headers)
    patient = f"Patient/{response.json()['id']}"
    created = client.post("/Condition", headers=headers, json={
        "resourceType": "Condition", "code": {"text": "x"}, "subject": {"reference": patient}})
    assert created.status_code == 201, created.text
    condition = f"Condition/{created.json()['id']}"
    for kind in ("batch", "transaction"):
        sent = client.post("", headers=headers, json={
            "resourceType": "Bundle", "type": kind,
            "entry": [{"request": {"method": "GET", "url": condition}}]})
        assert sent.status_code == 200, sent.text

        def entry_events(request_id: str = sent.headers["X-Request-Id"]) -> list[dict]:
            found = client.get("/AuditEvent", params={"entity": condition, "subtype": "read"})
            return [e["resource"] for e in found.json().get("entry", [])
                    if request_id in str(e["resource"]["entity"])]

        (event,) = wait_until(entry_events, POLL_SECONDS)
        assert _patients(event) == [patient], (kind, event["entity"])


def test_the_person_is_found_by_agent_name(client):
    """R4's `agent-name` searches `AuditEvent.agent.name`: the token's name is there, besides
    `who.display`; no event was found by it."""
    response = client.get("/Observation", params={"_count": "1"})
    event = _event(client, response.headers["X-Request-Id"])
    (agent,) = [a for a in event["agent"] if a.get("requestor")]
    assert agent["name"] == agent["who"]["display"] == "Nguyễn Văn An"
    found = client.get("/AuditEvent", params={"agent-name": "nguyen van", "_id": event["id"]})
    assert [e["resource"]["id"] for e in found.json().get("entry", [])] == [event["id"]]


def test_writing_an_audit_event_is_405_whatever_the_body(client):
    """The method is not allowed on the trail (RFC 9110 §15.5.6, with `Allow`), whether the
    body sent is a valid AuditEvent, no JSON, or a patch in the wrong form; a body the server
    would refuse anyway was 400 instead."""
    fhir = {"Content-Type": "application/fhir+json"}
    answers = [
        client.post("/AuditEvent", content=b"{", headers=fhir),
        client.put("/AuditEvent/x", content=b"not json", headers=fhir),
        client.put("/AuditEvent", params={"_id": "x"}, json={"resourceType": "Patient"},
                   headers=fhir),
        client.patch("/AuditEvent/x", json={"resourceType": "Patient"}, headers=fhir),
        client.patch("/AuditEvent", params={"_id": "x"}, json=[{"op": "nonsense"}],
                     headers={"Content-Type": "application/json-patch+json"}),
    ]
    for answer in answers:
        assert answer.status_code == 405, (answer.request.method, answer.request.url,
                                           answer.text)
        assert answer.headers["Allow"] == "GET, HEAD"
        assert answer.json()["issue"][0]["code"] == "not-supported"


def test_entities_say_what_they_are(client):
    """As R4's AuditEvent-example-search and BALP's Read and Query: a resource read is a
    system object in the role of a domain resource (4), a search's query one in the role of
    a query (24), and the patient's own record a person in the role of patient (1); so
    `entity-role` finds them."""
    response = client.post("/Patient", json={"resourceType": "Patient"},
                           headers={"Content-Type": "application/fhir+json"})
    patient = f"Patient/{response.json()['id']}"
    created = client.post("/Observation", headers={"Content-Type": "application/fhir+json"},
                          json={"resourceType": "Observation", "status": "final",
                                "code": {"text": "x"}, "subject": {"reference": patient}})
    observation = f"Observation/{created.json()['id']}"
    read = client.get(f"/{observation}").headers["X-Request-Id"]
    searched = client.get("/Observation", params={"code": "x"}).headers["X-Request-Id"]
    own = client.get(f"/{patient}").headers["X-Request-Id"]

    def typed(request_id: str) -> list[tuple[str | None, str | None, str | None]]:
        return [(e.get("what", {}).get("reference"), e.get("type", {}).get("code"),
                 e.get("role", {}).get("code"))
                for e in _event(client, request_id)["entity"] if "identifier" not in
                e.get("what", {})]

    assert typed(read) == [(observation, "2", "4"), (patient, "1", "1")]
    assert typed(searched) == [(None, None, None), (None, "2", "24")]
    assert typed(own) == [(patient, "1", "1")]
    for role, request_id in (("4", read), ("24", searched), ("1", own)):
        found = client.get("/AuditEvent", params={"entity-role": role, "_id": request_id})
        assert len(found.json().get("entry", [])) == 1, (role, found.text)


def test_requests_about_a_patient_name_them_in_the_patient_role(client):
    """A compartment search, `$everything` or history of a Patient is about that patient's
    data: its entity is the patient (BALP), found by `entity-role=1` as a read of it is."""
    response = client.post("/Patient", json={"resourceType": "Patient"},
                           headers={"Content-Type": "application/fhir+json"})
    patient = f"Patient/{response.json()['id']}"
    answers = [client.get(f"/{patient}/Observation"), client.get(f"/{patient}/$everything"),
               client.get(f"/{patient}/_history")]
    assert [r.status_code for r in answers] == [200] * 3, [r.text for r in answers]
    for answer in answers:
        event = _event(client, answer.headers["X-Request-Id"])
        assert _patients(event) == [patient], (answer.request.url, event["entity"])


def test_the_history_of_a_patients_resource_names_the_patient(client):
    """Its versions are the patient's data, as a vread of one is."""
    fhir = {"Content-Type": "application/fhir+json"}
    created = client.post("/Patient", json={"resourceType": "Patient"}, headers=fhir)
    patient = f"Patient/{created.json()['id']}"
    created = client.post("/Observation", headers=fhir, json={
        "resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": patient}})
    history = client.get(f"/Observation/{created.json()['id']}/_history")
    assert history.status_code == 200, history.text
    event = _event(client, history.headers["X-Request-Id"])
    assert _patients(event) == [patient], event["entity"]


def test_a_reference_by_this_servers_url_names_the_patient(server, client):
    """A subject written as this server's URL of the patient puts the Observation in their
    compartment (`Patient/x/Observation` finds it): its reads, writes and a batch's read of
    it name the patient too; they named none, so `AuditEvent?patient=` missed them."""
    fhir = {"Content-Type": "application/fhir+json"}
    created = client.post("/Patient", json={"resourceType": "Patient"}, headers=fhir)
    patient = f"Patient/{created.json()['id']}"
    created = client.post("/Observation", headers=fhir, json={
        "resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": f"{server.base}/{patient}"}})
    assert created.status_code == 201, created.text
    observation = f"Observation/{created.json()['id']}"
    compartment = client.get(f"/{patient}/Observation").json()
    assert [e["resource"]["id"] for e in compartment["entry"]] == [created.json()["id"]]
    read = client.get(f"/{observation}")
    history = client.get(f"/{observation}/_history")
    unchanged = client.put(f"/{observation}", json=created.json(), headers=fhir)
    batch = client.post("", headers=fhir, json={
        "resourceType": "Bundle", "type": "batch",
        "entry": [{"request": {"method": "GET", "url": observation}}]})
    assert [r.status_code for r in (read, history, unchanged, batch)] == [200] * 4
    for answer in (created, read, history, unchanged):
        event = _event(client, answer.headers["X-Request-Id"])
        assert _patients(event) == [patient], (answer.request.url, event["entity"])

    def entry_events(request_id: str = batch.headers["X-Request-Id"]) -> list[dict]:
        found = client.get("/AuditEvent", params={"entity": observation, "subtype": "read"})
        return [e["resource"] for e in found.json().get("entry", [])
                if request_id in str(e["resource"]["entity"])]

    (event,) = wait_until(entry_events, POLL_SECONDS)
    assert _patients(event) == [patient], event["entity"]
