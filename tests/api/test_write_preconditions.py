"""Preconditions and statuses of writes beyond If-Match (RFC 9110 §13, R4 http.html): a
create-only PUT (`If-None-Match: *`), a PATCH of a deleted resource, and the headers of a
failed transaction; concurrent updates of one resource without a precondition."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from api.helpers import (
    CCCD,
    FHIR_HEADERS,
    JSON_PATCH,
    assert_outcome,
    created,
    new_patient,
    patch,
    put,
    search_ids,
    unique_cccd,
)
from bundle_helpers import delete_entry, get_entry, patch_entry, submit, transaction

GENDER = [{"op": "replace", "path": "/gender", "value": "female"}]


def test_a_put_with_if_none_match_star_creates_only(client):
    """RFC 9110 §13.1.2: with `If-None-Match: *` a PUT must not replace a current resource
    (412); where there is none, it creates it."""
    patient = {**new_patient(), "id": str(uuid.uuid4())}
    assert put(client, patient, **{"If-None-Match": "*"}).status_code == 201
    again = put(client, {**patient, "gender": "other"}, **{"If-None-Match": "*"})
    assert_outcome(again, 412)
    assert client.get(f"/Patient/{patient['id']}").json()["gender"] == patient["gender"]
    assert client.delete(f"/Patient/{patient['id']}").status_code == 204
    recreated = put(client, patient, **{"If-None-Match": "*"})  # a deletion is no resource
    assert recreated.status_code == 201, recreated.text
    both = put(client, patient, **{"If-None-Match": "*", "If-Match": 'W/"3"'})
    assert_outcome(both, 400)


def test_if_none_match_star_keeps_a_patch_or_delete_from_a_current_resource(client):
    """The condition is false where a current representation exists: PATCH and DELETE went
    ahead. An entity-tag in If-None-Match is taken on reads only: 400, not a write anyway."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    assert_outcome(patch(client, path, GENDER, **{"If-None-Match": "*"}), 412)
    assert_outcome(client.delete(path, headers={"If-None-Match": "*"}), 412)
    assert_outcome(put(client, patient, **{"If-None-Match": 'W/"1"'}), 400)
    assert client.get(path).json() == patient  # nothing written


def test_a_bundle_entrys_if_none_match_star_guards_its_put(client):
    """bundle.html#Bundle.entry.request.ifNoneMatch carries the header's meaning: a
    create-only PUT entry of a current resource is 412 (the transaction rolled back) where
    it overwrote it."""
    patient = created(client, new_patient())
    entry = {"resource": {**patient, "gender": "other"},
             "request": {"method": "PUT", "url": f"Patient/{patient['id']}", "ifNoneMatch": "*"}}
    assert_outcome(submit(client, transaction(entry)), 412)
    answered = submit(client, {"resourceType": "Bundle", "type": "batch", "entry": [entry]})
    assert answered.json()["entry"][0]["response"]["status"].startswith("412")
    assert client.get(f"/Patient/{patient['id']}").json() == patient


def test_a_bundle_entrys_if_match_takes_a_list_as_the_header_does(client):
    """bundle.html#Bundle.entry.request.ifMatch carries the header's meaning, a list of
    ETags too: one naming the current version lets the entry write; none, 412."""
    patient = created(client, new_patient())
    url = f"Patient/{patient['id']}"
    entry = {"resource": {**patient, "gender": "other"},
             "request": {"method": "PUT", "url": url, "ifMatch": 'W/"0", W/"1"'}}
    written = submit(client, transaction(entry))
    assert written.status_code == 200, written.text
    assert written.json()["entry"][0]["response"]["etag"] == 'W/"2"'
    stale = submit(client, {"resourceType": "Bundle", "type": "batch", "entry": [
        patch_entry(url, GENDER, if_match='W/"0", W/"1"'),
        delete_entry(url, if_match='W/"1", W/"x"')]})
    assert [e["response"]["status"][:3] for e in stale.json()["entry"]] == ["412", "400"]
    assert client.get(f"/{url}").json()["gender"] == "other"


def test_a_patch_of_a_deleted_resource_is_410_as_its_read(client):
    patient = created(client, new_patient())
    assert client.delete(f"/Patient/{patient['id']}").status_code == 204
    assert client.get(f"/Patient/{patient['id']}").status_code == 410
    assert_outcome(patch(client, f"/Patient/{patient['id']}", GENDER), 410)
    assert_outcome(patch(client, f"/Patient/{uuid.uuid4()}", GENDER), 404)


def test_a_failed_transaction_answers_without_the_etag_of_an_entrys_resource(client):
    """An entry's 410 carries its resource's ETag; the transaction's response is about
    `POST [base]`, so that ETag would describe the wrong thing."""
    patient = created(client, new_patient())
    response = submit(client, transaction(get_entry(f"Patient/{patient['id']}"),
                                          delete_entry(f"Patient/{patient['id']}")))
    outcome = assert_outcome(response, 410)
    assert "etag" not in response.headers and "last-modified" not in response.headers
    assert "Bundle.entry[0]" in outcome["issue"][0]["diagnostics"]
    assert client.get(f"/Patient/{patient['id']}").status_code == 200  # rolled back


def test_concurrent_updates_without_if_match_all_succeed_in_turn(client, server):
    """Without If-Match, last writer wins (R4 http.html#update): each PUT is a new version,
    none is refused because another writer's signature was being made meanwhile."""
    patient = created(client, new_patient())
    writers, rounds = 6, 6

    def write(writer: int) -> list[int]:
        with httpx.Client(base_url=server.base, timeout=120, headers=client.headers) as own:
            return [put(own, {**patient, "birthDate": f"19{writer}{n}-01-01"}).status_code
                    for n in range(rounds)]

    with ThreadPoolExecutor(max_workers=writers) as pool:
        statuses = [status for written in pool.map(write, range(writers)) for status in written]
    assert statuses == [200] * writers * rounds
    history = client.get(f"/Patient/{patient['id']}/_history", params={"_count": 100}).json()
    assert sorted(int(entry["resource"]["meta"]["versionId"]) for entry in history["entry"]) == (
        list(range(1, writers * rounds + 2)))


def test_conditional_writes_take_if_match_lists_and_if_none_match_star_as_direct_ones(client):
    """The preconditions of a conditional update and delete are those of an update and
    delete by id: a list of ETags holds when one names the match's current version; with no
    match, `If-None-Match: *` holds (the update creates: it was 412 "If-Match expects version
    -2") and If-Match does not."""
    value = unique_cccd()
    criteria = {"identifier": f"{CCCD}|{value}"}
    created_one = client.put("/Patient", params=criteria, json=new_patient(value),
                             headers={**FHIR_HEADERS, "If-None-Match": "*"})
    assert created_one.status_code == 201, created_one.text
    updated = client.put("/Patient", params=criteria, json={**new_patient(value), "active": False},
                         headers={**FHIR_HEADERS, "If-Match": 'W/"0", W/"1"'})
    assert updated.status_code == 200, updated.text
    assert_outcome(client.delete("/Patient", params=criteria,
                                 headers={"If-Match": 'W/"0", W/"1"'}), 412)
    assert client.delete("/Patient", params=criteria,
                         headers={"If-Match": 'W/"1", W/"2"'}).status_code == 204
    assert_outcome(client.delete("/Patient", params=criteria, headers={"If-Match": "*"}), 412)
    assert client.delete("/Patient", params=criteria,
                         headers={"If-None-Match": "*"}).status_code == 204
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []


def test_if_unmodified_since_keeps_a_write_from_a_later_version(client):
    """RFC 9110 §13.1.4: a resource changed after the date is not written (412), by PUT,
    PATCH or DELETE; one not changed since is (probe CL); If-Match, when given, decides
    alone (§13.2.2), and a value that is no HTTP-date is ignored."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    last_modified = client.get(path).headers["Last-Modified"]
    before = "Thu, 01 Jan 1970 00:00:00 GMT"
    for refused in (put(client, {**patient, "gender": "other"}, **{"If-Unmodified-Since": before}),
                    patch(client, path, GENDER, **{"If-Unmodified-Since": before}),
                    client.delete(path, headers={"If-Unmodified-Since": before})):
        assert_outcome(refused, 412)
    assert client.get(path).json() == patient  # nothing written
    since = {"If-Unmodified-Since": last_modified}
    assert patch(client, path, GENDER, **since).status_code == 200
    assert patch(client, path, GENDER, **{"If-Unmodified-Since": before,
                                          "If-Match": 'W/"2"'}).status_code == 200
    assert patch(client, path, GENDER, **{"If-Unmodified-Since": "hom qua"}).status_code == 200
    assert client.delete(path, headers={"If-Unmodified-Since": "Fri, 31 Dec 9999 23:59:59 GMT"}
                         ).status_code == 204


def test_if_match_on_several_header_lines_is_one_list(client):
    """RFC 9110 §5.3: `If-Match: W/"999"` and `If-Match: W/"1"` on two lines are the list
    `W/"999", W/"1"`, which the current version 1 is in (the first line alone was judged,
    probe CL)."""
    patient = created(client, new_patient())
    lines = [("If-Match", 'W/"999"'), ("If-Match", 'W/"1"'), ("Content-Type", JSON_PATCH)]
    response = client.patch(f"/Patient/{patient['id']}", headers=lines,
                            content=json.dumps(GENDER))
    assert response.status_code == 200, response.text
    stale = [("If-Match", 'W/"998"'), ("If-Match", 'W/"999"'), *lines[2:]]
    assert_outcome(client.patch(f"/Patient/{patient['id']}", headers=stale,
                                content=json.dumps(GENDER)), 412)


def test_if_match_naming_a_deletions_version_is_412(client):
    """RFC 9110 §13.1.1: If-Match is false where there is no current representation; `W/"2"`,
    the deletion's version, recreated the resource (probe CQ), which `*` did not."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    assert client.delete(path).status_code == 204
    for tag in ('W/"2"', "*"):
        assert_outcome(put(client, patient, **{"If-Match": tag}), 412)
    assert client.get(path).status_code == 410


def test_if_match_takes_version_etags_and_refuses_malformed_ones(client):
    """`W/1` is no entity-tag (400, naming the header), and `W/"01"` names no version
    (versionIds are strings: 412); `"1"`, strong, is compared weakly."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    outcome = assert_outcome(patch(client, path, GENDER, **{"If-Match": "W/1"}), 400)
    assert "If-Match" in outcome["issue"][0]["diagnostics"]
    assert_outcome(patch(client, path, GENDER, **{"If-Match": 'W/"01"'}), 412)
    assert client.get(path).json() == patient
    assert patch(client, path, GENDER, **{"If-Match": '"1"'}).status_code == 200


def test_a_version_id_with_a_leading_zero_names_no_version(client):
    patient = created(client, new_patient())
    assert_outcome(client.get(f"/Patient/{patient['id']}/_history/01"), 404)
    assert client.get(f"/Patient/{patient['id']}/_history/1").json() == patient


def test_a_vread_of_a_deletion_has_its_etag_as_the_read_has(client):
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    assert client.delete(path).status_code == 204
    for gone in (client.get(path), client.get(f"{path}/_history/2")):
        assert_outcome(gone, 410)
        assert gone.headers["ETag"] == 'W/"2"'


def test_if_none_exist_on_an_update_patch_or_delete_is_400_not_ignored(client):
    """If-None-Exist is a create's (http.html#ccreate), and a batch entry's `ifNoneExist` on
    a PUT is 400; over HTTP it was ignored, so a PUT sent with it to create the patient
    unless one exists overwrote the stored one (and a DELETE with it deleted)."""
    value = unique_cccd()
    patient = created(client, new_patient(value))
    criteria = {"If-None-Exist": f"identifier={CCCD}|{value}"}
    for response in (
        put(client, {**patient, "gender": "female"}, **criteria),
        client.put(f"/Patient?_id={patient['id']}", json={**patient, "gender": "female"},
                   headers={**FHIR_HEADERS, **criteria}),
        patch(client, f"/Patient/{patient['id']}", GENDER, **criteria),
        client.delete(f"/Patient/{patient['id']}", headers=criteria),
    ):
        assert "If-None-Exist" in assert_outcome(response, 400)["issue"][0]["diagnostics"]
    assert client.get(f"/Patient/{patient['id']}").json() == patient
