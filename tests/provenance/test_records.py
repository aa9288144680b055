"""Every create, update, patch and delete through the API leaves exactly one Provenance of
the version written, shaped as README "Signature contract" says, with a signature that an
independent JOSE library (joserfc) verifies over RFC 8785 bytes computed here."""

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime

import pytest
from api.helpers import assert_outcome, create, created, new_patient, patch, put
from cryptography.hazmat.primitives import serialization
from fhir.resources.R4B.provenance import Provenance
from joserfc.errors import BadSignatureError
from security.helpers import (
    TEST_AUDIENCE,
    TEST_ISSUER,
    TEST_PERSON,
    fhir_client,
    personal_id,
)

from fhir_server.auth.keys import mint_token
from provenance.helpers import (
    CCCD_SYSTEM,
    DATA_OPERATION,
    MST_SYSTEM,
    PARTICIPANT_TYPE,
    SIGD_MECHANISM,
    SIGNATURE_TYPE,
    TARGET_FORMAT,
    TAX_CODE,
    TOKEN_NAME,
    assert_chains_to,
    assert_signing_key_usage,
    is_p256,
    joserfc_verify,
    jws_header,
    leaf_certificate,
    leaf_jwk,
    load_anchor,
    provenance_of,
    provenances_of,
    public_key_bytes,
    sig_time,
    subject_attributes,
    versioned,
    x5c_chain,
)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def lifecycle(client, db) -> dict:
    """One Patient created, updated (PUT), patched and deleted by TEST_PERSON: the four
    versions (the deleted one as {"resourceType", "id", "lastUpdated"} from the history)."""
    v1 = created(client, new_patient())
    v2 = put(client, {**v1, "gender": "other"})
    assert v2.status_code == 200, v2.text
    v3 = patch(client, f"/Patient/{v1['id']}",
               [{"op": "replace", "path": "/birthDate", "value": "1986-01-02"}],
               Prefer="return=representation")
    assert v3.status_code == 200, v3.text
    deleted = client.delete(f"/Patient/{v1['id']}")
    assert deleted.status_code in (200, 204), deleted.text
    stored = db["Patient_history"].find_one({"id": v1["id"], "vid": 4})
    assert stored is not None and stored["deleted"]
    v4 = {"resourceType": "Patient", "id": v1["id"],
          "lastUpdated": stored["lastUpdated"].replace(tzinfo=UTC)}
    return {1: v1, 2: v2.json(), 3: v3.json(), 4: v4}


ACTIVITIES = {1: "CREATE", 2: "UPDATE", 3: "UPDATE", 4: "DELETE"}


def test_each_write_has_exactly_one_provenance(client, lifecycle):
    patient_id = lifecycle[1]["id"]
    provenances = provenances_of(client, f"Patient/{patient_id}")
    targets = sorted(t["reference"] for p in provenances for t in p["target"])
    assert targets == [f"Patient/{patient_id}/_history/{n}" for n in (1, 2, 3, 4)]
    assert len(provenances) == 4


@pytest.mark.parametrize("vid", [1, 2, 3, 4])
def test_provenance_records_the_version_and_the_caller(client, lifecycle, vid):
    version = lifecycle[vid]
    target = f"Patient/{version['id']}/_history/{vid}"
    provenance = provenance_of(client, target)
    Provenance.model_validate(provenance)  # a valid R4(B) Provenance
    assert provenance["target"] == [{"reference": target}]
    last_updated = (version["lastUpdated"] if vid == 4
                    else _instant(version["meta"]["lastUpdated"]))
    assert _instant(provenance["recorded"]) == last_updated
    (coding,) = provenance["activity"]["coding"]
    assert (coding["system"], coding["code"]) == (DATA_OPERATION, ACTIVITIES[vid])

    (agent,) = provenance["agent"]
    assert agent["type"]["coding"][0]["system"] == PARTICIPANT_TYPE
    assert agent["type"]["coding"][0]["code"] == "author"
    person = {"system": CCCD_SYSTEM, "value": TEST_PERSON}
    assert agent["who"]["identifier"] == person
    assert agent["who"]["display"] == TOKEN_NAME
    assert "reference" not in agent["who"]  # no Practitioner or Patient carries that ID
    assert agent["onBehalfOf"]["identifier"] == {"system": MST_SYSTEM, "value": TAX_CODE}

    (signature,) = provenance["signature"]
    assert [{k: c[k] for k in ("system", "code")} for c in signature["type"]] == [SIGNATURE_TYPE]
    assert signature["who"] == agent["who"]
    assert signature["onBehalfOf"] == agent["onBehalfOf"]
    assert signature["sigFormat"] == "application/jose"
    assert signature["targetFormat"] == TARGET_FORMAT
    header = jws_header(signature)
    assert signature["when"].endswith("Z")
    assert _instant(signature["when"]) == sig_time(header)


@pytest.mark.parametrize("vid", [1, 2, 3, 4])
def test_signature_verifies_with_joserfc_over_rfc8785_bytes(client, lifecycle,
                                                            signing_service, vid):
    version = lifecycle[vid]
    target = f"Patient/{version['id']}/_history/{vid}"
    (signature,) = provenance_of(client, target)["signature"]
    # A deletion signs a resource of the type with no content (README "Deletes").
    content = {"resourceType": "Patient"} if vid == 4 else version
    header = joserfc_verify(signature, content)
    assert header["alg"] in ("ES256", "PS256", "RS256")
    assert header["b64"] is False
    assert sorted(header["crit"]) == ["b64", "sigD", "sigT"]
    assert header["sigD"] == {"mId": SIGD_MECHANISM, "pars": [target],
                              "ctys": ["application/fhir+json"]}
    chain = x5c_chain(header)
    assert_chains_to(chain, load_anchor(signing_service.anchor_path), sig_time(header))
    leaf = chain[0]
    assert header["kid"] == leaf_jwk(signature).thumbprint()  # RFC 7638
    leaf_der = leaf.public_bytes(serialization.Encoding.DER)
    assert header["x5t#S256"] == base64.urlsafe_b64encode(
        hashlib.sha256(leaf_der).digest()).rstrip(b"=").decode()
    assert subject_attributes(leaf) == ([TOKEN_NAME], [f"CCCD:{TEST_PERSON}"])
    assert_signing_key_usage(leaf)
    assert is_p256(leaf) and header["alg"] == "ES256"
    # Content bound: the version before (or after) does not verify under this signature.
    other = lifecycle[vid - 1] if vid > 1 else lifecycle[2]
    with pytest.raises(BadSignatureError):
        joserfc_verify(signature, other)


def test_one_provenance_per_stored_version_whatever_the_interaction(client, db):
    """Conditional create that finds a match, an identical PUT, a conditional update, an
    update-as-create and a second delete: Provenances exactly for the versions stored."""
    value = personal_id(1988)
    query = f"identifier={CCCD_SYSTEM}|{value}"
    first = created(client, new_patient(value))
    assert create(client, new_patient(value), **{"If-None-Exist": query}).status_code == 200
    assert put(client, first).status_code == 200
    response = client.put(f"/Patient?{query}", headers={"Content-Type": "application/fhir+json"},
                          json=new_patient(value, gender="female"))
    assert response.status_code == 200, response.text
    own_id = f"tu-dat-{uuid.uuid4().hex[:8]}"
    assert put(client, new_patient(id=own_id)).status_code == 201
    for _ in range(2):
        assert client.delete(f"/Patient/{first['id']}").status_code in (200, 204)
    for resource_id in (first["id"], own_id):
        stored = sorted(f"Patient/{resource_id}/_history/{d['vid']}"
                        for d in db["Patient_history"].find({"id": resource_id}))
        provenances = provenances_of(client, f"Patient/{resource_id}")
        assert sorted(t["reference"] for p in provenances for t in p["target"]) == stored
    (created_by_put,) = provenances_of(client, f"Patient/{own_id}")
    assert created_by_put["activity"]["coding"][0]["code"] == "CREATE"


def test_persons_sign_with_their_own_certificates(client, person_client):
    other_person = personal_id(1990, female=True)
    mine = [created(client, new_patient()) for _ in range(2)]
    theirs = created(person_client(other_person), new_patient())
    leaves = [leaf_certificate(provenance_of(client, versioned(r))["signature"][0])
              for r in [*mine, theirs]]
    assert leaves[0] == leaves[1]  # the same person: the same certificate
    assert leaves[2] != leaves[0]
    assert public_key_bytes(leaves[2]) != public_key_bytes(leaves[0])
    assert subject_attributes(leaves[2])[1] == [f"CCCD:{other_person}"]
    assert subject_attributes(leaves[0])[1] == [f"CCCD:{TEST_PERSON}"]


def test_token_without_a_name(server, client, issuer):
    """No `name` claim: no display; the development CA names the certificate by the ID."""
    nameless = personal_id(1979, female=True)
    token = mint_token(issuer.key, TEST_ISSUER, TEST_AUDIENCE, nameless, "user/*.cruds", 600)
    with fhir_client(server.base, token) as http:
        written = created(http, new_patient())
    provenance = provenance_of(client, versioned(written))
    assert provenance["agent"][0]["who"] == {"identifier": {"system": CCCD_SYSTEM,
                                                            "value": nameless}}
    leaf = leaf_certificate(provenance["signature"][0])
    assert subject_attributes(leaf) == ([nameless], [f"CCCD:{nameless}"])
    joserfc_verify(provenance["signature"][0], written)


def test_who_references_the_callers_practitioner(client, person_client):
    doctor = personal_id(1975)
    practitioner = created(client, {
        "resourceType": "Practitioner", "identifier": [{"system": CCCD_SYSTEM, "value": doctor}],
        "name": [{"family": "Lê", "given": ["Minh", "Tuấn"]}]})
    # Also a Patient with that ID: the Practitioner wins.
    created(client, new_patient(doctor))
    written = created(person_client(doctor), new_patient())
    (agent,) = provenance_of(client, versioned(written))["agent"]
    assert agent["who"] == {"reference": f"Practitioner/{practitioner['id']}",
                            "identifier": {"system": CCCD_SYSTEM, "value": doctor},
                            "display": TOKEN_NAME}


def test_two_practitioners_with_the_callers_id_are_no_reference(client, person_client):
    """Another Practitioner carrying the caller's CCCD (anyone may write one): which is the
    signer is not guessed, and no Patient with the ID stands in for either."""
    doctor = personal_id(1976)
    for given in ("Minh", "Mạo Danh"):
        created(client, {"resourceType": "Practitioner",
                         "identifier": [{"system": CCCD_SYSTEM, "value": doctor}],
                         "name": [{"family": "Lê", "given": [given]}]})
    created(client, new_patient(doctor))
    written = created(person_client(doctor), new_patient())
    (agent,) = provenance_of(client, versioned(written))["agent"]
    assert agent["who"] == {"identifier": {"system": CCCD_SYSTEM, "value": doctor},
                            "display": TOKEN_NAME}


def test_who_references_the_callers_patient_without_practitioner(client, person_client):
    citizen = personal_id(2001, female=True)
    own_record = created(client, new_patient(citizen))
    written = created(person_client(citizen), new_patient())
    provenance = provenance_of(client, versioned(written))
    assert provenance["agent"][0]["who"]["reference"] == f"Patient/{own_record['id']}"
    assert provenance["signature"][0]["who"]["reference"] == f"Patient/{own_record['id']}"


def test_refused_write_leaves_no_provenance(client):
    before = len(provenances_of(client, "Patient/never-written"))
    response = create(client, {"resourceType": "Patient", "gender": "no-such-gender"})
    assert response.status_code in (400, 422), response.text
    response = client.put("/Patient/never-written", json={"resourceType": "Patient",
                                                          "id": "never-written",
                                                          "birthDate": "not a date"})
    assert response.status_code in (400, 422), response.text
    assert len(provenances_of(client, "Patient/never-written")) == before == 0


def test_server_provenance_cannot_be_deleted(client):
    """The server's signed record of a write is not the client's to remove: 405 for any
    DELETE of a Provenance, by id or by criteria, whether it finds one or not (one finding
    nothing answered 204, as if the type allowed deletes)."""
    patient = created(client, new_patient())
    provenance = provenance_of(client, versioned(patient))
    for path in (f"/Provenance/{provenance['id']}", f"/Provenance/{uuid.uuid4()}",
                 f"/Provenance?_id={provenance['id']}", f"/Provenance?_id={uuid.uuid4()}"):
        assert_outcome(client.delete(path), 405)
    assert client.get(f"/Provenance/{provenance['id']}").status_code == 200


def test_server_provenance_cannot_be_rewritten(client):
    """Rewriting what the server recorded (activity, agent) while keeping its still-valid
    signature must not be possible: the signature does not cover those elements."""
    patient = created(client, new_patient())
    provenance = provenance_of(client, versioned(patient))
    rewritten = json.loads(json.dumps(provenance))
    rewritten["activity"]["coding"][0].update(code="DELETE", display="delete")
    rewritten["agent"][0]["who"] = {"identifier": {"system": CCCD_SYSTEM,
                                                   "value": personal_id(1950)}}
    response = put(client, rewritten)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    stored = client.get(f"/Provenance/{provenance['id']}").json()
    assert stored["activity"] == provenance["activity"]
    assert stored["agent"] == provenance["agent"]


@pytest.mark.parametrize("operations", [[], [{"op": "add", "path": "/reason", "value": []}]])
def test_a_provenance_cannot_be_patched_even_to_the_same(client, operations):
    """Append-only, as the CapabilityStatement says (no `patch` interaction): a patch that
    would change nothing is refused too, not answered as a success."""
    patient = created(client, new_patient())
    provenance = provenance_of(client, versioned(patient))
    response = patch(client, f"/Provenance/{provenance['id']}", operations)
    assert_outcome(response, 405)
    assert client.get(f"/Provenance/{provenance['id']}").json() == provenance
