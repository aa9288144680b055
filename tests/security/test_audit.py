"""The audit trail over HTTP: every read, search, write and refused request leaves a
BALP-shaped AuditEvent (written in the background, so the tests poll), searchable at
/fhir/AuditEvent with AuditEvent scopes; AuditEvents cannot be created, changed or deleted
through the API."""

import base64
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from api.helpers import CCCD, FHIR_HEADERS, JSON_PATCH, parse_instant

from fhir_server.services.resources import ResourceService
from security.helpers import (
    AUDIT_TYPE_SYSTEM,
    assert_forbidden,
    audited_entities,
    bundle,
    delete_entry,
    fhir_client,
    patient_resource,
    personal_id,
    post_entry,
    wait_until,
)

RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
POLL_SECONDS = 10


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def events(http: httpx.Client, **params: str) -> list[dict]:
    response = http.get("/AuditEvent", params={"_count": "100", **params})
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


def eventually(http: httpx.Client, **params: str) -> list[dict]:
    """The AuditEvents matching `params`, once there are any (they are stored
    asynchronously)."""
    return wait_until(lambda: events(http, **params), POLL_SECONDS)


def the_event(http: httpx.Client, **params: str) -> dict:
    found = eventually(http, **params)
    assert len(found) == 1, (params, found)
    return found[0]


class Person:
    """Someone with their own personal ID, so that their events are theirs alone."""

    def __init__(self, server, issuer, scope: str = "user/*.cruds"):
        self.id = personal_id(1978, female=True, province="048")
        self.http = fhir_client(server.base, issuer.token(scope=scope, subject=self.id))

    @property
    def agent(self) -> str:
        return f"{CCCD}|{self.id}"


@pytest.fixture
def person(server, issuer):
    someone = Person(server, issuer)
    yield someone
    someone.http.close()


@pytest.fixture
def patient(client) -> dict:
    response = client.post("/Patient", json=patient_resource(), headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


def check_event(event: dict, subtype: str, action: str, outcome: str, since: datetime,
                who: str | None) -> None:
    assert event["resourceType"] == "AuditEvent"
    assert event["type"]["system"] == AUDIT_TYPE_SYSTEM and event["type"]["code"] == "rest"
    assert {"system": RESTFUL_INTERACTION, "code": subtype} in [
        {"system": c.get("system"), "code": c.get("code")} for c in event["subtype"]], event
    assert event["action"] == action, event
    assert event["outcome"] == outcome, event
    recorded = parse_instant(event["recorded"])
    assert since - timedelta(seconds=2) <= recorded <= datetime.now(UTC) + timedelta(seconds=2)
    (agent,) = [a for a in event["agent"] if a.get("requestor")]
    assert agent["network"]["address"] == "127.0.0.1", agent
    if who is None:
        assert "who" not in agent, agent
    else:
        assert agent["who"]["identifier"] == {"system": CCCD, "value": who}, agent
    assert event["source"]["observer"], event


def test_read_is_audited_and_searchable_every_way(client, person, patient):
    since = datetime.now(UTC)
    reference = f"Patient/{patient['id']}"
    assert person.http.get(f"/{reference}").status_code == 200
    event = the_event(client, entity=reference, subtype="read")
    check_event(event, "read", "R", "0", since, person.id)
    assert reference in audited_entities(event)
    found = {
        "agent:identifier": [e["id"] for e in events(client, **{"agent:identifier": person.agent})],
        "date=ge": [e["id"] for e in events(client, entity=reference,
                                             date=f"ge{_instant(since - timedelta(seconds=2))}")],
        "type=rest": [e["id"] for e in events(client, entity=reference, type="rest")],
        "type=system|rest": [e["id"] for e in events(client, entity=reference,
                                                      type=f"{AUDIT_TYPE_SYSTEM}|rest")],
        "outcome=0": [e["id"] for e in events(client, entity=reference, outcome="0")],
        "action=R": [e["id"] for e in events(client, entity=reference, action="R")],
        "address": [e["id"] for e in events(client, entity=reference, address="127.0.0.1")],
    }
    for form, ids in found.items():
        assert event["id"] in ids, (form, ids)
    assert events(client, entity=reference, outcome="4") == []
    assert events(client, entity=reference,
                  date=f"lt{_instant(since - timedelta(seconds=5))}") == []
    assert events(client, entity=reference, type="login") == []


def test_search_is_audited_with_its_query(client, person):
    since = datetime.now(UTC)
    marker = f"ho{uuid.uuid4().hex[:10]}"
    assert person.http.get("/Patient", params={"family": marker}).status_code == 200
    event = the_event(client, **{"agent:identifier": person.agent, "subtype": "search-type"})
    check_event(event, "search-type", "E", "0", since, person.id)
    queries = [base64.b64decode(e["query"]).decode() for e in event["entity"] if "query" in e]
    assert any(f"family={marker}" in query for query in queries), event["entity"]


def test_create_is_audited_with_the_new_resource(client, person):
    since = datetime.now(UTC)
    created = person.http.post("/Patient", json=patient_resource(), headers=FHIR_HEADERS)
    assert created.status_code == 201, created.text
    reference = f"Patient/{created.json()['id']}"
    event = the_event(client, **{"agent:identifier": person.agent, "subtype": "create"})
    check_event(event, "create", "C", "0", since, person.id)
    assert reference in audited_entities(event), event.get("entity")
    assert [e["id"] for e in events(client, entity=reference)] == [event["id"]]


def test_update_patch_and_delete_are_audited(client, person, patient):
    since = datetime.now(UTC)
    reference = f"Patient/{patient['id']}"
    updated = person.http.put(f"/{reference}", json={**patient, "active": False},
                              headers=FHIR_HEADERS)
    assert updated.status_code == 200, updated.text
    patched = person.http.patch(f"/{reference}", headers={"Content-Type": JSON_PATCH},
                                json=[{"op": "replace", "path": "/active", "value": True}])
    assert patched.status_code == 200, patched.text
    assert person.http.delete(f"/{reference}").status_code == 204
    for subtype, action in (("update", "U"), ("patch", "U"), ("delete", "D")):
        event = the_event(client, entity=reference, subtype=subtype)
        check_event(event, subtype, action, "0", since, person.id)


def test_refused_token_is_audited_without_a_who(server, client, patient):
    since = datetime.now(UTC)
    reference = f"Patient/{patient['id']}"
    response = httpx.get(f"{server.base}/{reference}", timeout=30,
                         headers={"Authorization": "Bearer khong-phai-jwt"})
    assert response.status_code == 401
    event = the_event(client, entity=reference, outcome="4")
    check_event(event, "read", "R", "4", since, None)


def test_insufficient_scope_is_audited_with_the_person(server, issuer, client, patient):
    since = datetime.now(UTC)
    nurse = Person(server, issuer, scope="user/Encounter.rs")
    with nurse.http:
        assert_forbidden(nurse.http.get(f"/Patient/{patient['id']}"))
    event = the_event(client, **{"agent:identifier": nurse.agent, "outcome": "4"})
    check_event(event, "read", "R", "4", since, nurse.id)
    assert f"Patient/{patient['id']}" in audited_entities(event)
    assert events(client, **{"agent:identifier": nurse.agent, "outcome": "0"}) == []


def test_batch_is_audited_as_a_batch_and_its_writes(client, person):
    """The batch has its event; each entry's write, its own transaction, has one too."""
    since = datetime.now(UTC)
    response = person.http.post("", json=bundle("batch", post_entry(patient_resource())),
                                headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    found = wait_until(lambda: [e for e in [events(client, **{"agent:identifier": person.agent})]
                                if len(e) >= 2], POLL_SECONDS)
    assert found and len(found[0]) == 2, found
    batch, write = sorted(found[0], key=lambda e: e["subtype"][0]["code"])
    check_event(batch, "batch", "E", "0", since, person.id)
    check_event(write, "create", "C", "0", since, person.id)


def test_operation_entries_of_a_batch_are_audited_as_the_calls_alone(client, person, patient):
    """Each operation entry leaves the AuditEvent the call alone would: what it was about
    and its outcome (a `$meta-delete` removing a label, another patient's `$everything`
    refused), beside the batch's own."""
    since = datetime.now(UTC)
    reference = f"Patient/{patient['id']}"
    removal = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {
        "tag": [{"system": "urn:test:audit", "code": "x"}]}}]}
    response = person.http.post("", json=bundle(
        "batch",
        {"request": {"method": "POST", "url": f"{reference}/$meta-delete"}, "resource": removal},
        {"request": {"method": "GET", "url": "Patient/no-such-patient/$everything"}},
    ), headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    found = _operation_events(client, person.agent, 2)
    outcomes = sorted((audited_entities(e), e["outcome"]) for e in found)
    assert outcomes == sorted([(["Patient/no-such-patient"], "4"), ([reference], "0")]), outcomes
    for event in found:
        check_event(event, "operation", "E", event["outcome"], since, person.id)


def _operation_events(http: httpx.Client, agent: str, count: int) -> list[dict]:
    """The `operation` AuditEvents of `agent`, once there are `count` of them."""
    found = wait_until(lambda: [e for e in [events(http, **{"agent:identifier": agent,
                                                            "subtype": "operation"})]
                                if len(e) >= count], POLL_SECONDS)
    assert found and len(found[0]) == count, found
    return found[0]


def test_operations_are_audited_with_what_they_were_about(client, person, patient):
    """Operations answered by the generic routes (/$name, /{type}/$name, /{type}/{id}/$name)
    are audited as `operation`, about the instance, the type or nothing (system level)."""
    since = datetime.now(UTC)
    reference = f"Patient/{patient['id']}"
    signed = client.get("/Provenance", params={"target": reference})
    assert signed.status_code == 200, signed.text
    (provenance,) = [entry["resource"] for entry in signed.json()["entry"]]
    provenance_reference = f"Provenance/{provenance['id']}"
    calls = [
        (person.http.get(f"/{reference}/$everything"), 200),
        (person.http.get(f"/{provenance_reference}/$verify"), 200),
        (person.http.post("/Patient/$reindex"), 200),
        (person.http.post("/$reindex"), 200),
        (person.http.get(f"/{reference}/$no-such-operation"), 404),
    ]
    for response, status in calls:
        assert response.status_code == status, response.text
    found = _operation_events(client, person.agent, len(calls))
    for event in found:
        check_event(event, "operation", "E", event["outcome"], since, person.id)
    outcomes = sorted((audited_entities(e), e["outcome"]) for e in found)
    assert outcomes == sorted([
        ([reference], "0"), ([provenance_reference], "0"), (["Patient"], "0"), ([], "0"),
        ([reference], "4"),
    ]), outcomes
    for entity in (reference, provenance_reference):
        ids = {e["id"] for e in events(client, entity=entity, subtype="operation")}
        assert ids == {e["id"] for e in found if entity in audited_entities(e)}, (entity, ids)


def test_refused_operation_is_audited_with_the_person(server, issuer, client, patient):
    since = datetime.now(UTC)
    reference = f"Patient/{patient['id']}"
    nurse = Person(server, issuer, scope="user/Encounter.rs")
    with nurse.http:
        assert_forbidden(nurse.http.get(f"/{reference}/$everything"))
        assert_forbidden(nurse.http.post("/Encounter/$reindex"))
    found = _operation_events(client, nurse.agent, 2)
    for event in found:
        check_event(event, "operation", "E", "4", since, nurse.id)
    assert sorted(audited_entities(e) for e in found) == [["Encounter"], [reference]]
    # A type is no literal reference: the type-level event names it as `what.type`, and is
    # valid by the server's own validator.
    (typed,) = [e for e in found if audited_entities(e) == ["Encounter"]]
    assert typed["entity"][0]["what"] == {"type": "Encounter"}
    outcome = client.post("/AuditEvent/$validate", json=typed).json()
    assert [i for i in outcome["issue"] if i["severity"] != "information"] == [], outcome


def test_refused_token_request_is_audited(server, client):
    """A failed client authentication at the token endpoint is a failed authorisation."""
    # From the next whole second on, this test's refused request is the only one.
    since = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((since - datetime.now(UTC)).total_seconds())
    response = httpx.post(f"{server.base}/auth/token", timeout=30, data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "khong-phai-jwt", "scope": "system/*.rs"})
    assert response.status_code == 400, response.text
    found = eventually(client, date=f"ge{_instant(since)}", outcome="4")
    assert found, "no AuditEvent for the refused token request"


# ------------------------------------------------------------------ read-only trail

@pytest.fixture(scope="module")
def recorded(server, issuer, client) -> dict:
    """One stored AuditEvent (of a read)."""
    response = client.post("/Patient", json=patient_resource(), headers=FHIR_HEADERS)
    reference = f"Patient/{response.json()['id']}"
    assert client.get(f"/{reference}").status_code == 200
    found = eventually(client, entity=reference, subtype="read")
    assert found, "the read was not audited"
    return found[0]


def _forged(marker: str) -> dict:
    return {
        "resourceType": "AuditEvent",
        "type": {"system": AUDIT_TYPE_SYSTEM, "code": "rest"},
        "action": "R",
        "recorded": "2024-05-02T08:30:00Z",
        "outcome": "0",
        "agent": [{"requestor": True,
                   "who": {"identifier": {"system": CCCD, "value": personal_id()}}}],
        "source": {"observer": {"display": "gia mao"}},
        "entity": [{"what": {"reference": f"Patient/{marker}"}}],
    }


def _assert_405(response: httpx.Response) -> None:
    assert response.status_code == 405, (response.status_code, response.text)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome


@pytest.mark.parametrize("scope", ["user/*.cruds", "system/*.cruds", "user/AuditEvent.cruds"])
def test_audit_events_cannot_be_written_through_the_api(server, issuer, client, recorded, scope):
    marker = f"gia-mao-{uuid.uuid4().hex[:8]}"
    event_url = f"/AuditEvent/{recorded['id']}"
    changed = {**recorded, "outcome": "8"}
    with fhir_client(server.base, issuer.token(scope=scope)) as http:
        _assert_405(http.post("/AuditEvent", json=_forged(marker), headers=FHIR_HEADERS))
        _assert_405(http.put(event_url, json=changed, headers=FHIR_HEADERS))
        _assert_405(http.put("/AuditEvent", params={"_id": recorded["id"]}, json=changed,
                             headers=FHIR_HEADERS))
        _assert_405(http.patch(event_url, headers={"Content-Type": JSON_PATCH},
                               json=[{"op": "replace", "path": "/outcome", "value": "8"}]))
        _assert_405(http.delete(event_url))
        _assert_405(http.delete("/AuditEvent", params={"_id": recorded["id"]}))
        _assert_405(http.post("", json=bundle("transaction", post_entry(_forged(marker))),
                              headers=FHIR_HEADERS))
        _assert_405(http.post("", json=bundle("transaction", delete_entry(event_url[1:])),
                              headers=FHIR_HEADERS))
        batch = http.post("", json=bundle("batch", post_entry(_forged(marker)),
                                          delete_entry(event_url[1:])), headers=FHIR_HEADERS)
    assert batch.status_code == 200, batch.text
    statuses = [e["response"]["status"].split()[0] for e in batch.json()["entry"]]
    assert statuses == ["405", "405"], batch.json()
    assert events(client, entity=f"Patient/{marker}") == []
    again = client.get(event_url)
    assert again.status_code == 200, again.text
    assert again.json() == recorded
    assert client.get(f"{event_url}/_history").json()["total"] == 1


@pytest.mark.parametrize("scope, read, search", [
    ("user/AuditEvent.rs", 200, 200),
    ("system/AuditEvent.rs", 200, 200),
    ("user/AuditEvent.read", 200, 200),
    ("user/AuditEvent.r", 200, 403),
    ("user/Patient.rs", 403, 403),
    ("user/Patient.cruds user/Encounter.cruds", 403, 403),
    ("patient/AuditEvent.rs", 403, 403),
])
def test_reading_the_trail_needs_audit_event_scopes(server, issuer, recorded, scope, read,
                                                    search):
    with fhir_client(server.base, issuer.token(scope=scope)) as http:
        one = http.get(f"/AuditEvent/{recorded['id']}")
        many = http.get("/AuditEvent", params={"_id": recorded["id"]})
    for response, expected in ((one, read), (many, search)):
        if expected == 200:
            assert response.status_code == 200, response.text
        else:
            assert_forbidden(response)
    if search == 200:
        assert [e["resource"]["id"] for e in many.json()["entry"]] == [recorded["id"]]


def test_a_server_error_is_a_bare_500_whose_event_names_the_error_type(server, person,
                                                                       monkeypatch):
    """The client learns nothing of the error; the AuditEvent (outcome 8) names its type, for
    whoever looks into the failure once the log is gone."""
    async def failing_read(*args, **kwargs):
        raise RuntimeError("a detail for the log only")

    monkeypatch.setattr(ResourceService, "read", failing_read)
    response = person.http.get(f"/Patient/{uuid.uuid4()}")
    assert response.status_code == 500, response.text
    assert [issue["code"] for issue in response.json()["issue"]] == ["exception"]
    assert "detail" not in response.text
    monkeypatch.undo()
    event = the_event(person.http, _id=response.headers["X-Request-Id"])
    assert (event["outcome"], event["outcomeDesc"]) == ("8", "HTTP 500: RuntimeError"), event


def test_a_client_gone_mid_body_is_audited_as_its_failure_not_the_servers(server, person):
    """A 400 (`incomplete`) in its AuditEvent, outcome 4: a 500 there (outcome 8) let anyone
    who opens a connection fill the trail and the log with false server failures."""
    host, port = server.base.split("//")[1].split("/")[0].split(":")
    body = b'{"resourceType": "Patient", "name": [{"text": "An"}]}'
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n"
                     + f"Authorization: {person.http.headers['authorization']}\r\n".encode()
                     + b"Content-Type: application/fhir+json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:20])
        time.sleep(0.5)
    event = the_event(person.http, **{"agent:identifier": person.agent, "subtype": "create"})
    assert (event["outcome"], event["outcomeDesc"]) == ("4", "HTTP 400"), event


def test_the_clients_request_id_comes_back_as_the_correlation_id(person):
    """http.html#custom: the server's X-Request-Id (its AuditEvent's id) replaces the
    client's, which comes back as X-Correlation-Id; a header that is no plausible id does
    not."""
    mine, path = f"his-bachmai-{uuid.uuid4()}", f"/Patient/{uuid.uuid4()}"
    response = person.http.get(path, headers={"X-Request-Id": mine})
    assert response.headers["X-Correlation-Id"] == mine
    assert response.headers["X-Request-Id"] != mine
    the_event(person.http, _id=response.headers["X-Request-Id"])
    assert "X-Correlation-Id" not in person.http.get(path).headers
    too_long = person.http.get(path, headers={"X-Request-Id": "x" * 201})
    assert "X-Correlation-Id" not in too_long.headers
