"""A transaction writing types the database holds none of yet: each such type stops the
transaction to make its collections and indexes (which cannot be made inside one) and runs it
again. That is no write conflict, and does not count against the time conflicts are retried
for (storage/database.py `in_transaction`)."""

from bundle_helpers import post_entry, response_bundle, submit, transaction, urn

from fhir_server.storage import database as database_module


def test_types_new_to_the_database_are_no_conflict(client, monkeypatch):
    """A Synthea patient Bundle (16 types) loaded into a new data dir on a busy machine ran
    past the 30 s conflicts are retried for while its types were made, one per run, and was
    409 "kept changing by other writes" with no other writer; here, with no time at all for
    conflicts, any run after the first would be."""
    monkeypatch.setattr(database_module, "CONFLICTS_FOR_SECONDS", 0.0)
    body = urn()
    sent = transaction(
        post_entry({"resourceType": "BodyStructure", "active": True,
                    "description": "Cẳng tay trái",
                    "patient": {"reference": "Patient/khong-co"}}, body),
        post_entry({"resourceType": "Substance", "code": {"text": "Paracetamol 500 mg"}}),
        post_entry({"resourceType": "VisionPrescription", "status": "active",
                    "created": "2026-12-07", "patient": {"reference": "Patient/khong-co"},
                    "dateWritten": "2026-12-07",
                    "prescriber": {"reference": "Practitioner/khong-co"},
                    "lensSpecification": [{"product": {"text": "lens"}, "eye": "left",
                                           "sphere": 1.50}]}),
    )
    entries = response_bundle(submit(client, sent), "transaction-response", 3)
    assert [e["response"]["status"] for e in entries] == ["201 Created"] * 3
    stored = client.get(entries[2]["response"]["location"].split("/_history")[0])
    assert stored.json()["lensSpecification"][0]["sphere"] == 1.5
