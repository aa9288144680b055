"""Bearer token verification: a JWT (RFC 7519) signed as a compact JWS (RFC 7515) by one of
the trusted issuers, with the public key taken from that issuer's JWK Set (RFC 7517) by `kid`.

Users are VNeID identities, whose personal identification number is in the `id_claim` of
their issuer; systems hold SMART Backend Services tokens, which name a `client_id`
(http://hl7.org/fhir/smart-app-launch/backend-services.html). The `scope` claim carries
SMART scopes (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).

Keys are only ever taken from the configured JWKS: header parameters that point elsewhere
(`jku`, `x5u`, `jwk`, `x5c`) are ignored, and symmetric algorithms are never accepted, so a
public key cannot be turned into an HMAC secret.
"""

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from fhir_server.auth.key_purpose import KEY_TYPES, unfit_for
from fhir_server.auth.personal_id import validate_personal_id
from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.primitives import is_id
from fhir_server.errors import Unauthorized

DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384")
JWKS_TTL_SECONDS = 600.0
JWKS_MIN_REFETCH_SECONDS = 30.0
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose tokens are accepted; its keys come from `jwks_uri` or inline `jwks`."""

    issuer: str
    jwks_uri: str | None = None
    jwks: dict | None = None
    id_claim: str = "sub"
    # Whether it may vouch for systems (backend-services tokens with `client_id` and no
    # person): this server's own token endpoint does; a VNeID broker speaks for people only.
    issues_client_tokens: bool = False

    def __post_init__(self):
        if (self.jwks_uri is None) == (self.jwks is None):
            raise ValueError(f"trusted issuer {self.issuer}: give exactly one of jwks_uri, jwks")


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for, and what it allows."""

    issuer: str
    subject: str
    personal_id: str | None
    client_id: str | None
    name: str | None
    scopes: Permissions
    scope_text: str
    # The launch patient (SMART's `patient` claim): the compartment `patient/` scopes open.
    patient: str | None = None

    @property
    def who(self) -> str:
        """The person's identification number, or the backend client's id, for audit."""
        return self.personal_id or self.client_id or self.subject


def _refuse(reason: str) -> Unauthorized:
    return Unauthorized(f"Bearer token refused: {reason}")


def _shown(value: Any) -> str:
    """An attacker-supplied value, quoted and cut short, for a diagnostic."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _index(jwks: Any) -> dict[str, dict]:
    """The keys of a JWK Set (RFC 7517 §5) by `kid`; keys without a `kid` cannot be chosen."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("a JWK Set is a JSON object with a 'keys' array")
    keys = (key for key in jwks["keys"] if isinstance(key, dict))
    return {key["kid"]: key for key in keys if isinstance(key.get("kid"), str)}


class _KeySet:
    """One issuer's keys: inline, or fetched from `jwks_uri` and kept for `JWKS_TTL_SECONDS`.
    A `kid` not in the cache (key rotation) triggers a fetch, at most one per
    `JWKS_MIN_REFETCH_SECONDS`. When a fetch fails, the keys fetched before stay in use."""

    def __init__(self, issuer: TrustedIssuer, http: httpx.AsyncClient | None, clock):
        self.issuer = issuer
        self._http = http
        self._clock = clock
        self._keys = _index(issuer.jwks) if issuer.jwks is not None else {}
        # Verification keys by (kid, alg), built once per JWKS fetch, not once per token.
        self._public_keys: dict[tuple[str, str], Any] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._failure: str | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> dict:
        """The JWK with this `kid`, refreshing the cache when it is due."""
        if self.issuer.jwks_uri is not None:
            async with self._lock:
                if self._due(kid):
                    await self._refresh(self.issuer.jwks_uri)
        if kid in self._keys:
            return self._keys[kid]
        if self._failure is not None and not self._keys:
            raise _refuse(self._failure)
        raise _refuse(f"no key with kid {_shown(kid)} in the JWKS of {self.issuer.issuer}")

    def public_key(self, kid: str, jwk: dict, algorithm: str) -> Any:
        """The verification key of `jwk` (this set's key `kid`) for `algorithm`."""
        if (kid, algorithm) not in self._public_keys:
            self._public_keys[(kid, algorithm)] = _public_key(jwk, algorithm)
        return self._public_keys[(kid, algorithm)]

    def _due(self, kid: str) -> bool:
        now = self._clock()
        if self._attempted_at is not None and now - self._attempted_at < JWKS_MIN_REFETCH_SECONDS:
            return False
        expired = self._fetched_at is None or now - self._fetched_at >= JWKS_TTL_SECONDS
        return expired or kid not in self._keys

    async def _refresh(self, uri: str) -> None:
        self._attempted_at = self._clock()
        try:
            keys = _index(await self._fetch(uri))
        except (httpx.HTTPError, ValueError) as error:
            cause = type(error).__name__
            self._failure = f"the JWKS of {self.issuer.issuer} could not be fetched ({cause})"
            return
        self._keys, self._fetched_at, self._failure = keys, self._attempted_at, None
        self._public_keys = {}

    async def _fetch(self, uri: str) -> Any:
        if self._http is not None:
            response = await self._http.get(uri)
        else:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.get(uri)
        response.raise_for_status()
        return response.json()


def _header(token: str) -> dict:
    """The JOSE header of a compact JWS (RFC 7515 §7.1): three base64url parts."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise _refuse("not a compact JWS (header.payload.signature, RFC 7515 §7.1)")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise _refuse(f"malformed JWS ({_malformed_part(error)})") from None
    if "crit" in header:
        raise _refuse("critical JOSE header extensions (crit) are not supported")
    return header


def _unverified_claims(token: str) -> dict:
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise _refuse(f"malformed claims ({_malformed_part(error)})") from None


# PyJWT's DecodeError messages begin with the part that failed; what follows is Python's own
# error ("'utf-8' codec can't decode byte 0xb7 in position 1", "Expecting value: line 1
# column 1"), words of the server's code, not the client's token. Its other messages (an
# unsupported `crit` extension) say what is wrong in the token's terms.
_PARTS = {
    "Invalid header": "its header, the first part, is not the base64url encoding of a JSON "
                      "object (RFC 7515 §7.1)",
    "Invalid payload": "its payload, the second part, is not the base64url encoding of a JSON "
                       "object of claims (RFC 7519 §7.2)",
    "Invalid crypto": "its signature, the third part, is not base64url (RFC 7515 §7.1)",
}


def _malformed_part(error: jwt.PyJWTError) -> str:
    text = str(error)
    return next((said for start, said in _PARTS.items() if text.startswith(start)), text)


def _public_key(jwk: dict, algorithm: str) -> Any:
    """The verification key of a JWK, if it is fit for the algorithm (RFC 7517 §4)."""
    kid = _shown(jwk["kid"])
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        raise _refuse(f"key {kid} is published with private key material and is not trusted")
    if problem := unfit_for(jwk, algorithm):
        raise _refuse(f"key {kid} {problem}")
    try:
        return jwt.PyJWK(jwk, algorithm=algorithm).key
    except jwt.PyJWTError:
        raise _refuse(f"key {kid} is not a valid JWK") from None


def _claim_error(error: jwt.PyJWTError) -> str:
    """A diagnostic for a failed signature or registered-claim check (RFC 7519 §4.1)."""
    if isinstance(error, jwt.InvalidSignatureError):
        return "the signature does not verify"
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the token has expired (exp)"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token has no {error.claim} claim"
    if isinstance(error, jwt.InvalidAudienceError):
        return "the token's audience (aud) is not this server"
    return str(error)  # e.g. "The token is not yet valid (nbf)"


@dataclass(frozen=True)
class _Verified:
    """A token that verified: whom it speaks for, until when, and with which key."""

    principal: Principal
    expires: float  # `exp`, seconds since the epoch
    key_set: "_KeySet"
    kid: str
    jwk: dict


class TokenVerifier:
    """Verifies bearer tokens of the trusted issuers for this server's audiences.
    One verifier serves one event loop (its JWKS caches hold asyncio locks).

    A token that verified is remembered (by its SHA-256, up to `cache_size` tokens, least
    recently used first out) until its `exp`: a client sending the same bearer token on every
    request is verified once. A remembered token is still refused once it expires, and once
    its key is no longer in its issuer's JWKS (as re-fetched every JWKS_TTL_SECONDS): an
    issuer revokes tokens by rotating keys, as before; nothing revokes one token before exp."""

    def __init__(
        self,
        issuers: list[TrustedIssuer],
        audiences: set[str],
        leeway_seconds: int = 60,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = 10_000,
        shared: "TokenVerifier | None" = None,
    ):
        self.algorithms = tuple(algorithms)
        unsupported = sorted(set(self.algorithms) - KEY_TYPES.keys())
        if unsupported:
            raise ValueError(f"only RSA and EC signature algorithms, not {unsupported}")
        if not audiences:
            raise ValueError("at least one audience is needed")
        self.audiences = frozenset(audiences)
        self.leeway_seconds = leeway_seconds
        # With `shared` (a verifier of the same issuers for other audiences), each issuer's
        # keys are the ones it holds: one JWKS cache and fetch per issuer, not per audience.
        known: dict[str, _KeySet] = shared._key_sets if shared is not None else {}
        self._key_sets: dict[str, _KeySet] = {
            issuer.issuer: known[issuer.issuer]
            if issuer.issuer in known and known[issuer.issuer].issuer == issuer
            else _KeySet(issuer, http, clock)
            for issuer in issuers
        }
        self._cache_size = cache_size
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; `Unauthorized` saying why otherwise."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        known = self._verified.get(digest)
        if known is not None:
            if time.time() < known.expires + self.leeway_seconds and (
                await _key_or_none(known.key_set, known.kid) == known.jwk
            ):
                self._verified.move_to_end(digest)
                return known.principal
            del self._verified[digest]
        verified = await self._verify(token)
        self._verified[digest] = verified
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return verified.principal

    async def _verify(self, token: str) -> _Verified:
        header = _header(token)
        algorithm = self._algorithm(header.get("alg"))
        key_set = self._key_set(_unverified_claims(token).get("iss"))
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _refuse("the JOSE header names no key (kid)")
        jwk = await key_set.key(kid)
        claims = self._decode(token, key_set.public_key(kid, jwk, algorithm), algorithm)
        return _Verified(_principal(key_set.issuer, claims), claims["exp"], key_set, kid, jwk)

    def _algorithm(self, alg: Any) -> str:
        if alg == "none":
            raise _refuse("unsigned tokens (alg none) are not accepted")
        if isinstance(alg, str) and alg.startswith("HS"):
            raise _refuse(f"symmetric algorithm {alg} is not accepted: issuers sign with key pairs")
        if alg not in self.algorithms:
            raise _refuse(f"algorithm {_shown(alg)} is not one of {', '.join(self.algorithms)}")
        return alg

    def _key_set(self, iss: Any) -> _KeySet:
        if not isinstance(iss, str):
            raise _refuse("the token has no iss claim")
        if iss not in self._key_sets:
            raise _refuse(f"issuer {_shown(iss)} is not trusted")
        return self._key_sets[iss]

    def _decode(self, token: str, key: Any, algorithm: str) -> dict:
        """Signature, then `exp` (required), `nbf`, `iat` with the leeway, then `aud`."""
        try:
            claims: dict = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=sorted(self.audiences),
                leeway=self.leeway_seconds,
                options={"require": ["exp", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise _refuse(_claim_error(error)) from None
        for name in ("exp", "nbf", "iat"):
            # A NumericDate is a JSON number (RFC 7519 §2); PyJWT takes "9999999999" too.
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise _refuse(f"the {name} claim must be a number of seconds (a NumericDate)")
        return claims


async def _key_or_none(key_set: _KeySet, kid: str) -> dict | None:
    """The issuer's current key `kid` (re-fetching its JWKS when due), None if it is gone."""
    try:
        return await key_set.key(kid)
    except Unauthorized:
        return None


def _principal(issuer: TrustedIssuer, claims: dict) -> Principal:
    """A backend-services token names a `client_id` and no person (or the client itself, as
    `sub` of a client_credentials token); any other token must name a person."""
    scope_text = claims.get("scope", "")
    if not isinstance(scope_text, str):
        raise _refuse("the scope claim is not a space-separated string")
    client_id, person = claims.get("client_id"), claims.get(issuer.id_claim)
    if (
        isinstance(client_id, str)
        and client_id
        and person in (None, client_id)
        and issuer.issues_client_tokens
    ):
        personal_id, who = None, client_id
    else:
        client_id, personal_id = None, _personal_id(issuer.id_claim, person)
        who = personal_id
    subject = claims.get("sub")
    name = claims.get("name")
    return Principal(
        issuer=issuer.issuer,
        subject=subject if isinstance(subject, str) else who,
        personal_id=personal_id,
        client_id=client_id,
        name=name if isinstance(name, str) else None,
        scopes=Permissions.from_text(scope_text),
        scope_text=scope_text,
        patient=_launch_patient(claims),
    )


def _launch_patient(claims: dict) -> str | None:
    """The SMART `patient` claim, "String value with a patient id"
    (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#launch-context-arrives-with-your-access_token):
    a bare Patient id. One in another form (`Patient/123`, which may name another server's
    patient too, an id with a space, a number) refuses the token: dropped, the person's own
    record (by CCCD) would stand in for the patient the app was launched for."""
    if "patient" not in claims:
        return None
    patient = claims["patient"]
    if not isinstance(patient, str) or not is_id(patient):
        raise _refuse(f"the patient claim {_shown(patient)} is not a Patient id "
                      "(SMART: the launch patient's id, 123, not Patient/123)")
    return patient


def _personal_id(claim: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse(f"the token has no {claim} claim with a personal identification number")
    try:
        return validate_personal_id(value)
    except ValueError as error:
        reason = f"the {claim} claim is not a personal identification number: {error}"
        raise _refuse(reason) from None
