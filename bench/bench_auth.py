"""The token issuer the benchmark servers trust, and the bearer token of a backend-services
client (`client_id`, no person) with every system scope: verification is part of what is
measured, rate limiting is not."""

import json

from fhir_server.auth.keys import SigningKey, mint_token

ISSUER = "https://issuer.bench.invalid"
AUDIENCE = "urn:fhir-exchange-server:bench"
CLIENT_ID = "bench"
KEY = SigningKey.generate()
SERVER_ENV = {
    "FHIR_TRUSTED_ISSUERS": json.dumps(
        [{"issuer": ISSUER, "jwks": KEY.public_jwks(), "issues_client_tokens": True}]
    ),
    "FHIR_AUDIENCES": json.dumps([AUDIENCE]),
    "FHIR_RATE_LIMIT_PER_MINUTE": str(10**9),
}


def bearer() -> dict[str, str]:
    """The Authorization header of a token valid for an hour."""
    token = mint_token(KEY, ISSUER, AUDIENCE, CLIENT_ID, "system/*.cruds", 3600,
                       extra={"client_id": CLIENT_ID})
    return {"Authorization": f"Bearer {token}"}
