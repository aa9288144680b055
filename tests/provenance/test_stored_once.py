"""What is stored once (README "Storage layout"): a version's resource is in its history
document only once it is no longer current, and a signer's certificate chain is kept once
in `signature_chains`, not in every Provenance; what a client reads is unchanged (the
signatures verify with an independent JOSE library) through read, vread, search, history
and export."""

import base64
import json

from api.helpers import created, new_patient, put
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.storage.signature_chains import _restored, _short
from provenance.helpers import (
    compact_jws,
    joserfc_verify,
    jws_header,
    provenance_of,
    versioned,
)


def test_history_keeps_a_second_copy_only_of_replaced_versions(client, db):
    first = created(client, new_patient())
    history = db["Patient_history"]
    assert "resource" not in history.find_one({"id": first["id"], "vid": 1})
    second = put(client, {**first, "gender": "other"}).json()
    assert history.find_one({"id": first["id"], "vid": 1})["resource"]["gender"] == first["gender"]
    assert "resource" not in history.find_one({"id": first["id"], "vid": 2})
    assert client.get(f"/Patient/{first['id']}/_history/1").json() == first
    assert client.get(f"/Patient/{first['id']}/_history/2").json() == second
    listed = client.get(f"/Patient/{first['id']}/_history").json()
    assert [entry["resource"] for entry in listed["entry"]] == [second, first]


def test_a_signers_chain_is_stored_once_and_read_back_whole(client, db):
    patients = [created(client, new_patient()) for _ in range(3)]
    provenances = [provenance_of(client, versioned(patient)) for patient in patients]
    leaf = jws_header(provenances[0]["signature"][0])["x5c"][0]
    for patient, provenance in zip(patients, provenances, strict=True):
        stored = db["Provenance"].find_one({"_id": provenance["id"]})
        assert leaf not in json.dumps(stored["resource"]), "the chain is stored in the Provenance"
        assert client.get(f"/Provenance/{provenance['id']}").json() == provenance
        joserfc_verify(provenance["signature"][0], patient)
    chains = list(db["signature_chains"].find())
    assert sum(leaf in found["chain"].decode() for found in chains) == 1, chains
    history = client.get(f"/Provenance/{provenances[0]['id']}/_history").json()
    assert history["entry"][0]["resource"] == provenances[0]


_JSON_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(
    certificates=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=3),
    before=st.dictionaries(st.sampled_from(["alg", "kid", "sigT", "b64"]), _JSON_TEXT),
    after=st.dictionaries(st.sampled_from(["x5t#S256", "crit", "zz"]), _JSON_TEXT),
    spaced=st.booleans(),
    signature=st.binary(min_size=1, max_size=96),
)
def test_the_short_form_gives_back_exactly_the_data(certificates, before, after, spaced,
                                                     signature):
    header = {**before,
              "x5c": [base64.b64encode(certificate).decode() for certificate in certificates],
              **after}
    separators = (", ", ": ") if spaced else (",", ":")
    encoded = base64.urlsafe_b64encode(
        json.dumps(header, ensure_ascii=False, separators=separators).encode()
    ).rstrip(b"=").decode()
    signature_b64 = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    data = base64.b64encode(f"{encoded}..{signature_b64}".encode()).decode()
    found = _short(data)
    assert found is not None
    short, chain = found
    assert _restored(short, chain) == data
    assert compact_jws({"data": _restored(short, chain)}).endswith(signature_b64)


@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()))
def test_data_of_any_other_shape_is_not_shortened(data):
    found = _short(data)
    assert found is None or _restored(*found) == data
