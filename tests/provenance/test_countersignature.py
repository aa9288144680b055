"""A client POSTs a Provenance carrying its own signature over a stored version (a doctor
countersigning): stored only when every signature passes, else 422 naming the failed
checks and nothing stored — in a transaction, nothing of the whole transaction."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, created, new_patient, put, search_ids
from fhir.resources.R4B.provenance import Provenance
from security.helpers import bundle, personal_id, post_entry, put_entry

from provenance.countersigning import (
    DOCTOR,
    DOCTOR_NAME,
    countersignature,
    post,
    provenance_count,
)
from provenance.helpers import (
    CCCD_SYSTEM,
    SEAL_NAME,
    assert_passed,
    provenances_of,
    search,
    verify,
    versioned,
)
from signing.canonical import signed_content
from signing.dev_ca import DevCertificateAuthority
from signing.jws import encode_header, signing_input
from signing.keys import LocalSigner
from signing.provenance import build_signature_header, sign_resource


def forged(resource: dict, target: str, signer: LocalSigner, edit=None,
           signature: bytes | None = None) -> str:
    """Signature.data over `resource` as `target` with the header changed by `edit(header)`,
    signed by `signer` (or carrying `signature`)."""
    header = build_signature_header(target, signer.chain, signer.kid, signer.alg,
                                    datetime.now(UTC))
    if edit is not None:
        edit(header)
    header_b64 = encode_header(header)
    if signature is None:
        signature = signer.sign(signing_input(header_b64, signed_content(resource)))
    encoded = base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")
    return base64.b64encode(f"{header_b64}..{encoded}".encode("ascii")).decode("ascii")


def test_valid_countersignature_is_stored(client, db, patient, doctor):
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    Provenance.model_validate(sent)
    before = len(provenances_of(client, f"Patient/{patient['id']}"))
    counts = provenance_count(db)
    response = post(client, sent)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["signature"] == sent["signature"]
    assert len(provenances_of(client, f"Patient/{patient['id']}")) == before + 1
    # Exactly the client's Provenance: it gets no Provenance of its own (and, having one
    # version only, no history document).
    assert provenance_count(db) == (counts[0] + 1, counts[1])
    assert search(client, "Provenance", target=f"Provenance/{stored['id']}") == []
    assert_passed(verify(client, stored["id"]))


def test_second_signature_on_the_same_version_by_another_person(client, patient, authority,
                                                                 doctor):
    target = versioned(patient)
    nurse_id = personal_id(1995, female=True)
    nurse = authority.new_signer("Đỗ Thu Hà", nurse_id)
    sent = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    second = countersignature(target, sign_resource(patient, target, nurse, datetime.now(UTC)),
                              who=nurse_id)
    sent["signature"] += second["signature"]
    # Each signer must be an agent (R4 Provenance.signature: "The signer should match a
    # Provenance.agent"): the nurse's signature alone names nobody the Provenance lists.
    response = post(client, sent)
    assert_outcome(response, 422)
    assert response.json()["issue"][0]["expression"] == ["Provenance.signature[1].who"]
    sent["agent"] += second["agent"]
    response = post(client, sent)
    assert response.status_code == 201, response.text
    assert_passed(verify(client, response.json()["id"]))


def _content_differs(patient, target, doctor, authority):
    return countersignature(target, sign_resource({**patient, "gender": "female"}, target,
                                                  doctor, datetime.now(UTC)))


def _wrong_identity(patient, target, doctor, authority):
    return countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)),
                            who=personal_id(1980))


def _expired_certificate(patient, target, doctor, authority):
    long_ago = datetime.now(UTC) - timedelta(days=3 * 365)
    expired = authority.new_signer(DOCTOR_NAME, DOCTOR, not_before=long_ago,
                                   lifetime=timedelta(days=30))
    return countersignature(target, sign_resource(patient, target, expired, datetime.now(UTC)))


def _untrusted_ca(patient, target, doctor, authority):
    stranger = DevCertificateAuthority.create().new_signer(DOCTOR_NAME, DOCTOR)
    return countersignature(target, sign_resource(patient, target, stranger, datetime.now(UTC)))


def _alg_none(patient, target, doctor, authority):
    return countersignature(target, forged(patient, target, doctor,
                                           edit=lambda h: h.update(alg="none"), signature=b""))


def _unknown_crit(patient, target, doctor, authority):
    def edit(header):
        header["crit"] = [*header["crit"], "x-benh-vien"]
        header["x-benh-vien"] = "Bạch Mai"
    return countersignature(target, forged(patient, target, doctor, edit=edit))


def _sigd_other_target(patient, target, doctor, authority):
    other = target.replace("/_history/1", "/_history/7")
    return countersignature(target, forged(
        patient, target, doctor, edit=lambda h: h["sigD"].update(pars=[other])))


REFUSED = {
    "content-differs": (_content_differs, "signature"),
    "wrong-identity": (_wrong_identity, "identity"),
    "expired-certificate": (_expired_certificate, "validity-at-signing-time"),
    "untrusted-ca": (_untrusted_ca, "chain"),  # INDETERMINATE: trust not established
    "alg-none": (_alg_none, "algorithm"),
    "unknown-crit": (_unknown_crit, "crit"),
    "sigd-other-target": (_sigd_other_target, "target"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_failing_countersignature_is_refused_and_not_stored(client, db, patient, doctor,
                                                            authority, case):
    make, failed_check = REFUSED[case]
    sent = make(patient, versioned(patient), doctor, authority)
    counts = provenance_count(db)
    outcome = assert_outcome(post(client, sent), 422)
    diagnostics = " ".join(issue.get("diagnostics", "") for issue in outcome["issue"])
    assert f"{failed_check}:" in diagnostics, outcome
    expected = "INDETERMINATE" if case == "untrusted-ca" else "TOTAL-FAILED"
    assert f"({expected})" in diagnostics, outcome
    assert provenance_count(db) == counts


def _signer_no_agent(patient, target, doctor, authority):
    """A genuine signature, while the Provenance's one agent is someone else."""
    sent = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    sent["agent"][0]["who"] = {"identifier": {"system": CCCD_SYSTEM, "value": personal_id(1981)}}
    return sent


def _validation_errors(client, sent: dict, query: str) -> list[dict]:
    checked = client.post(f"/Provenance/$validate{query}", json=sent, headers=FHIR_HEADERS)
    assert checked.status_code == 200, checked.text
    return [issue for issue in checked.json()["issue"] if issue["severity"] == "error"]


@pytest.mark.parametrize("make", [REFUSED["content-differs"][0], REFUSED["untrusted-ca"][0],
                                  REFUSED["sigd-other-target"][0], _signer_no_agent])
def test_validate_reports_what_the_create_refuses_a_countersignature_for(client, db, patient,
                                                                         doctor, authority,
                                                                         make):
    """`$validate` checks the resource "as a write would check it" (README): with mode
    `create`, or none, the issues of the create's 422, as errors, and nothing stored
    (probe CH: "No issues detected", then the create was refused)."""
    sent = make(patient, versioned(patient), doctor, authority)
    counts = provenance_count(db)
    for query in ("?mode=create", ""):
        assert _validation_errors(client, sent, query), query
    assert provenance_count(db) == counts
    refused = assert_outcome(post(client, sent), 422)["issue"]
    for query in ("?mode=create", ""):
        assert _validation_errors(client, sent, query) == refused, query


def test_validate_passes_a_countersignature_the_create_stores(client, db, patient, doctor):
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    counts = provenance_count(db)
    assert _validation_errors(client, sent, "?mode=create") == []
    assert provenance_count(db) == counts
    assert post(client, sent).status_code == 201


def test_signature_over_a_version_not_stored_is_refused(client, db, patient, doctor):
    """Signed as version 2, which does not exist (yet)."""
    target = f"Patient/{patient['id']}/_history/2"
    counts = provenance_count(db)
    unversioned = {k: v for k, v in patient.items() if k != "meta"}
    sent = countersignature(target, sign_resource(unversioned, target, doctor,
                                                  datetime.now(UTC)))
    assert_outcome(post(client, sent), 422)
    assert provenance_count(db) == counts


def test_one_bad_signature_of_two_refuses_all(client, db, patient, doctor, authority):
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    sent["signature"].append(_untrusted_ca(patient, target, doctor, authority)["signature"][0])
    counts = provenance_count(db)
    outcome = assert_outcome(post(client, sent), 422)
    expressions = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
    assert "Provenance.signature[1]" in expressions, outcome
    assert "Provenance.signature[0]" not in expressions, outcome
    assert provenance_count(db) == counts


def test_a_countersignature_listing_a_target_it_does_not_sign_is_refused(client, db, patient,
                                                                        doctor):
    """The doctor signed the patient's version only; the Provenance also lists another
    patient's version: stored, it would pass as the doctor's signature over both."""
    other = created(client, new_patient())
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    sent["target"].append({"reference": versioned(other)})
    counts = provenance_count(db)
    outcome = assert_outcome(post(client, sent), 422)
    assert versioned(other) in outcome["issue"][0]["diagnostics"], outcome
    assert provenance_count(db) == counts


def test_a_stored_countersignature_cannot_be_replaced(client, db, patient, doctor):
    """Provenance is append-only: not even a failing signature gets as far as being checked."""
    target = versioned(patient)
    good = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    response = post(client, good)
    assert response.status_code == 201, response.text
    stored = response.json()
    counts = provenance_count(db)
    tampered = {**stored, "signature": _content_differs(patient, target, doctor,
                                                        None)["signature"]}
    assert_outcome(put(client, tampered), 405)
    assert provenance_count(db) == counts
    assert client.get(f"/Provenance/{stored['id']}").json()["meta"]["versionId"] == "1"


def test_failing_countersignature_rolls_back_the_transaction(client, db, patient, doctor,
                                                            authority):
    target = versioned(patient)
    marker = personal_id(2002)
    entries = [
        post_entry(new_patient(marker)),
        put_entry({**patient, "active": False}),
        post_entry(_untrusted_ca(patient, target, doctor, authority)),
    ]
    counts = provenance_count(db)
    response = client.post("", json=bundle("transaction", *entries), headers=FHIR_HEADERS)
    assert_outcome(response, 422)
    assert provenance_count(db) == counts
    assert search_ids(client, "Patient", identifier=f"{CCCD_SYSTEM}|{marker}") == []
    assert client.get(f"/Patient/{patient['id']}").json()["meta"]["versionId"] == "1"
    assert db["Patient_history"].count_documents({"id": patient["id"]}) == 1


def test_valid_countersignature_in_a_transaction_is_stored(client, db, patient, doctor):
    target = versioned(patient)
    marker = personal_id(2003)
    signed = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    entries = [post_entry(new_patient(marker)), post_entry(signed)]
    response = client.post("", json=bundle("transaction", *entries), headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    (new_id,) = search_ids(client, "Patient", identifier=f"{CCCD_SYSTEM}|{marker}")
    # The new Patient gets the server's Provenance, the client's Provenance none.
    assert len(provenances_of(client, f"Patient/{new_id}")) == 1
    assert len(provenances_of(client, f"Patient/{patient['id']}")) == 2


def test_seal_of_the_hospital_countersigns(client, patient, signing_service):
    """An organisation seal (UID=MST) signing, with the hospital in signature.who."""
    seal = signing_service.service.seal_signer(SEAL_NAME, "0100000000")
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, seal, datetime.now(UTC)))
    hospital = {"identifier": {"system": "http://fhir.hl7.org.vn/core/sid/mst",
                               "value": "0100000000"}, "display": SEAL_NAME}
    sent["signature"][0]["who"] = sent["agent"][0]["who"] = hospital
    response = post(client, sent)
    assert response.status_code == 201, response.text
    assert_passed(verify(client, response.json()["id"]))


def test_seal_of_another_organisation_is_refused(client, db, patient, authority):
    """A trusted seal, but of tax code 0200000000, while the Provenance says 0100000000."""
    other = authority.new_seal_signer("Bệnh viện Khác", "0200000000")
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, other, datetime.now(UTC)))
    hospital = {"identifier": {"system": "http://fhir.hl7.org.vn/core/sid/mst",
                               "value": "0100000000"}}
    sent["signature"][0]["who"] = sent["agent"][0]["who"] = hospital
    counts = provenance_count(db)
    outcome = assert_outcome(post(client, sent), 422)
    assert "identity:" in " ".join(i.get("diagnostics", "") for i in outcome["issue"]), outcome
    assert provenance_count(db) == counts


def test_who_referencing_another_person_is_refused(client, db, patient, doctor):
    """Doctor A's certificate, while signature.who points at Practitioner B (whose personal ID
    is another one): the signature would be attributed to B. The identity check must bind
    the certificate to the person `signature.who` designates, by reference too."""
    colleague = personal_id(1966)
    practitioner = created(client, {
        "resourceType": "Practitioner",
        "identifier": [{"system": CCCD_SYSTEM, "value": colleague}],
        "name": [{"family": "Vũ", "given": ["Quang", "Huy"]}]})
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    by_reference = {"reference": f"Practitioner/{practitioner['id']}"}
    sent["signature"][0]["who"] = sent["agent"][0]["who"] = by_reference
    counts = provenance_count(db)
    assert_outcome(post(client, sent), 422)
    assert provenance_count(db) == counts


@pytest.mark.parametrize("form", ["versioned", "absolute"])
def test_who_referencing_another_person_in_any_form_is_refused(server, client, db, patient,
                                                               doctor, colleague, form):
    """The doctor's certificate and personal ID, with `signature.who` referencing a colleague
    as `Practitioner/{id}/_history/1` or by this server's absolute URL: the signature would be
    attributed to the colleague however the reference is written."""
    reference = {"versioned": f"Practitioner/{colleague['id']}/_history/1",
                 "absolute": f"{server.base}/Practitioner/{colleague['id']}"}[form]
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, doctor, datetime.now(UTC)))
    who = {"reference": reference, "identifier": {"system": CCCD_SYSTEM, "value": DOCTOR}}
    sent["signature"][0]["who"] = sent["agent"][0]["who"] = who
    counts = provenance_count(db)
    outcome = assert_outcome(post(client, sent), 422)
    assert "signature[0].who references" in outcome["issue"][0]["diagnostics"], outcome
    assert provenance_count(db) == counts


def test_who_referencing_the_signers_own_practitioner_passes_relatively_only(
        server, client, patient, doctor):
    """A relative reference, in any version that carries the signer's ID, resolves here; an
    absolute one is refused whatever server it names: `http://another.example/fhir/
    Practitioner/{id}` was checked against the Practitioner with that id here."""
    practitioner = created(client, {"resourceType": "Practitioner",
                                    "identifier": [{"system": CCCD_SYSTEM, "value": DOCTOR}]})
    target = versioned(patient)
    for reference, status in ((f"Practitioner/{practitioner['id']}/_history/1", 201),
                              (f"Practitioner/{practitioner['id']}", 201),
                              (f"{server.base}/Practitioner/{practitioner['id']}", 422),
                              (f"http://another.example/fhir/Practitioner/{practitioner['id']}",
                               422)):
        sent = countersignature(target, sign_resource(patient, target, doctor,
                                                      datetime.now(UTC)))
        sent["signature"][0]["who"]["reference"] = reference
        sent["agent"][0]["who"]["reference"] = reference
        assert post(client, sent).status_code == status, reference


def test_seal_signature_cannot_name_a_person_as_its_signer(client, db, patient, colleague,
                                                           signing_service):
    """The hospital's seal signed the version (e.g. copied from the Provenance of a backend
    client's write), while `signature.who` references a practitioner: the seal binds the
    hospital's tax code, not that person, so the Provenance is refused."""
    seal = signing_service.service.seal_signer(SEAL_NAME, "0100000000")
    target = versioned(patient)
    sent = countersignature(target, sign_resource(patient, target, seal, datetime.now(UTC)))
    hospital = {"identifier": {"system": "http://fhir.hl7.org.vn/core/sid/mst",
                               "value": "0100000000"}}
    practitioner = {"reference": f"Practitioner/{colleague['id']}"}
    sent["signature"][0]["who"] = sent["agent"][0]["who"] = practitioner
    sent["signature"][0]["onBehalfOf"] = sent["agent"][0]["onBehalfOf"] = hospital
    counts = provenance_count(db)
    outcome = assert_outcome(post(client, sent), 422)
    assert "signature[0].who references" in outcome["issue"][0]["diagnostics"], outcome
    assert provenance_count(db) == counts
