"""Bearer token verification (RFC 7515, RFC 7519; SMART App Launch and Backend Services).
JWKS fetching goes through an httpx.MockTransport and a fake clock: no network."""

import asyncio
import base64
import hashlib
import hmac
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_server.auth.keys import SigningKey, mint_token
from fhir_server.auth.scopes import Permissions
from fhir_server.auth.tokens import Principal, TokenVerifier, TrustedIssuer
from fhir_server.errors import Unauthorized

BROKER = "https://vneid-broker.example.vn"
JWKS_URI = f"{BROKER}/.well-known/jwks.json"
DEV = "urn:fhir-exchange-server:dev-issuer"
AUDIENCE = "https://fhir.benhvien.example.vn/fhir"
PERSON = "001085012345"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
DEV_KEY = SigningKey.generate()


def rsa_jwk(private_key, kid: str) -> dict:
    return {**jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True),
            "kid": kid, "use": "sig"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Broker:
    """A VNeID broker's JWKS endpoint, counting the fetches."""

    def __init__(self, *jwks: dict, status: int = 200):
        self.keys = list(jwks)
        self.status = status
        self.fetches = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URI
        self.fetches += 1
        return httpx.Response(self.status, json={"keys": self.keys})


def verifier(broker: Broker, clock: Clock | None = None, **options) -> TokenVerifier:
    issuers = [
        TrustedIssuer(BROKER, jwks_uri=JWKS_URI, id_claim="SoDinhDanh"),
        TrustedIssuer(DEV, jwks=DEV_KEY.public_jwks(), issues_client_tokens=True),
    ]
    http = httpx.AsyncClient(transport=httpx.MockTransport(broker.handle))
    return TokenVerifier(issuers, {AUDIENCE, "urn:other"}, http=http, clock=clock or Clock(),
                         **options)


def claims(**changes) -> dict:
    now = int(time.time())
    base = {"iss": BROKER, "aud": AUDIENCE, "sub": "vneid|8f3a", "SoDinhDanh": PERSON,
            "name": "Nguyễn Văn An", "scope": "openid user/Patient.rs", "iat": now, "nbf": now,
            "exp": now + 300}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def broker_token(kid: str = "k1", key=RSA_KEY, alg: str = "RS256", **changes) -> str:
    return jwt.encode(claims(**changes), key, algorithm=alg, headers={"kid": kid})


def verify(check: TokenVerifier, token: str) -> Principal:
    return asyncio.run(check.verify(token))


def refusal(check: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as raised:
        verify(check, token)
    assert raised.value.status == 401
    assert raised.value.headers["WWW-Authenticate"].startswith("Bearer")
    return raised.value.diagnostics


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def reheader(token: str, **changes) -> str:
    """The token with header parameters changed (which breaks nothing checked before the key)."""
    header, rest = token.split(".", 1)
    return f"{b64({**jwt.get_unverified_header(token), **changes})}.{rest}"


@pytest.fixture
def broker() -> Broker:
    return Broker(rsa_jwk(RSA_KEY, "k1"))


# Happy paths -------------------------------------------------------------------------------

def test_a_person_identified_by_the_brokers_sodinhdanh_claim(broker):
    principal = verify(verifier(broker), broker_token())
    assert principal == Principal(
        issuer=BROKER, subject="vneid|8f3a", personal_id=PERSON, client_id=None,
        name="Nguyễn Văn An", scopes=Permissions.from_text("user/Patient.rs"),
        scope_text="openid user/Patient.rs",
    )
    assert principal.who == PERSON
    assert principal.scopes.allows("Patient", "s") and not principal.scopes.allows("Patient", "c")


def test_a_person_identified_by_sub(broker):
    token = mint_token(DEV_KEY, DEV, AUDIENCE, PERSON, "user/*.cruds", 300, name="Trần Thị Bình")
    principal = verify(verifier(broker), token)
    assert (principal.issuer, principal.subject, principal.personal_id) == (DEV, PERSON, PERSON)
    assert principal.name == "Trần Thị Bình" and principal.client_id is None
    assert principal.scopes.allows("Encounter", "d")


def test_a_backend_services_client(broker):
    token = mint_token(DEV_KEY, DEV, AUDIENCE, "his-bachmai", "system/*.rs", 300,
                       extra={"client_id": "his-bachmai"})
    principal = verify(verifier(broker), token)
    assert (principal.client_id, principal.personal_id, principal.who) == (
        "his-bachmai", None, "his-bachmai")
    assert principal.scopes.text() == "system/*.rs"


def test_an_issuer_of_people_cannot_vouch_for_a_client(broker):
    # A VNeID broker speaks for people: a client_id without a personal ID is no one.
    reason = refusal(verifier(broker), broker_token(SoDinhDanh=None, client_id="lis-01"))
    assert "SoDinhDanh" in reason


def test_aud_may_be_a_list_and_times_have_leeway(broker):
    now = int(time.time())
    token = broker_token(aud=["urn:someone-else", AUDIENCE], exp=now - 30, nbf=now + 30,
                         iat=now + 30)
    assert verify(verifier(broker), token).personal_id == PERSON


def test_ec_and_pss_keys(broker):
    ec_key = ec.generate_private_key(ec.SECP384R1())
    ec_jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "e"}
    broker.keys.append(ec_jwk)
    check = verifier(broker)
    assert verify(check, broker_token("e", ec_key, "ES384")).personal_id == PERSON
    assert verify(check, broker_token("k1", RSA_KEY, "PS256")).personal_id == PERSON


def test_no_scope_claim_grants_nothing(broker):
    principal = verify(verifier(broker), broker_token(scope=None))
    assert principal.scope_text == "" and principal.scopes.text() == ""


# Refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c.d", "..", ".payload.sig", "!!!.###.$$$", "e30.e30"]
)
def test_not_a_compact_jws(broker, token):
    assert "compact JWS" in refusal(verifier(broker), token) or "malformed" in refusal(
        verifier(broker), token)


def test_garbled_parts(broker):
    check = verifier(broker)
    for garbled in (b"not json", b"[1]"):
        assert "malformed JWS (its header, the first part, is not the base64url" in refusal(
            check, f"{b64(garbled)}.{b64({})}.sig")
    header, said = b64({"alg": "RS256", "kid": "k1"}), "(its payload, the second part, is not"
    assert "malformed JWS " + said in refusal(check, f"{header}.%%%.c2ln")
    for garbled in (b"[1, 2]", b"not json"):
        assert "malformed claims " + said in refusal(check, f"{header}.{b64(garbled)}.c2ln")


def test_alg_none_is_refused(broker):
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    assert "alg none" in refusal(verifier(broker), unsigned)
    assert "alg none" in refusal(verifier(broker), reheader(broker_token(), alg="none"))
    assert "'None' is not one of" in refusal(verifier(broker), reheader(unsigned, alg="None"))
    assert "None is not one of" in refusal(verifier(broker), f"{b64({})}.{b64(claims())}.")


def test_hs256_signed_with_the_public_key_is_refused(broker):
    """The key-confusion forgery: the public key, known to all, as an HMAC secret."""
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{b64(claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"
    assert "symmetric algorithm HS256" in refusal(verifier(broker), forged)
    assert broker.fetches == 0


def test_symmetric_or_unsigned_algorithms_cannot_be_configured(broker):
    for algorithms in (["RS256", "HS256"], ["none"], ["EdDSA"]):
        with pytest.raises(ValueError, match="only RSA and EC signature algorithms"):
            verifier(broker, algorithms=algorithms)


def test_algorithms_outside_the_configured_list(broker):
    check = verifier(broker, algorithms=["ES256"])
    assert "algorithm 'RS256' is not one of ES256" in refusal(check, broker_token())


def test_critical_header_extensions_are_refused(broker):
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256",
                       headers={"kid": "k1", "crit": ["exp"], "exp": 1})
    assert "crit" in refusal(verifier(broker), token)


def test_unknown_or_missing_issuer(broker):
    assert "issuer 'https://evil.example' is not trusted" in refusal(
        verifier(broker), broker_token(iss="https://evil.example"))
    assert "no iss claim" in refusal(verifier(broker), broker_token(iss=None))


def test_unknown_or_missing_kid(broker):
    check = verifier(broker)
    assert f"no key with kid 'k9' in the JWKS of {BROKER}" in refusal(check, broker_token("k9"))
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256")
    assert "names no key (kid)" in refusal(check, token)


def test_bad_signature(broker):
    check = verifier(broker)
    assert "signature does not verify" in refusal(check, broker_token(key=OTHER_RSA_KEY))
    head, payload, signature = broker_token().split(".")
    tampered = f"{head}.{b64(claims(SoDinhDanh='079193000001'))}.{signature}"
    assert "signature does not verify" in refusal(check, tampered)


def test_key_type_must_fit_the_algorithm(broker):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "e"}
    broker.keys.append(ec_jwk)
    check = verifier(broker)
    token = broker_token("e", ec_key, "ES256")
    assert verify(check, token).personal_id == PERSON
    assert "does not fit ES384, which needs an EC key on curve P-384" in refusal(
        check, reheader(token, alg="ES384"))
    assert "does not fit RS256, which needs an RSA key" in refusal(
        check, reheader(token, alg="RS256"))
    assert "does not fit ES256, which needs an EC key on curve P-256" in refusal(
        check, reheader(broker_token(), alg="ES256"))


@pytest.mark.parametrize("published", [{"alg": "RS512"}, {"use": "enc"},
                                       {"key_ops": ["encrypt"]}, {"key_ops": "verify"}])
def test_a_key_published_for_another_use_or_algorithm(broker, published):
    """RFC 7517 §4.2-4.4: `use`, `key_ops` (an array) and `alg` say what a key is for."""
    broker.keys = [{**rsa_jwk(RSA_KEY, "k1"), **published}]
    assert "not published for RS256" in refusal(verifier(broker), broker_token())


def test_a_jwks_leaking_private_keys_is_not_trusted(broker):
    private = jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY, as_dict=True)
    broker.keys = [{**private, "kid": "k1"}]
    diagnostics = refusal(verifier(broker), broker_token())
    assert "private key material" in diagnostics and private["d"][:16] not in diagnostics


def test_an_invalid_jwk(broker):
    broker.keys = [{**rsa_jwk(RSA_KEY, "k1"), "n": "***"}, {"kty": "RSA", "kid": "k2"}]
    check = verifier(broker)
    assert "key 'k1' is not a valid JWK" in refusal(check, broker_token())
    assert "key 'k2' is not a valid JWK" in refusal(check, broker_token("k2"))


def test_keys_without_a_kid_cannot_be_chosen(broker):
    broker.keys = [{name: value for name, value in rsa_jwk(RSA_KEY, "k1").items() if name != "kid"}]
    assert "no key with kid 'k1'" in refusal(verifier(broker), broker_token())


def test_expired_and_not_yet_valid(broker):
    now = int(time.time())
    check = verifier(broker)
    assert "expired (exp)" in refusal(check, broker_token(exp=now - 120))
    assert "not yet valid (nbf)" in refusal(check, broker_token(nbf=now + 120))
    assert "not yet valid (iat)" in refusal(check, broker_token(iat=now + 120, nbf=None))
    assert "no exp claim" in refusal(check, broker_token(exp=None))


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_times_must_be_numbers(broker, name):
    """RFC 7519 §2: a NumericDate is a JSON number (PyJWT read "9999999999" as one)."""
    value = int(time.time()) + (600 if name == "exp" else -60)
    assert "NumericDate" in refusal(verifier(broker), broker_token(**{name: str(value)}))
    refusal(verifier(broker), broker_token(**{name: True}))  # refused, whichever check first


def test_wrong_or_missing_audience(broker):
    check = verifier(broker)
    assert "audience (aud) is not this server" in refusal(check, broker_token(aud="urn:nope"))
    assert "audience (aud) is not this server" in refusal(check, broker_token(aud=["a", "b"]))
    assert "no aud claim" in refusal(check, broker_token(aud=None))


@pytest.mark.parametrize(
    ("person", "reason"),
    [
        ("12345", "12 ASCII digits"),
        ("003085012345", "not a province code"),
        ("001985012345", "in the future"),
        (1085012345, "no SoDinhDanh claim"),
        (None, "no SoDinhDanh claim"),
    ],
)
def test_invalid_personal_id(broker, person, reason):
    assert reason in refusal(verifier(broker), broker_token(SoDinhDanh=person))


def test_a_client_token_that_also_names_an_invalid_person_is_refused(broker):
    token = broker_token(client_id="app-1", SoDinhDanh="12345")
    assert "12 ASCII digits" in refusal(verifier(broker), token)


def test_scope_claim_must_be_a_string(broker):
    assert "scope claim" in refusal(verifier(broker), broker_token(scope=["user/*.rs"]))


def test_diagnostics_never_contain_key_material(broker):
    public = rsa_jwk(RSA_KEY, "k1")
    check = verifier(broker)
    tokens = [broker_token(key=OTHER_RSA_KEY), broker_token("k9"), broker_token(aud="x"),
              reheader(broker_token(), alg="ES256"), reheader(broker_token(), alg="PS384")]
    for token in tokens:
        with pytest.raises(Unauthorized) as raised:
            verify(check, token)
        assert public["n"][:16] not in raised.value.diagnostics


def test_trusted_issuer_needs_exactly_one_key_source():
    with pytest.raises(ValueError, match="exactly one"):
        TrustedIssuer(BROKER)
    with pytest.raises(ValueError, match="exactly one"):
        TrustedIssuer(BROKER, jwks_uri=JWKS_URI, jwks={"keys": []})
    with pytest.raises(ValueError, match="'keys' array"):
        TokenVerifier([TrustedIssuer(BROKER, jwks={"kty": "RSA"})], {AUDIENCE})
    with pytest.raises(ValueError, match="audience"):
        TokenVerifier([], set())


# JWKS caching and key rotation -------------------------------------------------------------

def test_keys_are_fetched_once_and_cached(broker):
    clock = Clock()
    check = verifier(broker, clock)
    for _ in range(3):
        verify(check, broker_token())
        clock.now += 100
    assert broker.fetches == 1
    clock.now += 400  # past the 10 minute cache lifetime
    verify(check, broker_token())
    assert broker.fetches == 2


def test_concurrent_requests_share_one_fetch(broker):
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)
        return broker.handle(request)

    check = TokenVerifier([TrustedIssuer(BROKER, jwks_uri=JWKS_URI, id_claim="SoDinhDanh")],
                          {AUDIENCE}, http=httpx.AsyncClient(transport=httpx.MockTransport(slow)))

    async def many() -> list[Principal]:
        return await asyncio.gather(*(check.verify(broker_token()) for _ in range(10)))

    assert {principal.who for principal in asyncio.run(many())} == {PERSON}
    assert broker.fetches == 1


def test_a_rotated_key_is_fetched_and_unknown_kids_are_rate_limited(broker):
    clock = Clock()
    check = verifier(broker, clock)
    verify(check, broker_token("k1"))
    clock.now += 31
    broker.keys = [rsa_jwk(OTHER_RSA_KEY, "k2")]  # rotation
    assert verify(check, broker_token("k2", OTHER_RSA_KEY)).personal_id == PERSON
    assert broker.fetches == 2
    for _ in range(5):  # a flood of unknown kids costs no fetch within 30 s
        assert "no key with kid 'k3'" in refusal(check, broker_token("k3"))
        clock.now += 5
    assert broker.fetches == 2
    clock.now += 5
    assert "no key with kid 'k3'" in refusal(check, broker_token("k3"))
    assert broker.fetches == 3
    assert "no key with kid 'k1'" in refusal(check, broker_token("k1"))  # the retired key
    assert broker.fetches == 3


def test_rotation_right_after_a_fetch_waits_for_the_interval(broker):
    clock = Clock()
    check = verifier(broker, clock)
    verify(check, broker_token("k1"))
    broker.keys.append(rsa_jwk(OTHER_RSA_KEY, "k2"))
    assert "no key with kid 'k2'" in refusal(check, broker_token("k2", OTHER_RSA_KEY))
    clock.now += 30
    assert verify(check, broker_token("k2", OTHER_RSA_KEY)).personal_id == PERSON


def test_an_unreachable_jwks(broker):
    broker.status = 503
    check = verifier(broker)
    diagnostics = refusal(check, broker_token())
    assert f"the JWKS of {BROKER} could not be fetched (HTTPStatusError)" in diagnostics


def test_keys_fetched_before_stay_in_use_while_the_jwks_is_unreachable(broker):
    clock = Clock()
    check = verifier(broker, clock)
    verify(check, broker_token())
    broker.status = 500
    clock.now += 700
    assert verify(check, broker_token()).personal_id == PERSON
    assert broker.fetches == 2


def test_a_malformed_jwks_document(broker):
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>")

    check = TokenVerifier([TrustedIssuer(BROKER, jwks_uri=JWKS_URI, id_claim="SoDinhDanh")],
                          {AUDIENCE}, http=httpx.AsyncClient(transport=httpx.MockTransport(handle)))
    assert "could not be fetched (JSONDecodeError)" in refusal(check, broker_token())


def test_without_an_injected_client_the_verifier_makes_its_own(monkeypatch, broker):
    transport = httpx.MockTransport(broker.handle)
    real_client = httpx.AsyncClient

    def client(**options):
        return real_client(transport=transport, **options)

    monkeypatch.setattr(httpx, "AsyncClient", client)
    check = TokenVerifier([TrustedIssuer(BROKER, jwks_uri=JWKS_URI, id_claim="SoDinhDanh")],
                          {AUDIENCE})
    assert verify(check, broker_token()).personal_id == PERSON
