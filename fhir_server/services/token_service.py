"""The token endpoint of SMART Backend Services
(http://hl7.org/fhir/smart-app-launch/backend-services.html): a registered client proves
who it is with a `private_key_jwt` assertion and gets a short-lived access token."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import jwt

from fhir_server.auth.keys import SigningKey, mint_token
from fhir_server.auth.scopes import grant
from fhir_server.storage.clients import ClientStore

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_LIFETIME = 300  # seconds between now and the assertion's exp
LEEWAY = 30
_JWKS_CACHE_SECONDS = 300


class OAuthError(Exception):
    """An OAuth 2.0 error response (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


def _invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401)


@dataclass
class TokenService:
    clients: ClientStore
    key: SigningKey
    lifetime: int
    http: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        self._jwks: dict[str, tuple[float, dict]] = {}

    async def client_credentials(
        self, form: dict[str, str], token_url: str, issuer: str, audience: str
    ) -> dict:
        """The token response for a `client_credentials` request, or OAuthError."""
        if form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion") or ""
        client = await self._authenticate(assertion, token_url)
        scope = grant(form.get("scope", ""), client["scope"])
        if not scope:
            raise OAuthError("invalid_scope", "none of the requested scopes can be granted")
        lifetime = min(self.lifetime, 3600)
        token = mint_token(
            self.key,
            issuer,
            audience,
            client["_id"],
            scope,
            lifetime,
            extra={"client_id": client["_id"]},
        )
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": lifetime,
            "scope": scope,
        }

    async def _authenticate(self, assertion: str, token_url: str) -> dict:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _invalid_client("client_assertion is not a JWT") from None
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise _invalid_client(
                f"client_assertion must be signed with one of {', '.join(ASSERTION_ALGORITHMS)}"
            )
        client_id = unverified.get("iss")
        client = await self.clients.client(client_id) if isinstance(client_id, str) else None
        if client is None:
            raise _invalid_client("unknown client")
        key = await self._key(client, header.get("kid"), header["alg"])
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[header["alg"]],
                audience=token_url,
                issuer=client_id,
                leeway=LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.PyJWTError as bad:
            raise _invalid_client(f"client_assertion refused: {bad}") from None
        if claims["sub"] != client_id:
            raise _invalid_client("client_assertion sub must equal iss (the client_id)")
        if claims["exp"] > time.time() + MAX_ASSERTION_LIFETIME + LEEWAY:
            raise _invalid_client("client_assertion exp is more than 5 minutes ahead")
        expires = datetime.fromtimestamp(claims["exp"] + LEEWAY, UTC)
        if not await self.clients.use_assertion(client_id, str(claims["jti"]), expires):
            raise _invalid_client("client_assertion jti was already used")
        return client

    async def _key(self, client: dict, kid: object, alg: str) -> jwt.PyJWK:
        keys = client.get("jwks") or await self._fetch_jwks(client["jwks_url"])
        for candidate in keys.get("keys", []):
            if kid is None or candidate.get("kid") == kid:
                try:
                    return jwt.PyJWK(candidate, algorithm=alg)
                except jwt.PyJWTError:
                    continue
        raise _invalid_client("no key of the client matches the assertion's kid and alg")

    async def _fetch_jwks(self, url: str) -> dict:
        cached = self._jwks.get(url)
        if cached and time.monotonic() - cached[0] < _JWKS_CACHE_SECONDS:
            return cached[1]
        try:
            if self.http is not None:
                response = await self.http.get(url, timeout=10)
            else:
                async with httpx.AsyncClient() as http:
                    response = await http.get(url, timeout=10)
            response.raise_for_status()
            jwks = response.json()
        except (httpx.HTTPError, ValueError):
            raise _invalid_client("the client's JWKS could not be fetched") from None
        self._jwks[url] = (time.monotonic(), jwks)
        return jwks
