"""`GET Provenance/{id}/$verify`: each signature of a stored Provenance checked against the
stored target version — which is tampered with here directly in MongoDB."""

import pytest
from api.helpers import assert_outcome, created, new_patient, put
from security.helpers import TEST_PERSON, fhir_client

from provenance.helpers import (
    CCCD_SYSTEM,
    assert_failed,
    assert_passed,
    provenance_of,
    signature_parts,
    verify,
    versioned,
)


@pytest.fixture
def written(client) -> tuple[dict, dict]:
    """A fresh Patient (version 1) and its Provenance."""
    patient = created(client, new_patient())
    return patient, provenance_of(client, versioned(patient))


def _set_stored(db, patient: dict, **changes) -> None:
    """Change `resource.<field>` of the stored version of `patient`, behind the server: in
    the current document, which alone holds the current version's resource."""
    fields = {f"resource.{name}": value for name, value in changes.items()}
    result = db["Patient"].update_one(
        {"_id": patient["id"], "vid": int(patient["meta"]["versionId"])}, {"$set": fields})
    assert result.modified_count == 1


def test_verify_passes_on_an_untouched_version(client, written):
    patient, provenance = written
    parameters = verify(client, provenance["id"])
    assert_passed(parameters)
    (part,) = signature_parts(parameters)
    fields = {p["name"]: p for p in part["part"] if p["name"] != "check"}
    assert fields["target"]["valueString"] == versioned(patient)
    assert fields["signerPersonalId"]["valueString"] == TEST_PERSON
    assert fields["signedAt"]["valueInstant"] == provenance["signature"][0]["when"]
    references = [p["valueReference"]["reference"] for p in parameters["parameter"]
                  if p["name"] == "provenance"]
    assert references == [f"Provenance/{provenance['id']}"]


def test_verify_passes_for_updates_and_deletes(client):
    patient = created(client, new_patient())
    updated = put(client, {**patient, "active": False})
    assert updated.status_code == 200, updated.text
    assert client.delete(f"/Patient/{patient['id']}").status_code in (200, 204)
    for vid in (1, 2, 3):
        provenance = provenance_of(client, f"Patient/{patient['id']}/_history/{vid}")
        assert_passed(verify(client, provenance["id"]))


def test_tampered_content_fails(client, db, written):
    patient, provenance = written
    _set_stored(db, patient, name=[{"family": "Trần", "given": ["Văn", "An"]}])
    assert_failed(verify(client, provenance["id"]), "signature")


def test_tampered_single_character_fails(client, db, written):
    patient, provenance = written
    _set_stored(db, patient, birthDate="1985-03-13")
    assert_failed(verify(client, provenance["id"]), "signature")


@pytest.mark.parametrize("unsigned", [
    {"meta": {"versionId": "1", "lastUpdated": "2020-01-01T00:00:00.000Z",
              "tag": [{"system": "http://example.org/tags", "code": "moved"}]}},
    {"text": {"status": "generated",
              "div": '<div xmlns="http://www.w3.org/1999/xhtml">Người khác</div>'}},
], ids=["meta", "text"])
def test_changes_to_meta_or_text_do_not_matter(client, db, written, unsigned):
    patient, provenance = written
    _set_stored(db, patient, **unsigned)
    assert_passed(verify(client, provenance["id"]))


def test_tampered_provenance_who_fails_identity(client, db, written):
    """The stored Provenance now claims another person signed: the certificate says not."""
    _, provenance = written
    someone_else = {"system": CCCD_SYSTEM, "value": "079090000001"}
    db["Provenance"].update_one({"_id": provenance["id"]},
                                {"$set": {"resource.signature.0.who.identifier": someone_else}})
    assert_failed(verify(client, provenance["id"]), "identity")


def test_provenance_moved_to_another_version_fails(client, db, written):
    """The stored Provenance now targets another resource: sigD still names the signed one."""
    patient, provenance = written
    other = created(client, new_patient())
    db["Provenance"].update_one({"_id": provenance["id"]},
                                {"$set": {"resource.target.0.reference": versioned(other)}})
    assert_failed(verify(client, provenance["id"]), "target", "signature")


def test_unknown_provenance_is_404(client):
    assert_outcome(client.get("/Provenance/no-such-provenance/$verify"), 404)


def test_verify_on_another_type_is_404(client, written):
    patient, _ = written
    assert_outcome(client.get(f"/Patient/{patient['id']}/$verify"), 404)


def test_tampered_provenance_when_fails(client, db, written):
    """The stored Provenance now tells another signing time than the one the JWS signed."""
    _, provenance = written
    db["Provenance"].update_one({"_id": provenance["id"]},
                                {"$set": {"resource.signature.0.when": "2020-01-01T00:00:00Z"}})
    assert_failed(verify(client, provenance["id"]), "format")


def test_verify_needs_read_scope_on_the_targets(server, issuer, written):
    """The report tells of the target's content (its size, whether it is intact): a token
    that may read Provenances but not Patients learns nothing of a Patient through it."""
    _, provenance = written
    with fhir_client(server.base, issuer.token("user/Provenance.rs")) as provenances_only:
        assert provenances_only.get(f"/Provenance/{provenance['id']}").status_code == 200
        response = provenances_only.get(f"/Provenance/{provenance['id']}/$verify")
    assert_outcome(response, 403)
    assert "Patient" in response.json()["issue"][0]["diagnostics"]
