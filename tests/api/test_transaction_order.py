"""A transaction's outcome does not depend on the order of its entries (http.html#trules:
"SHALL NOT depend on the order of the resources in the transaction"): DELETE, POST,
PUT/PATCH, GET; within a step plain creates before conditional ones and entries with
conditional references last, and identities resolved before the transaction checked again
when written. The criteria of a conditional reference may name entries; a condition of
another method than its entry's is refused."""

import re

import pytest
from bundle_helpers import (
    encounter,
    history_snapshot,
    identifier_query,
    post_entry,
    put_entry,
    response_bundle,
    submit,
    transaction,
)
from helpers import CCCD, assert_outcome, created, new_patient, search_ids, unique_cccd


def _patients_with(client, value: str) -> list[str]:
    return search_ids(client, "Patient", identifier=f"{CCCD}|{value}")


def _in_order(first: dict, second: dict, reverse: bool) -> dict:
    return transaction(*((second, first) if reverse else (first, second)))


@pytest.mark.parametrize("reverse", [False, True])
def test_a_conditional_update_matching_a_create_of_the_transaction_fails(client, reverse):
    """POSTs come before PUTs: the PUT's criteria then match what the POST made, two
    entries for one resource, which "SHALL fail" (it made two patients)."""
    value = unique_cccd()
    before = history_snapshot(client)
    response = submit(client, _in_order(
        post_entry(new_patient(value)),
        put_entry(new_patient(value), f"Patient?{identifier_query(value)}"), reverse))
    assert_outcome(response, 400)
    assert _patients_with(client, value) == []
    assert history_snapshot(client) == before


@pytest.mark.parametrize("reverse", [False, True])
def test_a_conditional_create_finds_a_create_of_the_transaction(client, reverse):
    """Plain creates run before conditional ones: the conditional create matches the
    patient the other entry makes, whichever comes first (it made two, or failed)."""
    value = unique_cccd()
    response = submit(client, _in_order(
        post_entry(new_patient(value)),
        post_entry(new_patient(value), if_none_exist=identifier_query(value)), reverse))
    entries = response_bundle(response, "transaction-response", 2)
    plain, conditional = (entries[1], entries[0]) if reverse else entries
    assert plain["response"]["status"] == "201 Created"
    assert conditional["response"]["status"] == "200 OK"
    assert conditional["response"]["location"] == plain["response"]["location"]
    assert len(_patients_with(client, value)) == 1


@pytest.mark.parametrize("reverse", [False, True])
def test_a_conditional_reference_finds_a_create_of_the_transaction(client, reverse):
    """Entries with conditional references are written after the others of their step,
    so `Patient?identifier=...` finds the patient created beside it (404 when the
    encounter came first)."""
    value = unique_cccd()
    response = submit(client, _in_order(
        post_entry(new_patient(value)),
        post_entry(encounter(f"Patient?{identifier_query(value)}")), reverse))
    entries = response_bundle(response, "transaction-response", 2)
    patient, visit = (entries[1], entries[0]) if reverse else entries
    [patient_id] = _patients_with(client, value)
    assert f"/Patient/{patient_id}/_history/1" in patient["response"]["location"]
    assert visit["resource"]["subject"]["reference"] == f"Patient/{patient_id}"


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("writing", ["conditional-create", "put"])
def test_a_conditional_reference_is_resolved_after_the_writes(client, reverse, writing):
    """"Resolve any conditional references" is the last step: a patient made by a
    conditional create or by a PUT is found whichever entry comes first (404 before)."""
    value = unique_cccd()
    patient = {**new_patient(value), "id": f"p-{value}"}
    write = (post_entry(new_patient(value), if_none_exist=identifier_query(value))
             if writing == "conditional-create" else put_entry(patient))
    response = submit(client, _in_order(
        write, post_entry(encounter(f"Patient?{identifier_query(value)}")), reverse))
    entries = response_bundle(response, "transaction-response", 2)
    visit = entries[0] if reverse else entries[1]
    [patient_id] = _patients_with(client, value)
    assert visit["resource"]["subject"]["reference"] == f"Patient/{patient_id}"


@pytest.mark.parametrize("reverse", [False, True])
def test_a_conditional_reference_may_name_an_entry_in_its_criteria(client, reverse):
    """`Encounter?subject=urn:uuid:...` names the patient the transaction creates: the
    criteria are read with the entry's id, as those of ifNoneExist are (a false 404 "No
    Encounter matches")."""
    value = unique_cccd()
    patient_url, encounter_url = "urn:uuid:5f0e6c1e-0000-4000-8000-000000000001", (
        "urn:uuid:5f0e6c1e-0000-4000-8000-000000000002")
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "Mạch"},
                   "subject": {"reference": patient_url},
                   "encounter": {"reference": f"Encounter?subject={patient_url}"}}
    entries = [post_entry(new_patient(value), patient_url),
               post_entry(encounter(patient_url), encounter_url)]
    body = transaction(*(entries[::-1] if reverse else entries), post_entry(observation))
    made = dict(re.search(r"(\w+)/([^/]+)/_history/", e["response"]["location"]).groups()
                for e in response_bundle(submit(client, body), "transaction-response", 3))
    stored = client.get(f"/Observation/{made['Observation']}").json()
    assert stored["encounter"] == {"reference": f"Encounter/{made['Encounter']}"}, stored


@pytest.mark.parametrize(("method", "condition"), [("PUT", "ifNoneExist"),
                                                   ("POST", "ifMatch"), ("GET", "ifMatch")])
def test_a_condition_of_another_method_is_refused_not_ignored(client, method, condition):
    """bundle.html: ifNoneExist is a create's, ifMatch an update's, patch's or delete's.
    Ignored, a PUT with ifNoneExist meant as "create unless it exists" overwrote."""
    mine = created(client, new_patient(value := unique_cccd()))
    before = history_snapshot(client)
    entry = (put_entry({**mine, "gender": "female"}, f"Patient/{mine['id']}")
             if method == "PUT" else post_entry(new_patient(unique_cccd())) if method == "POST"
             else {"request": {"method": "GET", "url": f"Patient/{mine['id']}"}})
    entry["request"][condition] = (f"identifier={CCCD}|{value}" if condition == "ifNoneExist"
                                   else 'W/"1"')
    response = submit(client, transaction(entry))
    outcome = assert_outcome(response, 400)
    assert outcome["issue"][0]["expression"] == [f"Bundle.entry[0].request.{condition}"]
    assert history_snapshot(client) == before


def test_a_failing_entry_is_named_once_and_by_a_path_of_the_bundle(client):
    """A bad search value of a GET entry points at the entry's request url
    (`Bundle.entry[0].birthdate` was no path of the Bundle), and the message names the
    entry once."""
    response = submit(client, transaction(
        {"request": {"method": "GET", "url": "Patient?birthdate=not-a-date"}}))
    issue = assert_outcome(response, 400)["issue"][0]
    assert issue["expression"] == ["Bundle.entry[0].request.url"], issue
    assert issue["diagnostics"].count("Bundle.entry[0]") == 1, issue
