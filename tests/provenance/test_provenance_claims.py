"""What a client's signed Provenance claims besides its signatures: a genuine signature
copied under other claims (another agent, a deletion, a time to come, a seal naming any
client) is refused, and posting one needs read scope on its targets."""

from datetime import UTC, datetime, timedelta

import pytest
from api.helpers import assert_outcome, created, new_patient
from security.helpers import fhir_client

from provenance.countersigning import (
    DOCTOR,
    DOCTOR_NAME,
    countersignature,
    post,
    provenance_count,
)
from provenance.helpers import CCCD_SYSTEM, SEAL_NAME, provenances_of, versioned
from signing.provenance import sign_resource


def _copied(client, patient: dict) -> dict:
    """The server's own Provenance of the patient's version, to be posted again as the
    client's: its signature is genuine."""
    [original] = provenances_of(client, f"Patient/{patient['id']}")
    return {k: v for k, v in original.items() if k not in ("id", "meta")}


@pytest.mark.parametrize("claim", ["another agent", "a deletion", "a time to come",
                                   "another agent's reference"])
def test_a_genuine_signature_copied_under_other_claims_is_refused(client, db, patient, claim,
                                                                  colleague):
    """A signature binds its signer to the version's content, not to what the Provenance
    around it says: copied into a Provenance that names another agent, a deletion that never
    happened or a recording time to come, it is refused and nothing is stored."""
    copied = _copied(client, patient)
    if claim == "another agent":
        copied["agent"][0]["who"] = {"identifier": {"system": CCCD_SYSTEM, "value": DOCTOR},
                                     "display": DOCTOR_NAME}
        expression = "Provenance.signature[0].who"
    elif claim == "a deletion":
        copied["activity"]["coding"][0].update(code="DELETE", display="delete")
        expression = "Provenance.target[0]"
    elif claim == "another agent's reference":  # the signer's ID, another's resource
        copied["agent"][0]["who"] = {**copied["agent"][0]["who"],
                                     "reference": f"Practitioner/{colleague['id']}"}
        expression = "Provenance.agent[0].who"
    else:
        copied["recorded"] = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        expression = "Provenance.recorded"
    counts = provenance_count(db)
    response = post(client, copied)
    assert_outcome(response, 422)
    assert response.json()["issue"][0]["expression"] == [expression]
    assert provenance_count(db) == counts
    assert response.json()["issue"][0]["diagnostics"]


def test_an_agent_no_signature_binds_must_be_the_poster(client, db, patient):
    """Another user re-posting a genuine signature with themselves added as its author: the
    record said they authored what only the signer signed, and it verified."""
    copied = _copied(client, patient)
    signer_agent = copied["agent"][0]
    copied["agent"] = [{"type": signer_agent["type"], "who": {
        "identifier": {"system": CCCD_SYSTEM, "value": DOCTOR}, "display": DOCTOR_NAME}},
        signer_agent]
    counts = provenance_count(db)
    response = post(client, copied)
    assert_outcome(response, 422)
    assert response.json()["issue"][0]["expression"] == ["Provenance.agent[0].who"]
    assert provenance_count(db) == counts


def test_a_deletions_signature_is_no_update(client, db):
    """The signature of a deletion copied under the activity UPDATE (or CREATE) says a
    version was written that never was: refused, as a DELETE of a written one is."""
    patient = created(client, new_patient())
    assert client.delete(f"/Patient/{patient['id']}").status_code in (200, 204)
    [deletion] = [p for p in provenances_of(client, f"Patient/{patient['id']}")
                  if p["activity"]["coding"][0]["code"] == "DELETE"]
    copied = {k: v for k, v in deletion.items() if k not in ("id", "meta")}
    copied["activity"]["coding"][0].update(code="UPDATE", display="revise")
    counts = provenance_count(db)
    response = post(client, copied)
    assert_outcome(response, 422)
    assert response.json()["issue"][0]["expression"] == ["Provenance.target[0]"]
    assert provenance_count(db) == counts


def test_a_seal_signer_is_the_organisation_or_the_client_posting(client, db, patient,
                                                                 signing_service):
    """A seal's certificate names the hospital only: `Signature.who` naming a backend client
    (as the server writes for one) is a claim only that client may make; anyone may name
    the hospital itself."""
    seal = signing_service.service.seal_signer(SEAL_NAME, "0100000000")
    target = versioned(patient)
    hospital = {"identifier": {"system": "http://fhir.hl7.org.vn/core/sid/mst",
                               "value": "0100000000"}}
    someone = {"identifier": {"system": "urn:fhir-exchange-server:client-id",
                              "value": "evil-client"}}
    counts = provenance_count(db)
    for who, status in ((someone, 422), (hospital, 201)):
        sent = countersignature(target, sign_resource(patient, target, seal,
                                                      datetime.now(UTC)))
        sent["signature"][0]["who"] = sent["agent"][0]["who"] = who
        sent["signature"][0]["onBehalfOf"] = sent["agent"][0]["onBehalfOf"] = hospital
        assert post(client, sent).status_code == status, who
    assert provenance_count(db) == (counts[0] + 1, counts[1])


def test_posting_a_signed_provenance_needs_read_scope_on_its_targets(server, issuer,
                                                                     patient, doctor):
    """Whether it verifies tells of the target (that the version exists, is the one
    signed): a token that may only create Provenances learns nothing of a Patient by it."""
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    with fhir_client(server.base, issuer.token("user/Provenance.c")) as provenance_only:
        response = post(provenance_only, sent)
    assert_outcome(response, 403)
    assert "Patient" in response.json()["issue"][0]["diagnostics"]


def test_a_recording_time_at_a_leap_second_is_read(client, db, patient):
    """R4's instant takes a leap second (`23:59:60`): a signed Provenance recorded at one,
    in the past, is stored, and one at a leap second to come is refused as any time to
    come; reading it for the check was a 500."""
    counts = provenance_count(db)
    copied = _copied(client, patient)
    copied["recorded"] = "2016-12-31T23:59:60Z"
    response = post(client, copied)
    assert response.status_code == 201, response.text
    assert response.json()["recorded"] == "2016-12-31T23:59:60Z"
    copied["recorded"] = f"{datetime.now(UTC).year + 1}-06-30T23:59:60Z"
    response = post(client, copied)
    assert_outcome(response, 422)
    assert response.json()["issue"][0]["expression"] == ["Provenance.recorded"]
    assert provenance_count(db) == (counts[0] + 1, counts[1])
