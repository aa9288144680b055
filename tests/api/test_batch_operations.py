"""Operations in batch entries (http://hl7.org/fhir/R4/http.html#transaction: a batch mixes
interactions "or using the operations framework"): each entry answers as the operation
called on its own by the same client, and fails alone; a transaction refuses them."""

import gzip
import json

import httpx
from bundle_helpers import batch, get_entry, post_entry, response_bundle, submit, transaction
from helpers import CCCD, created, new_patient, search_ids, unique_cccd


def _operation_entry(url: str, resource: dict, method: str = "POST") -> dict:
    return {"resource": resource, "request": {"method": method, "url": url}}


def _tag(code: str) -> dict:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "meta", "valueMeta": {"tag": [{"system": "urn:test:batch", "code": code}]}}]}


def test_operations_answer_in_their_entries_beside_other_interactions(client, server):
    patient = created(client, new_patient())
    path = f"Patient/{patient['id']}"
    observation = created(client, {
        "resourceType": "Observation", "status": "final", "code": {"text": "Mạch"},
        "subject": {"reference": path}, "valueQuantity": {"value": 72, "unit": "/min"}})
    entries = response_bundle(submit(client, batch(
        get_entry(f"{path}/$everything?_format=xml"),
        _operation_entry("Patient/$validate", new_patient(birthDate="1985-02-30")),
        _operation_entry(f"{path}/$meta-add", _tag("batched")),
        get_entry(f"{path}"),
    )), "batch-response", 4)
    everything, validation, meta, read = entries
    assert everything["response"]["status"] == "200 OK", everything
    assert everything["resource"]["type"] == "searchset"  # JSON whatever _format asked
    assert {(e["resource"]["resourceType"], e["resource"]["id"])
            for e in everything["resource"]["entry"]} >= {
        ("Patient", patient["id"]), ("Observation", observation["id"])}
    assert validation["response"]["status"] == "200 OK"
    [error] = [i for i in validation["resource"]["issue"] if i["severity"] == "error"]
    assert error["expression"] == ["Patient.birthDate"]
    assert meta["response"]["status"] == "200 OK"
    assert {"system": "urn:test:batch", "code": "batched"} in meta["resource"]["parameter"][0][
        "valueMeta"]["tag"]
    # The tag was stored by the entry, as the same call alone would.
    tags = client.get(f"/{path}").json()["meta"]["tag"]
    assert {"system": "urn:test:batch", "code": "batched"} in tags
    assert read["resource"]["id"] == patient["id"]


def test_a_failing_operation_fails_alone(client, server):
    value = unique_cccd()
    entries = response_bundle(submit(client, batch(
        get_entry("Patient/no-such-patient/$everything"),
        get_entry("Patient/$no-such-operation"),
        {"request": {"method": "DELETE", "url": "Patient/$everything"}},
        post_entry(new_patient(value)),
    )), "batch-response", 4)
    statuses = [entry["response"]["status"] for entry in entries]
    assert statuses == ["404 Not Found", "404 Not Found", "405 Method Not Allowed",
                        "201 Created"], entries
    for entry in entries[:3]:
        assert entry["response"]["outcome"]["resourceType"] == "OperationOutcome", entry
        assert "resource" not in entry
    assert len(search_ids(client, "Patient", identifier=f"{CCCD}|{value}")) == 1


def test_an_operation_entry_needs_the_scopes_the_call_alone_needs(client, server, issuer):
    patient = created(client, new_patient())
    headers = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json",
               "Authorization": f"Bearer {issuer.token('user/Observation.rs')}"}
    with httpx.Client(base_url=server.base, timeout=60, headers=headers) as observations_only:
        entries = response_bundle(submit(observations_only, batch(
            get_entry(f"Patient/{patient['id']}/$everything"),
            _operation_entry(f"Patient/{patient['id']}/$meta-add", _tag("refused")),
            get_entry("Observation?_count=1"),
        )), "batch-response", 3)
    assert [e["response"]["status"] for e in entries] == [
        "403 Forbidden", "403 Forbidden", "200 OK"], entries
    assert "tag" not in client.get(f"/Patient/{patient['id']}").json().get("meta", {})


def test_a_transaction_refuses_operations_and_writes_nothing(client, server):
    patient = created(client, new_patient())
    value = unique_cccd()
    response = submit(client, transaction(
        post_entry(new_patient(value)),
        _operation_entry(f"Patient/{patient['id']}/$meta-add", _tag("in-transaction")),
    ))
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert issue["code"] == "not-supported"
    assert issue["expression"] == ["Bundle.entry[1].request.url"]
    assert "batch" in issue["diagnostics"]
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []
    assert "tag" not in client.get(f"/Patient/{patient['id']}").json().get("meta", {})


def test_an_operation_entry_of_a_gzipped_batch_reads_its_own_body(client):
    """The batch's body was gzipped, the entry's resource is not: it was 400 'cannot be
    decoded' (the entry inherited Content-Encoding)."""
    body = json.dumps(batch(_operation_entry("Patient/$validate", new_patient()))).encode()
    response = client.post("", content=gzip.compress(body), headers={
        "Content-Type": "application/fhir+json", "Content-Encoding": "gzip"})
    [entry] = response_bundle(response, "batch-response", 1)
    assert entry["response"]["status"] == "200 OK", entry
    assert entry["resource"]["resourceType"] == "OperationOutcome"


def test_a_batch_runs_a_bounded_number_of_operations(client, monkeypatch):
    """Each operation may cost what a request does: past the bound (100, here 2), an
    operation entry is 413 in its entry and the others are answered."""
    from fhir_server.services import read_budget

    monkeypatch.setattr(read_budget, "MOST_OPERATIONS", 2)
    entries = response_bundle(submit(client, batch(
        *(_operation_entry("Patient/$validate", new_patient()) for _ in range(3)),
        get_entry("Patient?_count=1"),
    )), "batch-response", 4)
    assert [e["response"]["status"][:3] for e in entries] == ["200", "200", "413", "200"]
    assert entries[2]["response"]["outcome"]["issue"][0]["code"] == "too-costly"
