"""What the audit trail records of reads a request makes on behalf of others, and of
searches about one patient: each read or search entry of a batch or transaction leaves the
AuditEvent its request alone would (allowed or refused: http.html#brules judges entries as
requests); a search or a GET operation naming a patient records the patient as an entity
(IHE BALP PatientQuery), so `AuditEvent?patient=` finds who looked at their data."""

import base64
import uuid

import httpx
import pytest
from api.helpers import FHIR_HEADERS, created, new_patient

from security.helpers import (
    audited_entities,
    bundle,
    fhir_client,
    get_entry,
    personal_id,
    wait_until,
)

POLL_SECONDS = 10


class Reader:
    """Someone with their own personal ID, so that their events are theirs alone."""

    def __init__(self, server, issuer, scope: str):
        self.id = personal_id(1979, female=True, province="079")
        self.http = fhir_client(server.base, issuer.token(scope=scope, subject=self.id))

    def events(self, admin: httpx.Client, count: int, **params: str) -> list[dict]:
        """This reader's AuditEvents matching `params`, once there are `count` of them."""
        def found() -> list[dict]:
            response = admin.get("/AuditEvent", params={
                "_count": "100", "agent:identifier": f"{CCCD}|{self.id}", **params})
            assert response.status_code == 200, response.text
            events = [entry["resource"] for entry in response.json().get("entry", [])]
            return events if len(events) >= count else []
        events = wait_until(found, POLL_SECONDS)
        assert len(events) == count, events
        return events


CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"


@pytest.fixture
def patient(client) -> str:
    return f"Patient/{created(client, new_patient())['id']}"


def _subtype(event: dict) -> str:
    return event["subtype"][0]["code"]


def _query(event: dict) -> str | None:
    queries = [e["query"] for e in event.get("entity", []) if "query" in e]
    return base64.b64decode(queries[0]).decode() if queries else None


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_read_and_search_entries_are_audited_as_their_requests(client, server, issuer, patient,
                                                               kind):
    reader = Reader(server, issuer, "user/Patient.rs user/Observation.rs")
    marker = f"an{uuid.uuid4().hex[:8]}"
    entries = [get_entry(patient), get_entry(f"Observation?subject={patient}&code={marker}")]
    response = reader.http.post("", json=bundle(kind, *entries), headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    events = reader.events(client, 3)
    by_subtype = {_subtype(event): event for event in events}
    assert set(by_subtype) == {kind, "read", "search-type"}, events
    read, search = by_subtype["read"], by_subtype["search-type"]
    assert audited_entities(read) == [patient] and read["outcome"] == "0" and read["action"] == "R"
    assert audited_entities(search) == ["Observation", patient], search
    assert _query(search) == f"subject={patient}&code={marker}"
    assert reader.events(client, 1, patient=patient.split("/")[1], subtype="read") == [read]


def test_refused_read_entries_are_audited_as_refusals(client, server, issuer, patient):
    reader = Reader(server, issuer, "user/Observation.rs")
    response = reader.http.post("", json=bundle("batch", get_entry(patient)),
                                headers=FHIR_HEADERS)
    assert response.json()["entry"][0]["response"]["status"].startswith("403"), response.text
    (refused,) = reader.events(client, 1, subtype="read")
    assert audited_entities(refused) == [patient] and refused["outcome"] == "4", refused


def test_a_transaction_failing_at_a_read_audits_the_refusal(client, server, issuer, patient):
    reader = Reader(server, issuer, "user/Observation.rs")
    response = reader.http.post("", json=bundle("transaction", get_entry(patient)),
                                headers=FHIR_HEADERS)
    assert response.status_code == 403, response.text
    (refused,) = reader.events(client, 1, subtype="read")
    assert audited_entities(refused) == [patient] and refused["outcome"] == "4", refused


@pytest.mark.parametrize("query", [
    "patient={id}", "subject=Patient/{id}", "subject:Patient={id}", "patient:Patient={id}",
    "patient=http://elsewhere.example/fhir/Patient/{id}", "patient=other-one,{id}",
])
def test_a_search_naming_a_patient_is_found_under_that_patient(client, server, issuer,
                                                               patient, query):
    reader = Reader(server, issuer, "user/*.rs")
    patient_id = patient.split("/")[1]
    assert reader.http.get(f"/Observation?{query.format(id=patient_id)}").status_code == 200
    (event,) = reader.events(client, 1, patient=patient_id)
    assert _subtype(event) == "search-type" and patient in audited_entities(event), event
    (named,) = [e for e in event["entity"] if e.get("what", {}).get("reference") == patient]
    assert named["role"]["code"] == "1" and named["type"]["code"] == "1", named


def test_a_get_operation_records_its_query_and_patient(client, server, issuer, patient):
    reader = Reader(server, issuer, "user/*.rs")
    patient_id = patient.split("/")[1]
    lastn = f"patient={patient_id}&category=vital-signs"
    assert reader.http.get(f"/Observation/$lastn?{lastn}").status_code == 200
    (event,) = reader.events(client, 1, patient=patient_id)
    assert _subtype(event) == "operation" and _query(event) == lastn, event


def test_a_search_naming_no_patient_names_none(client, server, issuer):
    reader = Reader(server, issuer, "user/*.rs")
    assert reader.http.get("/Observation?code=8867-4&performer=Practitioner/x").status_code == 200
    (event,) = reader.events(client, 1, subtype="search-type")
    assert audited_entities(event) == ["Observation"], event


def test_an_export_keeps_its_parameters_and_patients_in_the_trail(client, server, issuer,
                                                                  patient):
    """The job is gone a day later: its AuditEvent says what was exported, a POSTed
    Parameters' too, and names the patients asked for."""
    reader = Reader(server, issuer, "user/*.rs")
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {"reference": patient}},
        {"name": "_type", "valueString": "Observation"}]}
    response = reader.http.post("/Patient/$export", json=body, headers={
        **FHIR_HEADERS, "Accept": "application/fhir+json", "Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    (event,) = reader.events(client, 1, patient=patient.split("/")[1])
    assert _query(event) == (f"/fhir/Patient/$export?patient={patient.replace('/', '%2F')}"
                             "&_type=Observation"), event


def test_a_search_by_post_is_recorded_as_by_get(client, server, issuer, patient):
    """`POST [type]/_search` carries its parameters in the form: recorded all the same."""
    reader = Reader(server, issuer, "user/*.rs")
    patient_id = patient.split("/")[1]
    form = {"patient": patient_id, "code": "8867-4"}
    assert reader.http.post("/Observation/_search", data=form).status_code == 200
    (event,) = reader.events(client, 1, patient=patient_id)
    assert _query(event) == f"patient={patient_id}&code=8867-4", event


def test_operation_entries_name_the_batchs_request_even_when_refused(client, server, issuer,
                                                                     patient):
    reader = Reader(server, issuer, "user/*.rs")
    response = reader.http.post("", json=bundle(
        "batch", get_entry(f"{patient}/$everything"), get_entry(f"{patient}/$no-such-thing")),
        headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    events = reader.events(client, 3)
    subtypes = sorted(_subtype(event) for event in events)
    assert subtypes == ["batch", "operation", "operation"], events
    for event in events:
        named = [e["what"]["identifier"]["value"] for e in event["entity"]
                 if "identifier" in e.get("what", {})]
        assert named == [request_id], event
