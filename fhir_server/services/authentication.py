"""Who is calling: bearer tokens of trusted issuers (VNeID brokers, the development issuer
with `--dev`, and this server's own token service for backend clients), and a per-caller
rate limit."""

import json
from collections import OrderedDict
from pathlib import Path

from fhir_server.auth.keys import SigningKey
from fhir_server.auth.tokens import Principal, TokenVerifier, TrustedIssuer
from fhir_server.errors import Unauthorized
from fhir_server.services.rate_limiting import TokenBuckets
from fhir_server.settings import Settings

DEV_ISSUER = "urn:fhir-exchange-server:dev-issuer"
# A claim no backend token carries, so this server's tokens are read as client tokens.
_NO_PERSON_CLAIM = "personal_id"
_MAX_BASES = 64


def dev_key_path(data_dir: Path) -> Path:
    return Path(data_dir) / "dev-issuer" / "signing-key.pem"


def token_issuer(base: str) -> str:
    """The `iss` of the access tokens this server's token endpoint issues."""
    return f"{base}/auth"


def _configured_issuer(entry: dict) -> TrustedIssuer:
    entry = dict(entry)
    if "jwks_file" in entry:
        entry["jwks"] = json.loads(Path(entry.pop("jwks_file")).read_text(encoding="utf-8"))
    return TrustedIssuer(**entry)


class Authenticator:
    def __init__(self, settings: Settings, server_key: SigningKey):
        self.settings = settings
        self.server_key = server_key
        self.issuers = [_configured_issuer(entry) for entry in settings.trusted_issuers]
        if settings.dev:
            dev_key = SigningKey.load_or_create(dev_key_path(settings.data_dir))
            self.issuers.append(TrustedIssuer(DEV_ISSUER, jwks=dev_key.public_jwks()))
        self.limiter = TokenBuckets(settings.rate_limit_per_minute,
                                    path=settings.data_dir / "rate-limits" / "callers"
                                    ) if settings.rate_limit_per_minute > 0 else None
        # One verifier per base URL: without FHIR_BASE_URL the Host header names the base, so
        # they are few (least recently used dropped) and share the issuers' JWKS caches.
        self._verifiers: OrderedDict[str, TokenVerifier] = OrderedDict()

    def _verifier(self, base: str) -> TokenVerifier:
        if base in self._verifiers:
            self._verifiers.move_to_end(base)
            return self._verifiers[base]
        own = TrustedIssuer(
            token_issuer(base),
            jwks=self.server_key.public_jwks(),
            id_claim=_NO_PERSON_CLAIM,
            issues_client_tokens=True,
        )
        audiences = {base, *self.settings.audiences}
        shared = next(iter(self._verifiers.values()), None)
        verifier = TokenVerifier([*self.issuers, own], audiences, shared=shared)
        self._verifiers[base] = verifier
        if len(self._verifiers) > _MAX_BASES:
            self._verifiers.popitem(last=False)
        return verifier

    async def verify(self, authorization: str | None, base: str) -> Principal:
        """The caller of a request with this `Authorization` header (401 otherwise). With
        FHIR_BASE_URL set, only that base is an audience, whatever Host the request names."""
        base = self.settings.base_url or base
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "This request needs an `Authorization: Bearer <token>` header", error=None
            )
        return await self._verifier(base).verify(token.strip())

    def check_rate(self, principal: Principal) -> None:
        """Count one request of the caller: 429 beyond FHIR_RATE_LIMIT_PER_MINUTE."""
        if self.limiter is not None:  # FHIR_RATE_LIMIT_PER_MINUTE=0: no limit
            self.limiter.check(principal.who or principal.subject)

    def charge_entries(self, principal: Principal, entries: int) -> None:
        """A batch or transaction counts as one request per entry (at most a minute's
        burst), its first entry already counted by `check_rate`: each entry is as much
        work as a request (a batch of 2,000 creates took 30 s of CPU)."""
        if self.limiter is None:
            return
        cost = min(entries, int(self.limiter.capacity))
        if cost > 1:
            # Refused, the request gives back the token `check_rate` took for it.
            self.limiter.check(principal.who or principal.subject, cost=cost - 1, refund=1,
                               what=f"A Bundle of {entries} entries counts as {cost} "
                                    "requests. ")
