"""An export is the data as of its transactionTime: writes made after kick-off (here while
the job waits out FHIR_EXPORT_SETTLE_SECONDS, so the worker reads only after them) change
nothing in it. And a job that fails answers its status request with 500."""

import time

import pytest
from bulk_helpers import (
    FHIR_JSON,
    create,
    encounter,
    manifest,
    patient,
    resources,
    started,
    transaction,
    wait,
)
from pymongo import MongoClient

SETTLE = 1.5


@pytest.fixture(scope="module")
def export_settings() -> dict:
    return {"export_settle_seconds": SETTLE, "export_batch_bytes": 512}


def put(client, resource: dict) -> dict:
    response = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource,
                          headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 200, response.text
    return response.json()


def by_id(found: list[dict]) -> dict[str, dict]:
    return {resource["id"]: resource for resource in found}


def test_writes_after_kick_off_do_not_tear_the_export(client):
    a, b = transaction(client, [patient("Phạm"), patient("Vũ")])
    visits = transaction(client, [encounter(a["id"]) for _ in range(5)] + [encounter(b["id"])])
    typefilter = "Encounter?patient=" + ",".join([a["id"], b["id"]])
    system = started(client, params={"_type": "Patient,Encounter", "_typeFilter": typefilter})
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {"reference": f"Patient/{a['id']}"}},
        {"name": "_type", "valueString": "Patient,Encounter"}]}
    compartment = started(client, "Patient/$export", body=body)

    put(client, {**visits[0], "status": "cancelled"})
    assert client.delete(f"/Encounter/{visits[1]['id']}").status_code == 204
    put(client, {**visits[2], "subject": {"reference": f"Patient/{b['id']}"}})  # moves out
    late = create(client, encounter(a["id"]))
    put(client, {**a, "name": [{"family": "Đổi", "given": ["Tên"]}]})
    assert client.get(system, headers={"Accept": "application/json"}).status_code == 202

    exported = resources(client, manifest(client, system))
    encounters = by_id(exported["Encounter"])
    assert sorted(encounters) == sorted(v["id"] for v in visits)
    assert late["id"] not in encounters
    assert encounters[visits[0]["id"]] == visits[0]
    assert encounters[visits[2]["id"]] == visits[2]
    assert by_id(exported["Patient"])[a["id"]] == a

    exported = resources(client, manifest(client, compartment))
    assert [p["id"] for p in exported["Patient"]] == [a["id"]]
    assert exported["Patient"][0] == a
    assert sorted(r["id"] for r in exported["Encounter"]) == sorted(v["id"] for v in visits[:5])
    assert by_id(exported["Encounter"])[visits[2]["id"]] == visits[2]

    after = resources(client, manifest(client, started(client, params={
        "_type": "Encounter", "_typeFilter": typefilter})))
    now = by_id(after["Encounter"])
    assert late["id"] in now and visits[1]["id"] not in now
    assert now[visits[0]["id"]]["status"] == "cancelled"


def test_the_workers_wait_for_transactions_begun_before_the_kick_off(client, server):
    """A transaction open at kick-off may hold versions stamped before transactionTime (a
    large Bundle commits seconds after its first stamp): read before it commits, the export
    and the next one `_since` its transactionTime both missed them."""
    with MongoClient(server.settings.mongodb_uri) as mongo, mongo.start_session() as session:
        session.start_transaction()
        mongo[server.settings.database]["server_settings"].find_one({}, session=session)
        status = started(client, params={"_type": "Patient"})
        time.sleep(SETTLE + 1.0)
        waiting = client.get(status, headers={"Accept": "application/json"})
        session.abort_transaction()
    assert waiting.status_code == 202, waiting.text
    assert wait(client, status).status_code == 200


def test_a_failed_export_answers_500(client, server):
    status = started(client, params={"_type": "Encounter"})
    job_id = status.rsplit("/", 1)[1]
    with MongoClient(server.settings.mongodb_uri) as mongo:
        jobs = mongo[server.settings.database]["export_jobs"]
        # What kick-off would have refused: the worker cannot compile it.
        result = jobs.update_one({"_id": job_id, "status": "queued"},
                                 {"$set": {"parameters.type_filters":
                                           {"Encounter": ["date=notadate"]}}})
        assert result.modified_count == 1
    response = wait(client, status)
    assert response.status_code == 500, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "notadate" in outcome["issue"][0]["diagnostics"]
    assert client.delete(status).status_code == 202
    assert client.get(status).status_code == 404
