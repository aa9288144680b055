"""`$reindex` rebuilds search entries written under older definitions (or none at all)."""

from helpers import created, new_patient, unique_cccd
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


def test_missing_finds_documents_indexed_with_and_without_empty_entry_arrays(client, server):
    """Entries are stored only for parameters with values; a document indexed before that
    (an empty array per parameter without values) answers `:missing` the same, before and
    after it is re-indexed."""
    family = f"Vũ{unique_cccd()}"
    bare, dated = (new_patient(name=[{"family": family}]) for _ in range(2))
    del bare["gender"], bare["birthDate"], dated["gender"]
    without_birth, with_birth = created(client, bare), created(client, dated)
    stored = server.settings.database
    with MongoClient(server.settings.mongodb_uri) as mongo:
        document = mongo[stored]["Patient"].find_one({"_id": without_birth["id"]})
        assert "birthdate" not in document["search"] and "gender" not in document["search"]
        mongo[stored]["Patient"].update_one(  # as an older release stored it
            {"_id": without_birth["id"]},
            {"$set": {"search.gender": [], "indexVersion": "older"}},
        )
    for _ in range(2):  # before and after `$reindex`
        assert _ids(client, f"family={family}&gender:missing=true") == {
            without_birth["id"], with_birth["id"]}
        assert _ids(client, f"family={family}&birthdate:missing=true") == {without_birth["id"]}
        assert _ids(client, f"family={family}&birthdate:missing=false") == {with_birth["id"]}
        assert client.post("/Patient/$reindex").status_code == 200
