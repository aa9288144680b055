"""`$reindex` rebuilds search entries written under older definitions (or none at all)."""

from helpers import created, new_patient
from pymongo import MongoClient


def _ids(client, query: str) -> set[str]:
    bundle = client.get(f"/Patient?{query}").json()
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


def test_reindex_restores_stale_search_entries(client, server):
    patient = created(client, new_patient(name=[{"family": "Hoàng", "given": ["Minh"]}]))
    other = created(client, new_patient(name=[{"family": "Hoàng", "given": ["Lan"]}]))
    with MongoClient(server.settings.mongodb_uri) as mongo:
        # As if written by a release that did not index `family` yet.
        mongo[server.settings.database]["Patient"].update_one(
            {"_id": patient["id"]},
            {"$set": {"search.family": [], "indexVersion": "older"}},
        )
    assert _ids(client, "family=hoang") == {other["id"]}

    response = client.post("/$reindex")
    assert response.status_code == 200, response.text
    counts = {p["name"]: p["valueInteger"] for p in response.json()["parameter"]}
    assert counts["Patient"] == 1
    assert _ids(client, "family=hoang") == {patient["id"], other["id"]}

    again = client.post("/Patient/$reindex").json()
    assert again["parameter"] == [{"name": "Patient", "valueInteger": 0}]


def test_reindex_of_an_unknown_type_is_refused(client):
    response = client.post("/Observationx/$reindex")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_reindex_of_a_type_never_written_reindexes_nothing(client):
    # Every R4 type may be reindexed, also one whose collection does not exist yet.
    response = client.post("/Observation/$reindex")
    assert response.status_code == 200, response.text
    assert response.json()["parameter"] == [{"name": "Observation", "valueInteger": 0}]
