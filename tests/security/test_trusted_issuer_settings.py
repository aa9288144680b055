"""FHIR_TRUSTED_ISSUERS entries as start-up reads them: every key a trusted issuer takes is
accepted, `issues_client_tokens` among them (the benchmarks' issuer of backend-services
tokens could no longer start a server), and a key it does not take is refused."""

import pytest
from pydantic import ValidationError

from fhir_server.auth.keys import SigningKey
from fhir_server.settings import Settings

JWKS = SigningKey.generate().public_jwks()


def test_an_issuer_of_client_tokens_is_accepted():
    entry = {"issuer": "https://issuer.example", "jwks": JWKS, "issues_client_tokens": True,
             "id_claim": "sub"}
    assert Settings(trusted_issuers=[entry]).trusted_issuers == [entry]


def test_a_key_no_issuer_takes_is_refused():
    with pytest.raises(ValidationError, match="unknown jwks_url"):
        Settings(trusted_issuers=[{"issuer": "https://issuer.example", "jwks": JWKS,
                                   "jwks_url": "https://issuer.example/jwks"}])
