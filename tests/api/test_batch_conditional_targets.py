"""A batch's conditional writes name resources too (http://hl7.org/fhir/R4/http.html#brules:
"there SHALL be no interdependencies between the different entries in the Bundle that cause
change on the server ... Servers SHALL validate that this is the case"): two entries whose
criteria, or criteria and id, come to one resource are refused, as two naming its id are."""

import bundle_helpers as b
from helpers import CCCD, created, new_patient, search_ids, unique_cccd


def _refused(entry: dict, target: str) -> None:
    assert entry["response"]["status"] == "400 Bad Request", entry
    assert target in entry["response"]["outcome"]["issue"][0]["diagnostics"], entry


def _batch(client, *entries: dict) -> list[dict]:
    return b.response_bundle(b.submit(client, b.batch(*entries)), "batch-response", len(entries))


def test_conditional_writes_of_one_resource_in_a_batch_are_refused(client):
    """Two conditional updates of one patient ran side by side and the last to finish won
    (the response said version 2 for the entry whose content was lost); a conditional patch
    beside a delete by id alike. Another entry is answered as usual."""
    value = unique_cccd(True)
    patient = created(client, new_patient(value))
    target, criteria = f"Patient/{patient['id']}", f"Patient?{b.identifier_query(value)}"
    *refused, read = _batch(
        client,
        b.put_entry(new_patient(value, active=False), criteria),
        b.put_entry(new_patient(value, active=True), f"{criteria}&gender=male"),
        b.patch_entry(f"Patient?_id={patient['id']}",
                      [{"op": "replace", "path": "/active", "value": False}]),
        b.delete_entry(target),
        b.get_entry(target),
    )
    for entry in refused:
        _refused(entry, target)
    assert read["resource"] == patient
    assert client.get(f"/{target}").json() == patient


def test_conditional_updates_that_would_create_one_resource_in_a_batch_are_refused(client):
    """Matching nothing, the first would create the patient and the second update it, or
    the other way round: the outcome was the order they happened to run in."""
    value = unique_cccd(True)
    criteria = b.identifier_query(value)
    encoded = f"Patient?identifier={CCCD.replace(':', '%3A')}%7C{value}"
    for entry in _batch(client,
                        b.put_entry(new_patient(value, gender="male"), f"Patient?{criteria}"),
                        b.put_entry(new_patient(value, gender="female"), encoded)):
        _refused(entry, f"Patient?{criteria}")
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []


def test_a_conditional_create_beside_a_conditional_update_of_it_is_refused(client):
    """Which of the two bodies the patient kept was the order they ran in; conditional
    creates alone still meet, the first making the patient and the others finding it."""
    value = unique_cccd(True)
    criteria = b.identifier_query(value)
    for entry in _batch(client,
                        b.post_entry(new_patient(value, gender="male"), if_none_exist=criteria),
                        b.put_entry(new_patient(value, gender="female"), f"Patient?{criteria}")):
        _refused(entry, f"Patient?{criteria}")
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []
    made = _batch(client, *(b.post_entry(new_patient(value), if_none_exist=criteria)
                            for _ in range(2)))
    statuses = sorted(entry["response"]["status"] for entry in made)
    assert statuses == ["200 OK", "201 Created"], made


def test_conditional_updates_by_spellings_of_one_identifier_in_a_batch_are_refused(client):
    """The two VN Core guides' systems of one CCCD, and a BHYT card beside its holder's BHXH
    code, find the same patients (README, Vietnamese identifiers): matching nothing, the
    first created the patient and the second overwrote it (probe DX)."""
    value = unique_cccd(True)
    code = value[-10:]
    moh_cccd = "http://fhir.ehealth.gov.vn/core/sid/national_id"
    bhyt, bhxh = "http://fhir.hl7.org.vn/core/sid/bhyt", "http://fhir.hl7.org.vn/core/sid/bhxh"
    for (one, first), (other, second), found in (
            ((CCCD, value), (moh_cccd, value), f"{CCCD}|{value}"),
            ((bhyt, f"HT301{code}"), (bhxh, code), f"{bhxh}|{code}")):
        entries = _batch(client, *(
            b.put_entry(new_patient(written, system=system, gender=gender),
                        f"Patient?identifier={system}|{written}")
            for system, written, gender in ((one, first, "male"), (other, second, "female"))))
        for entry in entries:
            _refused(entry, f"Patient?identifier={found}")
        assert search_ids(client, "Patient", identifier=found) == []
