"""A transaction names each resource once (http://hl7.org/fhir/R4/http.html#trules: "If any
resource identities (including resolved identities from conditional update/delete) overlap
in steps 1-3, then the transaction SHALL fail"), whether or not an entry changes it; only
creates may meet, a conditional create finding what another create makes."""

from unicodedata import normalize

import pytest
from bundle_helpers import (
    delete_entry,
    encounter,
    history_snapshot,
    identifier_query,
    patch_entry,
    post_entry,
    put_entry,
    submit,
    transaction,
    urn,
)
from helpers import CCCD, assert_outcome, created, new_patient, search_ids, unique_cccd


def test_entries_resolving_to_one_resource_when_written_are_rejected(client):
    """A create and a conditional patch whose condition finds what the create made: two
    writes of one resource in one transaction (http.html#trules)."""
    value = unique_cccd()
    before = history_snapshot(client)
    response = submit(client, transaction(
        post_entry(new_patient(value)),
        patch_entry(f"Patient?{identifier_query(value)}",
                    [{"op": "replace", "path": "/active", "value": False}]),
    ))
    assert_outcome(response, 400)
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []
    assert history_snapshot(client) == before


@pytest.mark.parametrize("case", ["same-full-url", "same-urn-in-upper-case", "same-put-target",
                                  "put-and-delete", "delete-and-conditional-delete"])
def test_two_entries_for_the_same_resource_are_rejected(client, case):
    value = unique_cccd()
    target = created(client, new_patient())
    changed = {**target, "gender": "female"}
    full_url = urn()
    first, second = {
        "same-full-url": (post_entry(new_patient(value), full_url),
                          post_entry(new_patient(unique_cccd()), full_url)),
        # RFC 8141, RFC 4122: one URN, which references in either case name (it was 409,
        # "resolves to ... but its fullUrl was resolved to ... before").
        "same-urn-in-upper-case": (post_entry(new_patient(value), full_url),
                                   post_entry(new_patient(unique_cccd()), full_url.upper())),
        "same-put-target": (put_entry(changed), put_entry({**changed, "gender": "other"})),
        "put-and-delete": (put_entry(changed), delete_entry(f"Patient/{target['id']}")),
        # Resolved identities overlap too (http.html#trules: "SHALL fail").
        "delete-and-conditional-delete": (delete_entry(f"Patient/{target['id']}"),
                                          delete_entry(f"Patient?_id={target['id']}")),
    }[case]
    before = history_snapshot(client)
    response = submit(client, transaction(post_entry(new_patient(value)), first, second))
    assert_outcome(response, 400)
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []
    assert history_snapshot(client) == before


@pytest.mark.parametrize("case", ["unchanged-put", "empty-patch", "matching-conditional-create"])
def test_an_entry_changing_nothing_still_names_its_resource(client, case):
    """An entry that leaves its resource as stored, with another resolving to that resource:
    the overlap was let through, both answered as applied, and the response said the first
    entry's version was current when the second had written a newer one."""
    value = unique_cccd()
    target = created(client, new_patient(value))
    unchanged = {
        "unchanged-put": put_entry(target),
        "empty-patch": {"resource": {"resourceType": "Parameters", "parameter": []},
                        "request": {"method": "PATCH", "url": f"Patient/{target['id']}"}},
        "matching-conditional-create": post_entry(new_patient(value), urn(),
                                                  identifier_query(value)),
    }[case]
    changing = put_entry(new_patient(value, gender="female"), f"Patient?_id={target['id']}")
    before = history_snapshot(client)
    response = submit(client, transaction(unchanged, changing))
    assert_outcome(response, 400)
    assert history_snapshot(client) == before
    assert client.get(f"/Patient/{target['id']}").json() == target


def test_a_conditional_create_finding_a_create_beside_it_with_its_full_url_unnamed(client):
    """A conditional create that finds the patient a plain create of the same transaction
    makes, and whose fullUrl nothing names: it was 409 (its fullUrl had been given another
    id before the transaction ran) though the same Bundle without that fullUrl was 200."""
    value = unique_cccd()
    response = submit(client, transaction(
        post_entry(new_patient(value), urn()),
        post_entry(new_patient(value), urn(), identifier_query(value)),
    ))
    assert response.status_code == 200, response.text
    made, found = (entry["response"] for entry in response.json()["entry"])
    assert (made["status"], found["status"]) == ("201 Created", "200 OK")
    assert made["location"] == found["location"]
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == [
        made["location"].split("/")[-3]]


def _one_patient_made_and_named_by_both(client, response, value: str) -> None:
    """The first conditional create made the patient, the second found it, and the two
    encounters after them refer to it by either fullUrl."""
    assert response.status_code == 200, response.text
    [patient_id] = search_ids(client, "Patient", identifier=f"{CCCD}|{value}")
    statuses = [entry["response"]["status"] for entry in response.json()["entry"]]
    assert statuses == ["201 Created", "200 OK", "201 Created", "201 Created"]
    for entry in response.json()["entry"][2:]:
        visit = client.get(entry["response"]["location"].split("/fhir/")[1]).json()
        assert visit["subject"]["reference"] == f"Patient/{patient_id}"


@pytest.mark.parametrize("spelling", [
    "identifier={system}%7C{value}",  # as fhirpy and fhir-kit-client encode it
    "gender=male&identifier={system}|{value}",
    "Patient?identifier={system}|{value}&_format=json",
])
def test_one_conditional_create_spelled_twice_makes_one_resource(client, spelling):
    """Two entries with one condition, one of them percent-encoded, in another order or
    after `Patient?`, and references to both fullUrls: the condition was told apart by its
    text, each fullUrl given an id, and the second entry, finding what the first made, failed
    the transaction (409 "resolves to ... but its fullUrl was resolved to ... before")."""
    value, first_url, second_url = unique_cccd(True), urn(), urn()
    other = spelling.format(system=CCCD, value=value)
    condition = identifier_query(value) + ("&gender=male" if "gender" in other else "")
    response = submit(client, transaction(
        post_entry(new_patient(value), first_url, condition),
        post_entry(new_patient(value), second_url, other),
        post_entry(encounter(second_url)),
        post_entry(encounter(first_url)),
    ))
    _one_patient_made_and_named_by_both(client, response, value)


@pytest.mark.parametrize(("first", "second"), [
    # Composed, and decomposed as Vietnamese input methods set to composite Unicode type it.
    ("family=Nguyễn", "family=" + normalize("NFD", "Nguyễn")),
    ("name=nguyễn văn", "name=NGUYEN VAN"),
    ("family:exact=Nguyễn", "family:exact=" + normalize("NFD", "Nguyễn")),
    ("family:contains=uyễ", "family:contains=UYE"),
])
def test_one_condition_in_another_case_or_unicode_form_makes_one_resource(client, first,
                                                                         second):
    """A string criterion is matched case- and accent-folded (`:exact` in NFC), so two
    entries whose conditions differ only so search for one resource; the second entry found
    what the first made and failed the transaction (409 "resolves to ... but its fullUrl was
    resolved to ... before")."""
    value, first_url, second_url = unique_cccd(True), urn(), urn()
    response = submit(client, transaction(
        post_entry(new_patient(value), first_url, f"{identifier_query(value)}&{first}"),
        post_entry(new_patient(value), second_url, f"{second}&{identifier_query(value)}"),
        post_entry(encounter(second_url)),
        post_entry(encounter(first_url)),
    ))
    _one_patient_made_and_named_by_both(client, response, value)


@pytest.mark.parametrize("case", ["conditional-patch-and-delete", "patch-and-conditional-delete",
                                  "both-conditional"])
def test_a_patch_of_what_a_delete_removes_is_named_twice(client, case):
    """DELETEs run first (http.html#trules), so the PATCH of the resource a DELETE removes
    failed as of nothing there, 404 "No Patient matches" (one did) or 410: the overlap, as
    for any other two entries of one resource, is what the client must hear of."""
    value = unique_cccd()
    target = created(client, new_patient(value))
    by_id, by_criteria = f"Patient/{target['id']}", f"Patient?{identifier_query(value)}"
    patch_url, delete_url = {"conditional-patch-and-delete": (by_criteria, by_id),
                             "patch-and-conditional-delete": (by_id, by_criteria),
                             "both-conditional": (by_criteria, by_criteria)}[case]
    before = history_snapshot(client)
    response = submit(client, transaction(
        patch_entry(patch_url, [{"op": "replace", "path": "/active", "value": False}]),
        delete_entry(delete_url),
    ))
    diagnostics = assert_outcome(response, 400)["issue"][0]["diagnostics"]
    assert by_id in diagnostics and "Bundle.entry[1]" in diagnostics, diagnostics
    assert history_snapshot(client) == before


def test_a_conditional_patch_of_what_an_update_by_id_writes_is_named_twice(client):
    """Updates run before patches: the PUT's new content no longer matched the PATCH's
    criteria, and the transaction failed 404 "No Patient matches", as if no such patient
    existed, instead of naming the two entries of one resource."""
    value = unique_cccd()
    target = created(client, new_patient(value))
    by_id = f"Patient/{target['id']}"
    before = history_snapshot(client)
    response = submit(client, transaction(
        patch_entry(f"Patient?{identifier_query(value)}",
                    [{"op": "replace", "path": "/active", "value": False}]),
        put_entry({"resourceType": "Patient", "id": target["id"], "active": True}),
    ))
    diagnostics = assert_outcome(response, 400)["issue"][0]["diagnostics"]
    assert by_id in diagnostics and "Bundle.entry[1]" in diagnostics, diagnostics
    assert history_snapshot(client) == before


def test_two_patches_of_one_resource_are_named_twice_even_when_the_second_cannot_apply(client):
    """Two conditional PATCHes finding one patient, the second testing what the first has
    changed: the second failed as a patch (422, its `test`), not as the overlap it is."""
    value = unique_cccd()
    target = created(client, new_patient(value))
    deactivate = [{"op": "replace", "path": "/active", "value": False}]
    before = history_snapshot(client)
    response = submit(client, transaction(
        patch_entry(f"Patient?{identifier_query(value)}", deactivate),
        patch_entry(f"Patient?_id={target['id']}",
                    [{"op": "test", "path": "/active", "value": True}, *deactivate]),
    ))
    diagnostics = assert_outcome(response, 400)["issue"][0]["diagnostics"]
    assert f"Patient/{target['id']}" in diagnostics and "Bundle.entry[0]" in diagnostics
    assert history_snapshot(client) == before
