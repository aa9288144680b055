"""How a transaction resolves references to its own entries (R4 bundle.html#references):
a relative `Type/id` is read against the service base of the referring entry's fullUrl when
that is a RESTful URL, else against this server's base, and then names the entry with that
fullUrl."""

from bundle_helpers import encounter, post_entry, response_bundle, submit, transaction, urn
from helpers import new_patient


def _created_ids(entries: list[dict]) -> list[str]:
    return [entry["response"]["location"].split("/_history/")[0].rsplit("/", 1)[1]
            for entry in entries]


def test_a_relative_reference_names_the_entry_with_this_servers_full_url(client, server):
    """A POST entry with fullUrl `{base}/Patient/temp` gets a new id; `Patient/temp` in an
    entry with a `urn:uuid:` fullUrl means that entry, and follows it to its new id."""
    base = server.base
    response = submit(client, transaction(
        post_entry(new_patient(), f"{base}/Patient/tam-thoi"),
        post_entry(encounter("Patient/tam-thoi"), urn()),
    ))
    patient_id, encounter_id = _created_ids(response_bundle(response, "transaction-response", 2))
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"


def test_a_relative_reference_is_read_against_the_referring_entrys_base(client):
    """Entries with fullUrls of another server's base: `Patient/p1` in one of them means the
    entry `http://other.example/fhir/Patient/p1`."""
    other = "http://benhvien-khac.example/fhir"
    response = submit(client, transaction(
        post_entry(new_patient(), f"{other}/Patient/p1"),
        post_entry(encounter("Patient/p1"), f"{other}/Encounter/e1"),
    ))
    patient_id, encounter_id = _created_ids(response_bundle(response, "transaction-response", 2))
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"
