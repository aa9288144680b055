"""The token issuer every `fhir-server` process started by these tests trusts, as a
hospital would configure its VNeID broker (FHIR_TRUSTED_ISSUERS)."""

import json

from fhir_server.auth.keys import SigningKey, mint_token

ISSUER = "https://vneid-broker.process-tests"
AUDIENCE = "urn:fhir-exchange-server:process-tests"
KEY = SigningKey.generate()
SETTINGS = {
    "FHIR_TRUSTED_ISSUERS": json.dumps([{"issuer": ISSUER, "jwks": KEY.public_jwks()}]),
    "FHIR_AUDIENCES": json.dumps([AUDIENCE]),
}


def bearer() -> dict[str, str]:
    token = mint_token(KEY, ISSUER, AUDIENCE, "001085012345", "user/*.cruds", 3600)
    return {"Authorization": f"Bearer {token}"}
