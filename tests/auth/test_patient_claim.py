"""The SMART `patient` claim of a bearer token, the launch patient `patient/` scopes keep to:
"String value with a patient id"
(http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#launch-context-arrives-with-your-access_token).
Any other value refuses the token; it is never dropped, which made the person's own record
(by CCCD) stand in for the patient the app was launched for (probe CB)."""

import asyncio
import re

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.auth.keys import SigningKey, mint_token
from fhir_server.auth.tokens import Principal, TokenVerifier, TrustedIssuer
from fhir_server.errors import Unauthorized

ISSUER = "urn:fhir-exchange-server:dev-issuer"
AUDIENCE = "https://fhir.benhvien.example.vn/fhir"
KEY = SigningKey.generate()
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # http://hl7.org/fhir/R4/datatypes.html#id

ids = st.from_regex(FHIR_ID, fullmatch=True)
claims = st.one_of(ids, ids.map(lambda id_: f"Patient/{id_}"), ids.map(lambda id_: f"{id_} "),
                   st.text(max_size=70), st.integers(), st.none(), st.booleans(),
                   st.lists(ids, max_size=2), st.dictionaries(ids, ids, max_size=1))


def _verified(**claims: object) -> Principal:
    token = mint_token(KEY, ISSUER, AUDIENCE, "001085012345", "patient/*.rs", 300,
                       extra=claims)
    verifier = TokenVerifier([TrustedIssuer(ISSUER, jwks=KEY.public_jwks())], {AUDIENCE})
    return asyncio.run(verifier.verify(token))


@given(claims)
def test_a_patient_claim_is_the_launch_patient_or_the_token_is_refused(claim):
    try:
        principal = _verified(patient=claim)
    except Unauthorized as refused:
        assert not (isinstance(claim, str) and FHIR_ID.fullmatch(claim)), refused.diagnostics
        assert "the patient claim" in refused.diagnostics
        assert "is not a Patient id" in refused.diagnostics
        assert refused.headers["WWW-Authenticate"].endswith('error="invalid_token"')
    else:
        assert principal.patient == claim


def test_without_the_claim_the_token_names_no_launch_patient():
    assert _verified().patient is None
