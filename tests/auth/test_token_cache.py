"""Verified bearer tokens are remembered until `exp`: a repeated token is not verified again,
but an expired one, or one whose key its issuer no longer publishes, is refused all the same.
JWKS fetching goes through an httpx.MockTransport and a fake clock: no network."""

import asyncio
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fhir_server.auth.tokens import JWKS_TTL_SECONDS, TokenVerifier, TrustedIssuer
from fhir_server.errors import Unauthorized

BROKER = "https://vneid-broker.example.vn"
JWKS_URI = f"{BROKER}/.well-known/jwks.json"
AUDIENCE = "https://fhir.benhvien.example.vn/fhir"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NEW_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(private_key, kid: str) -> dict:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**public, "kid": kid, "use": "sig"}


class Broker:
    """A JWKS endpoint whose keys the test rotates, and a clock the test moves."""

    def __init__(self):
        self.keys = [jwk(KEY, "k1")]
        self.now = 1000.0

    def verifier(self, **options) -> TokenVerifier:
        def jwks(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"keys": self.keys})

        http = httpx.AsyncClient(transport=httpx.MockTransport(jwks))
        issuer = TrustedIssuer(BROKER, jwks_uri=JWKS_URI, id_claim="SoDinhDanh")
        return TokenVerifier([issuer], {AUDIENCE}, http=http, clock=lambda: self.now, **options)


def token(lifetime: int = 300, subject: str = "vneid|8f3a") -> str:
    now = int(time.time())
    claims = {"iss": BROKER, "aud": AUDIENCE, "sub": subject, "SoDinhDanh": "001085012345",
              "scope": "user/Patient.rs", "iat": now, "nbf": now, "exp": now + lifetime}
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The tokens PyJWT parsed (header, claims or signature), in order."""
    parsed: list[str] = []
    decode = jwt.decode

    def counting(token, *args, **kwargs):
        parsed.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return parsed


def test_a_repeated_token_is_verified_once(decodes):
    check, bearer = Broker().verifier(), token()

    async def three_requests():
        return [await check.verify(bearer) for _ in range(3)]

    first, *again = asyncio.run(three_requests())
    assert first.personal_id == "001085012345"
    assert again == [first, first]
    assert decodes and decodes == [bearer] * len(decodes)
    verified_once = len(decodes)
    asyncio.run(check.verify(bearer))
    assert len(decodes) == verified_once


def test_a_remembered_token_is_refused_once_it_expires():
    check, bearer = Broker().verifier(leeway_seconds=0), token(lifetime=1)

    async def before_and_after_exp():
        await check.verify(bearer)
        await asyncio.sleep(2.1)
        await check.verify(bearer)

    with pytest.raises(Unauthorized, match=r"expired \(exp\)"):
        asyncio.run(before_and_after_exp())


def test_a_remembered_token_is_refused_once_its_key_leaves_the_jwks():
    broker = Broker()
    check, bearer = broker.verifier(), token()

    async def before_and_after_rotation():
        await check.verify(bearer)
        broker.keys = [jwk(NEW_KEY, "k2")]
        await check.verify(bearer)  # the JWKS fetched before is still current
        broker.now += JWKS_TTL_SECONDS
        await check.verify(bearer)

    with pytest.raises(Unauthorized, match="no key with kid 'k1'"):
        asyncio.run(before_and_after_rotation())


def test_the_least_recently_used_token_is_forgotten_first(decodes):
    check = Broker().verifier(cache_size=2)
    a, b, c = (token(subject=f"vneid|{name}") for name in "abc")

    async def requests(*tokens: str) -> None:
        for bearer in tokens:
            await check.verify(bearer)

    asyncio.run(requests(a, b, a, c))  # c pushes out b, the least recently used
    decodes.clear()
    asyncio.run(requests(a, c))
    assert decodes == []
    asyncio.run(requests(b))
    assert set(decodes) == {b}
