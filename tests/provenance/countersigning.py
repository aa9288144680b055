"""Countersigning, shared by the tests of client-posted Provenances: a doctor's signature
over a stored version, as the Provenance a client posts, and what is stored meanwhile."""

import base64

from api.helpers import FHIR_HEADERS
from security.helpers import personal_id

from provenance.helpers import CCCD_SYSTEM, TARGET_FORMAT
from signing.jws import parse_detached

DOCTOR = personal_id(1970)
DOCTOR_NAME = "Phạm Thị Lan"
VERIFICATION_SIGNATURE = {"system": "urn:iso-astm:E1762-95:2013",
                          "code": "1.2.840.10065.1.12.1.5", "display": "Verification Signature"}


def countersignature(target: str, data: str, who: str = DOCTOR) -> dict:
    """A client Provenance: `who` verified version `target`, signature `data`, signed when its
    JWS's `sigT` says (one clock reading: a second boundary must not split the two)."""
    when = parse_detached(base64.b64decode(data).decode("ascii"))[0]["sigT"]
    person = {"identifier": {"system": CCCD_SYSTEM, "value": who}, "display": DOCTOR_NAME}
    return {
        "resourceType": "Provenance",
        "target": [{"reference": target}],
        "recorded": when,
        "agent": [{"type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            "code": "verifier"}]}, "who": person}],
        "signature": [{"type": [VERIFICATION_SIGNATURE], "when": when, "who": person,
                       "targetFormat": TARGET_FORMAT, "sigFormat": "application/jose",
                       "data": data}],
    }


def provenance_count(db) -> tuple[int, int]:
    return db["Provenance"].count_documents({}), db["Provenance_history"].count_documents({})


def post(client, provenance: dict):
    return client.post("/Provenance", json=provenance, headers=FHIR_HEADERS)
