"""The token endpoint of SMART Backend Services
(http://hl7.org/fhir/smart-app-launch/backend-services.html): a registered client proves
who it is with a `private_key_jwt` assertion and gets a short-lived access token."""

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import jwt

from fhir_server.auth.client_keys import ASSERTION_ALGORITHMS, fitting_keys
from fhir_server.auth.keys import SigningKey, mint_token
from fhir_server.auth.scopes import grant, parse_scope
from fhir_server.conformance.registry import is_supported
from fhir_server.services.scope_searches import search_problem
from fhir_server.storage.clients import ClientStore
from fhir_server.storage.database import Database
from fhir_server.storage.resources import ResourceStore

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # seconds between now and the assertion's exp
LEEWAY = 30
#: The parameters of a client_credentials request with a private_key_jwt assertion
#: (http://hl7.org/fhir/smart-app-launch/backend-services.html#request-1), all required.
_PARAMETERS = ("grant_type", "client_assertion_type", "client_assertion", "scope")
_JWKS_CACHE_SECONDS = 300
#: A kid not in the cached JWKS (the client rotated its key) fetches it again, at most this
#: often per JWKS URL.
JWKS_MIN_REFETCH_SECONDS = 5
#: The most of a JWKS URL's answer read: a JWK Set of fifty RSA 4,096-bit keys fits.
MAX_JWKS_BYTES = 64 * 1024


class OAuthError(Exception):
    """An OAuth 2.0 error response (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> OAuthError:
    """RFC 6749 §5.2: 400, its default. Its 401 "indicate[s] which HTTP authentication
    schemes are supported", and RFC 9110 §15.5.2 wants a challenge on every 401: an
    assertion in the body is no HTTP authentication scheme, so there is none to send."""
    return OAuthError("invalid_client", description)


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def claimed_client(form: dict[str, str]) -> str | None:
    """The client a token request's assertion says it is from (its `iss`), unverified."""
    try:
        claimed = jwt.decode(form.get("client_assertion", ""),
                             options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return claimed if isinstance(claimed, str) else None


def token_form(body: bytes) -> dict[str, str]:
    """The parameters of an `application/x-www-form-urlencoded` token request; each may be
    sent only once (https://www.rfc-editor.org/rfc/rfc6749#section-3.2)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise invalid_request("the request body is not UTF-8") from None
    if not pairs:
        raise invalid_request("the request body is empty")
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise invalid_request(f"{name} is sent more than once")
        form[name] = value
    return form


def _check_request(form: dict[str, str]) -> None:
    """RFC 6749 §5.2: a missing parameter is `invalid_request`, another grant type
    `unsupported_grant_type`, a second way of authenticating the client `invalid_request`;
    a missing scope is `invalid_scope` (§3.3: without a scope the server uses a default or
    fails "indicating an invalid scope"; there is no default)."""
    if not form.get("grant_type"):
        raise invalid_request("grant_type is missing")
    if form["grant_type"] != "client_credentials":
        raise OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
    missing = [name for name in _PARAMETERS if name != "scope" and not form.get(name)]
    if missing:
        raise invalid_request(f"missing {', '.join(missing)}")
    if not form.get("scope", "").strip():
        raise OAuthError("invalid_scope", "scope is missing: name the scopes to grant")
    if form["client_assertion_type"] != ASSERTION_TYPE:
        raise invalid_request(f"client_assertion_type must be {ASSERTION_TYPE}")
    if "client_secret" in form:
        # RFC 6749 §2.3: "MUST NOT use more than one authentication method in each request";
        # §5.2: invalid_request ("utilizes more than one mechanism for authenticating").
        raise invalid_request("send the client_assertion alone: client_secret is a second "
                              "way of authenticating the client")


def _unsupported(requested: list[str]) -> list[str]:
    """The requested resource scopes naming a resource type this server does not have."""
    types = ((token, getattr(parse_scope(token), "resource_type", "*")) for token in requested)
    return [token for token, name in types if name != "*" and not is_supported(name)]


async def _unusable(store: ResourceStore, base: str, tokens: list[str]) -> dict[str, str]:
    """The granular scopes of `tokens` whose search runs on no type they name, with why."""
    unusable = {}
    for token in tokens:
        scope = parse_scope(token)
        if scope is not None and scope.query and (
                problem := await search_problem(store, base, scope)):
            unusable[token] = problem
    return unusable


def _never_granted(unsupported: list[str], unusable: dict[str, str]) -> str | None:
    """Why scopes naming a type this server does not have, or whose search it cannot run,
    grant nothing: the `invalid_scope` of a request for them alone."""
    if unsupported:
        return f"no such resource type on this server: {', '.join(unsupported)}"
    if unusable:
        reasons = "; ".join(f"{token}: {problem}" for token, problem in unusable.items())
        return f"a scope's search this server cannot run grants nothing ({reasons})"
    return None


async def ungrantable(store: ResourceStore, base: str, scope: str) -> str | None:
    """Why some of the space-separated scopes could never be granted, as the token endpoint
    says it (`invalid_scope`); None when each could be. `fhir-server client register`
    refuses such a registration, which no token request could ever use."""
    tokens = scope.split()
    unsupported = _unsupported(tokens)
    supported = [token for token in tokens if token not in unsupported]
    return _never_granted(unsupported, await _unusable(store, base, supported))


def _matching_key(keys: dict, header: dict) -> jwt.PyJWK | None:
    """The key of a JWKS that the assertion's `kid` names and that may verify its `alg`
    (`unfit_for`: a key for encryption, or for another algorithm, verifies nothing; a JWKS
    URL's keys were never checked at registration). SMART Backend Services, signature
    verification: "If no keys match, or more than one key matches, the verification fails"
    (`invalid_client` saying so)."""
    matching = fitting_keys(keys, header.get("kid"), header["alg"])
    if len(matching) > 1:
        raise invalid_client(f"the client's JWK Set has {len(matching)} keys with kid "
                             f"{header.get('kid')!r} fit for {header['alg']}: which one "
                             "signed is unknown, so none verifies")
    try:
        return jwt.PyJWK(matching[0], algorithm=header["alg"]) if matching else None
    except jwt.PyJWTError:
        return None


@dataclass
class TokenService:
    clients: ClientStore
    database: Database  # where granular scopes' searches are tried before they are granted
    key: SigningKey
    lifetime: int
    http: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        self._jwks: dict[str, tuple[float, dict]] = {}
        self._refetched: dict[str, float] = {}  # URL → last re-fetch on an unknown kid
        self._failed: dict[str, float] = {}  # URL → when its last read failed
        self._reading: dict[str, asyncio.Future[dict]] = {}  # URL → its read under way

    async def client_credentials(
        self, form: dict[str, str], token_url: str, issuer: str, audience: str
    ) -> dict:
        """The token response for a `client_credentials` request (see `token_form`),
        or OAuthError."""
        _check_request(form)
        client = await self._authenticate(form["client_assertion"], token_url)
        if form.get("client_id") not in (None, client["_id"]):
            # RFC 7521 §4.2: a client_id sent besides the assertion MUST identify its client.
            raise invalid_client("client_id names another client than the client_assertion")
        scope = await self._granted(form["scope"], client["scope"], audience)
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

    async def _granted(self, requested: str, registered: str, base: str) -> str:
        """The granted scope: a scope naming a resource type this server does not have, or
        whose search the API would refuse on every request (`search_problem`: an unknown
        parameter, `_count`, a criterion without a value), is left out like one outside the
        registration (RFC 6749 §3.3 lets the server grant less; the response's `scope` says
        what it granted); `invalid_scope` when nothing remains."""
        tokens = requested.split()
        unsupported = _unsupported(tokens)
        granted = grant(" ".join(t for t in tokens if t not in unsupported), registered)
        unusable = await _unusable(self.database.store(), base, granted.split())
        if scope := " ".join(t for t in granted.split() if t not in unusable):
            return scope
        raise OAuthError("invalid_scope", _never_granted(unsupported, unusable)
                         or "none of the requested scopes can be granted")

    async def _authenticate(self, assertion: str, token_url: str) -> dict:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise invalid_client("client_assertion is not a JWT") from None
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise invalid_client(
                f"client_assertion must be signed with one of {', '.join(ASSERTION_ALGORITHMS)}"
            )
        # SMART Backend Services: `typ` "Fixed value: JWT" (one left out is taken as JWT,
        # as RFC 7519 §5.1 makes it optional).
        if str(header.get("typ", "JWT")).upper() != "JWT":
            raise invalid_client(f"client_assertion typ must be JWT, not {header['typ']!r}")
        client_id = unverified.get("iss")
        client = await self.clients.client(client_id) if isinstance(client_id, str) else None
        if client is None:
            raise invalid_client("unknown client")
        key = await self._key(client, header)
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
            raise invalid_client(f"client_assertion refused: {bad}") from None
        if claims["sub"] != client_id:
            raise invalid_client("client_assertion sub must equal iss (the client_id)")
        if not isinstance(claims["exp"], int | float) or isinstance(claims["exp"], bool):
            # RFC 7519 §4.1.4: a NumericDate; PyJWT also takes a string of digits.
            raise invalid_client("client_assertion exp must be a number (NumericDate)")
        if claims["exp"] > time.time() + MAX_ASSERTION_LIFETIME + LEEWAY:
            raise invalid_client("client_assertion exp is more than 5 minutes ahead")
        if not claims["jti"]:
            # SMART: "A nonce string value that uniquely identifies this authentication JWT";
            # RFC 7519 §4.1.7: a collision of two clients' values must be negligible.
            raise invalid_client("client_assertion jti is empty: send a unique nonce")
        expires = datetime.fromtimestamp(claims["exp"] + LEEWAY, UTC)
        if not await self.clients.use_assertion(client_id, str(claims["jti"]), expires):
            raise invalid_client("client_assertion jti was already used")
        return client

    async def _key(self, client: dict, header: dict) -> jwt.PyJWK:
        """The client's key for the assertion: a `jku` header SHALL match the JWKS URL the
        client registered (http://hl7.org/fhir/smart-app-launch/backend-services.html#authentication-jwt-header-values);
        without one, the registered JWKS or JWKS URL."""
        if not isinstance(header.get("kid"), str):
            # client-confidential-asymmetric.html: the header's kid is required.
            raise invalid_client("the client_assertion's header has no kid: name the key "
                                  "of the client's JWK Set that signed it")
        jku = header.get("jku")
        if jku is not None and jku != client.get("jwks_url"):
            raise invalid_client("the assertion's jku is not the JWKS URL the client registered")
        if jku is None and client.get("jwks"):
            key = _matching_key(client["jwks"], header)
        else:
            key = await self._published_key(client["jwks_url"], header)
        if key is None:
            raise invalid_client("no key of the client matches the assertion's kid and alg")
        return key

    async def _published_key(self, url: str, header: dict) -> jwt.PyJWK | None:
        """The key at a JWKS URL, read again when the copy read in the last
        _JWKS_CACHE_SECONDS lacks it (the client rotated its key since), however young that
        copy is, unless a kid it lacked made us read it in the last JWKS_MIN_REFETCH_SECONDS."""
        cached = self._jwks.get(url)
        if cached is not None and time.monotonic() - cached[0] < _JWKS_CACHE_SECONDS:
            key = _matching_key(cached[1], header)
            if key is not None or not self._may_refetch(url):
                return key
        return _matching_key(await self._read(url), header)

    def _may_refetch(self, url: str) -> bool:
        """At most one re-fetch on an unknown kid per JWKS_MIN_REFETCH_SECONDS and URL:
        assertions naming made-up kids must not make us hammer it."""
        now, last = time.monotonic(), self._refetched.get(url)
        if last is not None and now - last < JWKS_MIN_REFETCH_SECONDS:
            return False
        self._refetched[url] = now
        return True

    async def _read(self, url: str) -> dict:
        """The JWKS at `url` read now, or the answer of its read under way; refused without
        a read for JWKS_MIN_REFETCH_SECONDS after a read of it failed. Whatever the reason
        to read it (none cached yet, a stale copy, a kid it lacks), assertions naming the
        client, which anyone can make up, must not make us read a failing or slow URL on
        every request."""
        if (reading := self._reading.get(url)) is not None:
            return await asyncio.shield(reading)
        failed = self._failed.get(url)
        if failed is not None and time.monotonic() - failed < JWKS_MIN_REFETCH_SECONDS:
            raise invalid_client("the client's JWKS could not be fetched (a read of it failed "
                                 "moments ago; it is read again after a few seconds)")
        reading = asyncio.ensure_future(self._fetch_jwks(url))
        self._reading[url] = reading
        reading.add_done_callback(lambda _: self._reading.pop(url, None))
        return await asyncio.shield(reading)

    async def _fetch_jwks(self, url: str) -> dict:
        """The JWKS at `url`, fetched now (and cached)."""
        try:
            if self.http is not None:
                jwks = await _read_jwks(self.http, url)
            else:
                async with httpx.AsyncClient() as http:
                    jwks = await _read_jwks(http, url)
        except (httpx.HTTPError, ValueError, RecursionError) as failed:  # nested too deep
            self._failed[url] = time.monotonic()
            raise invalid_client(str(failed) if isinstance(failed, _TooLarge)
                                 else "the client's JWKS could not be fetched") from None
        self._failed.pop(url, None)
        self._jwks[url] = (time.monotonic(), jwks)
        return jwks


class _TooLarge(ValueError):
    pass


async def _read_jwks(http: httpx.AsyncClient, url: str) -> dict:
    """The JSON at `url`, read no further than MAX_JWKS_BYTES: the document is the client's
    (another organisation's server), and what it holds is parsed on the event loop and kept
    for _JWKS_CACHE_SECONDS."""
    # backend-services.html#signature-verification: "a GET request for that URL, including
    # a header of Accept: application/json".
    async with http.stream("GET", url, headers={"Accept": "application/json"},
                           timeout=10) as response:
        response.raise_for_status()
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_JWKS_BYTES:
                raise _TooLarge(f"the client's JWKS is larger than {MAX_JWKS_BYTES} bytes")
    return json.loads(body)
