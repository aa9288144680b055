"""A search of a type being re-indexed (a server started on an earlier release's data) says
that its matches may be incomplete, rather than answering as if they were complete."""

import time

from helpers import created, new_patient, unique_cccd
from pymongo import MongoClient


def _outcomes(bundle: dict) -> list[dict]:
    return [issue for entry in bundle.get("entry", [])
            if entry["search"]["mode"] == "outcome" for issue in entry["resource"]["issue"]]


def _matches(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])
            if entry["search"]["mode"] == "match"]


def test_a_search_of_a_type_being_reindexed_warns_until_it_is_done(client, server):
    """Upgraded from an earlier release, a Patient stored with that release's entries (here:
    none for `family`, as before a parameter was indexed) is missed by `family=` until the
    background re-index reaches it; the searchset said nothing of it, so a client took the
    empty page for "no such patient"."""
    family = f"Lê{unique_cccd()}"
    patient = created(client, new_patient(name=[{"family": family}]))
    settings = server.settings
    with MongoClient(settings.mongodb_uri) as mongo:
        database = mongo[settings.database]
        complete = {"_id": {"$regex": "^search_index_complete:"}}
        deadline = time.monotonic() + 30
        while database["server_settings"].find_one(complete) is None:  # start-up's pass
            assert time.monotonic() < deadline, "the start-up re-index did not finish"
            time.sleep(0.1)
        # As a server started on an earlier release's data finds it: no full pass yet under
        # the current definitions, and a resource holding that release's entries.
        database["server_settings"].delete_many(complete)
        database["Patient"].update_one({"_id": patient["id"]},
                                       {"$unset": {"search.family": ""},
                                        "$set": {"indexVersion": "older"}})

    during = client.get("/Patient", params={"family": family}).json()
    assert _matches(during) == []
    [issue] = _outcomes(during)
    assert issue["severity"] == "warning" and issue["code"] == "incomplete"
    assert "being re-indexed" in issue["diagnostics"]
    counted = client.get("/Patient", params={"family": family, "_summary": "count"}).json()
    assert [i["code"] for i in _outcomes(counted)] == ["incomplete"]
    # By id alone the stored document itself answers: nothing to warn of.
    by_id = client.get("/Patient", params={"_id": patient["id"]}).json()
    assert _matches(by_id) == [patient["id"]] and _outcomes(by_id) == []

    assert client.post("/Patient/$reindex").status_code == 200
    after = client.get("/Patient", params={"family": family}).json()
    assert _matches(after) == [patient["id"]] and _outcomes(after) == []
