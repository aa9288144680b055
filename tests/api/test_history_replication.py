"""A history Bundle POSTed to the base is replicated as a batch (http://hl7.org/fhir/R4/
http.html#transaction: "servers SHOULD accept a history Bundle - this makes it possible to
replicate data from one server to another"): the history of one server, POSTed to another,
gives it the same current resources under the same ids."""

import httpx
import pytest
from api.bundle_helpers import batch, post_entry, response_bundle, submit
from api.helpers import (
    CCCD,
    assert_outcome,
    created,
    new_patient,
    patch,
    put,
    unique_cccd,
    without_meta,
)
from conftest import RunningServer, database_name
from conftest import test_settings as settings_for


@pytest.fixture(scope="module")
def replica(mongo_uri, request, tmp_path_factory, issuer, signing_service):
    """A client of a second server, with a database of its own, that the first one's
    history feeds."""
    settings = settings_for(mongo_uri, database_name(request), tmp_path_factory.mktemp("data"),
                            issuer, signing_service)
    token = {"Authorization": f"Bearer {issuer.token()}", "Accept": "application/fhir+json"}
    with (RunningServer(settings) as running,
          httpx.Client(base_url=running.base, timeout=60, headers=token) as http):
        yield http


def _base(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def _history(client: httpx.Client, path: str) -> dict:
    response = client.get(path, params={"_count": "1000"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "history" and "next" not in str(bundle["link"]), bundle
    return bundle


def _statuses(entries: list[dict]) -> list[str]:
    return [entry["response"]["status"] for entry in entries]


def _changes(client: httpx.Client) -> tuple[dict, dict, dict]:
    """A Patient created, updated and patched; another created and deleted; an Observation
    of the first. Returns the first's last version, the second, and the Observation."""
    first = created(client, new_patient(unique_cccd(), name=[{"family": "Trần"}]))
    path = f"/Patient/{first['id']}"
    assert put(client, {**first, "name": [{"family": "Lê"}]}).status_code == 200
    patched = patch(client, path, [{"op": "add", "path": "/gender", "value": "female"}])
    assert patched.status_code == 200, patched.text
    second = created(client, new_patient(unique_cccd()))
    assert client.delete(f"/Patient/{second['id']}").status_code == 204
    observation = created(client, {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{first['id']}"},
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
                          "code": "/min"}})
    return patched.json(), second, observation


def test_a_system_history_replicates_to_another_server(client, replica):
    patient, deleted, observation = _changes(client)
    history = _history(client, "/_history")
    response = submit(replica, history)
    entries = response_bundle(response, "batch-response", len(history["entry"]))
    for sent, answered in zip(history["entry"], entries, strict=True):
        assert answered["response"]["status"][:3] in ("200", "201", "204"), (sent, answered)
    # The current state is the sender's, under the sender's ids.
    for resource in (patient, observation):
        read = replica.get(f"/{resource['resourceType']}/{resource['id']}")
        assert read.status_code == 200, read.text
        assert without_meta(read.json()) == without_meta(resource)
    assert replica.get(f"/Patient/{deleted['id']}").status_code == 410
    # Each version was written, oldest first.
    versions = _history(replica, f"/Patient/{patient['id']}/_history")["entry"]
    assert [(v["resource"]["name"][0]["family"], v["resource"].get("gender"))
            for v in versions] == [("Lê", "female"), ("Lê", "male"), ("Trần", "male")]


def test_versions_are_applied_by_their_time_whatever_order_they_come_in(client, replica):
    patient, _, _ = _changes(client)
    history = _history(client, f"/Patient/{patient['id']}/_history")
    newest, middle, oldest = history["entry"]
    # In their order the last is the oldest, in reverse the middle one; their times say.
    history["entry"] = [middle, newest, oldest]
    entries = response_bundle(submit(replica, history), "batch-response", 3)
    assert _statuses(entries) == ["200 OK", "200 OK", "201 Created"]
    read = replica.get(f"/Patient/{patient['id']}").json()
    assert without_meta(read) == without_meta(patient)


def test_without_times_the_entries_apply_in_reverse_of_the_order_received(client, replica):
    patient, _, _ = _changes(client)
    history = _history(client, f"/Patient/{patient['id']}/_history")
    for entry in history["entry"]:
        del entry["response"]["lastModified"], entry["resource"]["meta"]["lastUpdated"]
    entries = response_bundle(submit(replica, history), "batch-response", 3)
    assert _statuses(entries) == ["200 OK", "200 OK", "201 Created"]
    read = replica.get(f"/Patient/{patient['id']}").json()
    assert without_meta(read) == without_meta(patient)


def test_a_leap_second_is_a_time_of_its_own(replica):
    """R4's instant takes a leap second (`23:59:60`): entries sent oldest first, the newest
    changed at one, are applied by their times, the newest last; the leap second was read
    as no time, so the entries were applied in reverse of the order received and the
    replica ended at the oldest version."""
    kept = {**new_patient(unique_cccd()), "id": f"l{unique_cccd()}"}
    url = f"Patient/{kept['id']}"
    history = _history_of(_entry("PUT", url, {**kept, "gender": "male"}),
                          _entry("PUT", url, {**kept, "gender": "female"}))
    history["entry"][0]["response"]["lastModified"] = "2016-12-31T23:59:59Z"
    history["entry"][1]["response"]["lastModified"] = "2016-12-31T23:59:60Z"
    entries = response_bundle(submit(replica, history), "batch-response", 2)
    assert _statuses(entries) == ["201 Created", "200 OK"]
    assert replica.get(f"/{url}").json()["gender"] == "female"


def _entry(method: str, url: str, resource: dict | None = None,
           full_url: str | None = None) -> dict:
    entry: dict = {"request": {"method": method, "url": url}, "response": {"status": "200"}}
    if resource is not None:
        entry["resource"] = resource
    if full_url is not None:
        entry["fullUrl"] = full_url
    return entry


def _history_of(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "history", "entry": list(entries)}


def test_entries_that_make_no_version_are_refused_alone(replica):
    kept = {**new_patient(unique_cccd()), "id": f"k{unique_cccd()}"}
    history = _history_of(
        _entry("GET", f"Patient/{kept['id']}"),
        _entry("PATCH", f"Patient/{kept['id']}"),  # no resource: not the version it made
        _entry("POST", "Patient/$validate", kept),
        _entry("PUT", f"Patient/{kept['id']}", kept),
        _entry("DELETE", "Patient?identifier=x|y"),  # names no resource
        _entry("PUT", f"Patient/o{unique_cccd()}", kept),  # another id than the resource's
    )
    entries = response_bundle(submit(replica, history), "batch-response", 6)
    assert _statuses(entries) == ["400 Bad Request"] * 3 + ["201 Created"] + [
        "400 Bad Request"] * 2
    messages = [entry["response"]["outcome"]["issue"][0] for entry in entries if
                entry["response"]["status"].startswith("400")]
    assert [issue["code"] for issue in messages] == [
        "not-supported", "invalid", "not-supported", "invalid", "invalid"]
    assert all(issue["diagnostics"].startswith("Bundle.entry[") for issue in messages[:4])
    assert kept["id"] in messages[4]["diagnostics"], messages[4]
    assert replica.get(f"/Patient/{kept['id']}").status_code == 200


def test_conditional_urls_are_not_run(replica):
    value = unique_cccd()
    matched = created(replica, new_patient(value))
    kept = {**new_patient(unique_cccd()), "id": f"c{unique_cccd()}"}
    gone = created(replica, new_patient(unique_cccd()))
    query = f"Patient?identifier={CCCD}|{value}"
    history = _history_of(
        _entry("PUT", query, kept, f"{_base(replica)}/Patient/{kept['id']}"),
        _entry("DELETE", query, full_url=f"{_base(replica)}/Patient/{gone['id']}"),
        _entry("POST", "Patient", {**kept, "gender": "female"}),
    )
    history["entry"][2]["request"]["ifNoneExist"] = f"identifier={CCCD}|{value}"
    for number, entry in enumerate(history["entry"]):
        entry["response"]["lastModified"] = f"2024-01-0{number + 1}T00:00:00Z"
    entries = response_bundle(submit(replica, history), "batch-response", 3)
    assert _statuses(entries) == ["201 Created", "204 No Content", "200 OK"]
    assert replica.get(f"/Patient/{matched['id']}").json() == matched
    assert replica.get(f"/Patient/{gone['id']}").status_code == 410
    assert replica.get(f"/Patient/{kept['id']}").json()["gender"] == "female"
    # Signed and audited as any batch entry's write.
    signed = replica.get("/Provenance", params={"target": f"Patient/{kept['id']}"}).json()
    assert sorted(entry["resource"]["target"][0]["reference"] for entry in signed["entry"]) == [
        f"Patient/{kept['id']}/_history/{version}" for version in (1, 2)], signed
    audited = replica.get("/AuditEvent", params={"entity": f"Patient/{kept['id']}"}).json()
    assert [event["resource"]["subtype"][0]["code"] for event in audited["entry"]] == [
        "update", "update"], audited  # (an update-as-create is an update, as in a batch)


def test_an_invalid_history_bundle_is_refused_whole(replica):
    kept = {**new_patient(unique_cccd()), "id": f"i{unique_cccd()}"}
    without_response = _history_of(_entry("PUT", f"Patient/{kept['id']}", kept))
    del without_response["entry"][0]["response"]  # bdl-4: required in a history
    assert_outcome(submit(replica, without_response), 400)
    with_search = _history_of(_entry("PUT", f"Patient/{kept['id']}", kept))
    with_search["entry"][0]["search"] = {"mode": "match"}  # bdl-2
    assert_outcome(submit(replica, with_search), 400)
    assert replica.get(f"/Patient/{kept['id']}").status_code == 404


def test_each_entry_needs_the_scopes_of_its_write(replica, issuer):
    kept = {**new_patient(unique_cccd()), "id": f"s{unique_cccd()}"}
    headers = {"Authorization": f"Bearer {issuer.token(scope='user/*.rs')}"}
    with httpx.Client(base_url=_base(replica), timeout=60, headers=headers) as reader:
        response = submit(reader, _history_of(_entry("PUT", f"Patient/{kept['id']}", kept)))
        (entry,) = response_bundle(response, "batch-response", 1)
        assert entry["response"]["status"] == "403 Forbidden", entry
        assert reader.get(f"/Patient/{kept['id']}").status_code == 404


def test_a_history_bundle_in_a_batch_entry_is_stored_as_a_resource(replica):
    stored = _history_of(_entry("DELETE", "Patient/nothing"))
    (entry,) = response_bundle(submit(replica, batch(post_entry(stored))), "batch-response", 1)
    assert entry["response"]["status"] == "201 Created", entry
    bundle_id = entry["response"]["location"].split("/")[-3]
    read = replica.get(f"/Bundle/{bundle_id}").json()
    assert read["type"] == "history" and read["entry"] == stored["entry"]
