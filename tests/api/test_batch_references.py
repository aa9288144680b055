"""A batch entry referring to another entry (http://hl7.org/fhir/R4/http.html#brules: "there
SHALL be no interdependencies between the different entries ... Servers SHALL validate that
this is the case"), by the fullUrl bundle.html#references resolves it to."""

import uuid

import pytest
from bundle_helpers import batch, encounter, post_entry, put_entry, response_bundle, submit, urn
from helpers import new_patient, search_ids, unique_cccd


@pytest.mark.parametrize("written", ["relative", "absolute", "version"])
def test_an_entry_referring_to_a_create_by_its_restful_full_url_fails_alone(
        client, server, written):
    """A create is given an id of the server's, so a batch entry naming another's RESTful
    fullUrl (`[base]/Patient/p1`, `Patient/p1` read against the base, or a version of it)
    depends on it as on a `urn:` one: 400 alone. It was stored naming `Patient/p1`, which
    the Patient created was not, and maybe another patient's id."""
    patient_id = f"p{uuid.uuid4().hex[:12]}"
    full_url = f"{server.base}/Patient/{patient_id}"
    reference = {"relative": f"Patient/{patient_id}", "absolute": full_url,
                 "version": f"Patient/{patient_id}/_history/1"}[written]
    entries = (post_entry({**new_patient(unique_cccd()), "id": patient_id}, full_url=full_url),
               post_entry(encounter(reference), full_url=urn()))
    first, second = response_bundle(submit(client, batch(*entries)), "batch-response", 2)
    assert first["response"]["status"].startswith("201"), first
    assert second["response"]["status"] == "400 Bad Request", second
    assert "another entry of the batch" in second["response"]["outcome"]["issue"][0][
        "diagnostics"]
    assert "resource" not in second
    assert search_ids(client, "Encounter", subject=f"Patient/{patient_id}") == []


def test_an_entry_referring_to_an_update_by_its_full_url_is_written(client, server):
    """An update keeps its id: a reference to its fullUrl names what it writes, whichever
    entry runs first."""
    patient_id = f"p{uuid.uuid4().hex[:12]}"
    full_url = f"{server.base}/Patient/{patient_id}"
    entries = (put_entry({**new_patient(unique_cccd()), "id": patient_id}, full_url=full_url),
               post_entry(encounter(f"Patient/{patient_id}"), full_url=urn()))
    put, linked = response_bundle(submit(client, batch(*entries)), "batch-response", 2)
    assert put["response"]["status"].startswith("201"), put
    assert linked["response"]["status"].startswith("201"), linked
    assert len(search_ids(client, "Encounter", subject=f"Patient/{patient_id}")) == 1


def test_a_reference_to_another_servers_url_of_a_create_names_the_resource_there(client):
    """A create sent with another server's URL as its fullUrl (a copy of its resource): a
    reference to that URL names the resource there, and is written as sent."""
    other = f"https://benhvien.example/fhir/Patient/p{uuid.uuid4().hex[:12]}"
    entries = (post_entry(new_patient(unique_cccd()), full_url=other),
               post_entry(encounter(other), full_url=urn()))
    answers = response_bundle(submit(client, batch(*entries)), "batch-response", 2)
    assert all(entry["response"]["status"].startswith("201") for entry in answers), answers
    assert len(search_ids(client, "Encounter", subject=other)) == 1
