"""A search of a type being re-indexed (a server started on an earlier release's data) says
that its matches may be incomplete, rather than answering as if they were complete."""

import time

import httpx
from conftest import RunningServer
from helpers import created, new_patient, unique_cccd
from pymongo import MongoClient


def _outcomes(bundle: dict) -> list[dict]:
    return [issue for entry in bundle.get("entry", [])
            if entry["search"]["mode"] == "outcome" for issue in entry["resource"]["issue"]]


def _matches(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])
            if entry["search"]["mode"] == "match"]


def _as_an_earlier_release_left(server, patient_id: str, full_pass: bool) -> None:
    """The Patient as an earlier release stores it (no `family` entries, as before the
    parameter was indexed, and its index version), once the start-up pass has run; without
    the flag of that `full_pass` if not."""
    settings = server.settings
    with MongoClient(settings.mongodb_uri) as mongo:
        database = mongo[settings.database]
        complete = {"_id": {"$regex": "^search_index_complete:"}}
        deadline = time.monotonic() + 30
        while database["server_settings"].find_one(complete) is None:  # start-up's pass
            assert time.monotonic() < deadline, "the start-up re-index did not finish"
            time.sleep(0.1)
        if not full_pass:
            database["server_settings"].delete_many(complete)
        database["Patient"].update_one({"_id": patient_id},
                                       {"$unset": {"search.family": ""},
                                        "$set": {"indexVersion": "older"}})


def test_a_search_of_a_type_being_reindexed_warns_until_it_is_done(client, server):
    """Upgraded from an earlier release, a Patient stored with that release's entries (here:
    none for `family`, as before a parameter was indexed) is missed by `family=` until the
    background re-index reaches it; the searchset said nothing of it, so a client took the
    empty page for "no such patient"."""
    family = f"Lê{unique_cccd()}"
    patient = created(client, new_patient(name=[{"family": family}]))
    # As a server started on an earlier release's data finds it: no full pass yet under the
    # current definitions, and a resource holding that release's entries.
    _as_an_earlier_release_left(server, patient["id"], full_pass=False)

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
    assert client.post("/$reindex").status_code == 200  # a full pass, as at start-up


def test_what_a_rolled_back_release_wrote_is_reindexed_at_the_next_start(
        client, server, issuer, tmp_path):
    """A hospital rolls back to the release before, which writes with its own entries, and
    upgrades again: the full pass of this release had run, so the next start re-indexed
    nothing, and what the release before wrote meanwhile stayed missing from searches (and
    without a warning) until someone ran `fhir-server reindex`."""
    family = f"Phan{unique_cccd()}"
    patient = created(client, new_patient(name=[{"family": family}]))
    # Written by the release before, after this one's pass: its entries, its index.
    _as_an_earlier_release_left(server, patient["id"], full_pass=True)
    assert _matches(client.get("/Patient", params={"family": family}).json()) == []

    again = server.settings.model_copy(update={"data_dir": tmp_path, "base_url": None})
    headers = {"Authorization": f"Bearer {issuer.token()}"}
    with RunningServer(again) as restarted, httpx.Client(base_url=restarted.base,
                                                         headers=headers) as http:
        deadline = time.monotonic() + 30
        while not _matches(found := http.get("/Patient", params={"family": family}).json()):
            assert time.monotonic() < deadline, found
            time.sleep(0.2)
        assert _matches(found) == [patient["id"]] and _outcomes(found) == []
