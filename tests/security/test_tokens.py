"""Bearer tokens over HTTP: every FHIR request needs a valid JWT of a trusted issuer (401 with
an OperationOutcome and a `WWW-Authenticate: Bearer` challenge otherwise, and nothing
written); the public endpoints need none; issuers naming the person in another claim
(`SoDinhDanh`); JWKS fetched from a URL, cached, and re-fetched on key rotation."""

import json
import time
import uuid
from collections.abc import Callable

import httpx
import jwt
import pytest
from api.helpers import CCCD, FHIR_HEADERS, FHIR_JSON, JSON_PATCH
from cryptography.hazmat.primitives.asymmetric import ec

from fhir_server.auth import tokens
from fhir_server.auth.keys import SigningKey, mint_token
from security.helpers import (
    TEST_AUDIENCE,
    TEST_PERSON,
    JwksServer,
    assert_unauthorized,
    bearer,
    claims,
    ec_public_jwk,
    es256_signed,
    hmac_signed,
    own_server,
    patient_resource,
    personal_id,
    public_pem,
    unsigned,
    wait_until,
)

OTHER_SERVER = "http://benhvien-khac.example/fhir"


def _sign(issuer, payload: dict) -> str:
    """Signed by the trusted test issuer's own key (so only the claims are wrong)."""
    return issuer.key.sign(payload)


def _tampered(issuer) -> str:
    header, _, signature = issuer.token(scope="user/Patient.rs").split(".")
    payload = claims(scope="system/*.cruds")
    forged_payload = unsigned({}, payload).split(".")[1]
    return f"{header}.{forged_payload}.{signature}"


def _truncated(issuer) -> str:
    token = issuer.token()
    return token[: token.rindex(".") + 10]


def _embedded_jwk(issuer) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    header = {"alg": "ES256", "typ": "JWT", "kid": issuer.key.kid,
              "jwk": {**ec_public_jwk(key), "kid": issuer.key.kid}}
    return jwt.encode(claims(), key, algorithm="ES256", headers=header)


def _now() -> int:
    return int(time.time())


# Each case: the Authorization header value (None: no header) for a request that must be
# refused with 401.
REFUSED: dict[str, Callable[[object], str | None]] = {
    "no header": lambda issuer: None,
    "basic scheme": lambda issuer: "Basic ZGFuZzpzZWNyZXQ=",
    "token scheme": lambda issuer: f"Token {issuer.token()}",
    "no scheme": lambda issuer: issuer.token(),
    "bearer without token": lambda issuer: "Bearer",
    "not a jwt": lambda issuer: "Bearer khong-phai-jwt",
    "three garbage parts": lambda issuer: "Bearer abc.def.ghi",
    "truncated signature": lambda issuer: f"Bearer {_truncated(issuer)}",
    "tampered payload": lambda issuer: f"Bearer {_tampered(issuer)}",
    "expired": lambda issuer: "Bearer " + _sign(
        issuer, claims(iat=_now() - 7200, nbf=_now() - 7200, exp=_now() - 3600)),
    "expired beyond the leeway": lambda issuer: "Bearer " + _sign(
        issuer, claims(iat=_now() - 900, nbf=_now() - 900, exp=_now() - 120)),
    "not yet valid": lambda issuer: "Bearer " + _sign(
        issuer, claims(nbf=_now() + 600, exp=_now() + 4000)),
    "no exp": lambda issuer: "Bearer " + _sign(issuer, claims(exp=None)),
    "wrong audience": lambda issuer: "Bearer " + _sign(issuer, claims(audience=OTHER_SERVER)),
    "no audience": lambda issuer: "Bearer " + _sign(issuer, claims(aud=None)),
    "unknown issuer": lambda issuer: "Bearer " + _sign(
        issuer, claims(issuer="https://vneid-gia-mao.test")),
    "no issuer": lambda issuer: "Bearer " + _sign(issuer, claims(iss=None)),
    "alg none": lambda issuer: "Bearer " + unsigned(
        {"alg": "none", "typ": "JWT", "kid": issuer.key.kid}, claims()),
    "alg None": lambda issuer: "Bearer " + unsigned(
        {"alg": "None", "typ": "JWT", "kid": issuer.key.kid}, claims()),
    "HS256 keyed with the public JWK": lambda issuer: "Bearer " + hmac_signed(
        {"alg": "HS256", "typ": "JWT", "kid": issuer.key.kid}, claims(),
        json.dumps(issuer.key.public_jwk).encode()),
    "HS256 keyed with the published JWKS entry": lambda issuer: "Bearer " + hmac_signed(
        {"alg": "HS256", "typ": "JWT", "kid": issuer.key.kid}, claims(),
        json.dumps(issuer.key.public_jwks()["keys"][0]).encode()),
    "HS256 keyed with the public key PEM": lambda issuer: "Bearer " + hmac_signed(
        {"alg": "HS256", "typ": "JWT", "kid": issuer.key.kid}, claims(), public_pem(issuer.key)),
    "RS256 header on the EC key": lambda issuer: "Bearer " + unsigned(
        {"alg": "RS256", "typ": "JWT", "kid": issuer.key.kid}, claims(), b"\x01" * 256),
    "another key with the same kid": lambda issuer: "Bearer " + es256_signed(
        claims(), issuer.key.kid)[0],
    "unknown kid": lambda issuer: "Bearer " + es256_signed(claims(), "khoa-la")[0],
    "no kid": lambda issuer: "Bearer " + es256_signed(claims(), None)[0],
    "own key embedded in the header (jwk)": lambda issuer: f"Bearer {_embedded_jwk(issuer)}",
    "sub with century digit 9 (born 2385)": lambda issuer: "Bearer " + issuer.token(
        subject="001985012345"),
    "sub born in 2085 (century digit 2)": lambda issuer: "Bearer " + issuer.token(
        subject="001285012345"),
    "sub of 11 digits": lambda issuer: "Bearer " + issuer.token(subject="00108501234"),
    "sub of 13 digits": lambda issuer: "Bearer " + issuer.token(subject="0010850123456"),
    "sub with province 000": lambda issuer: "Bearer " + issuer.token(subject="000085012345"),
    "sub with a letter": lambda issuer: "Bearer " + issuer.token(subject="00108501234A"),
    "sub with non-ASCII digits": lambda issuer: "Bearer " + issuer.token(
        subject="٠٠١٠٨٥٠١٢٣٤٥"),
    "no sub": lambda issuer: "Bearer " + _sign(issuer, claims(sub=None)),
    "scope not a string": lambda issuer: "Bearer " + _sign(
        issuer, claims(scope=["user/*.cruds"])),
}


def _headers(authorization: str | None, **more: str) -> dict[str, str]:
    headers = {"Accept": FHIR_JSON, **more}
    if authorization is not None:
        headers["Authorization"] = authorization
    return headers


def _count_patients(client: httpx.Client, value: str) -> int:
    response = client.get("/Patient", params={"identifier": f"{CCCD}|{value}"})
    assert response.status_code == 200, response.text
    return len(response.json().get("entry", []))


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_token_gets_401_and_writes_nothing(server, client, issuer, case):
    authorization = REFUSED[case](issuer)
    search = httpx.get(f"{server.base}/Patient", headers=_headers(authorization), timeout=30)
    assert_unauthorized(search)
    value = personal_id()
    created = httpx.post(f"{server.base}/Patient", json=patient_resource(value),
                         headers=_headers(authorization, **FHIR_HEADERS), timeout=30)
    assert_unauthorized(created)
    assert "location" not in created.headers
    assert _count_patients(client, value) == 0


@pytest.mark.parametrize("authorization, challenge", [
    (None, 'Bearer realm="fhir"'),
    ("Basic dXNlcjpwYXNz", 'Bearer realm="fhir"'),
    ("Bearer khong-phai-jwt", 'Bearer realm="fhir", error="invalid_token"'),
], ids=["no-header", "other-scheme", "bad-token"])
def test_challenge_names_an_error_only_for_a_bearer_token_sent(server, authorization,
                                                               challenge):
    """RFC 6750 §3.1: a request with no bearer token at all SHOULD NOT get an error code in the
    challenge; one whose token is refused gets `invalid_token`."""
    response = httpx.get(f"{server.base}/Patient", headers=_headers(authorization), timeout=30)
    assert_unauthorized(response)
    assert response.headers["www-authenticate"] == challenge


def test_valid_token_is_accepted(server, issuer):
    response = httpx.get(f"{server.base}/Patient", headers=bearer(issuer.token()), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "searchset"


@pytest.mark.parametrize("case", ["exp 30 s ago", "nbf 30 s ahead"])
def test_clock_skew_within_the_leeway_is_tolerated(server, issuer, case):
    now = _now()
    if case == "exp 30 s ago":
        payload = claims(iat=now - 600, nbf=now - 600, exp=now - 30)
    else:
        payload = claims(iat=now + 30, nbf=now + 30, exp=now + 3600)
    response = httpx.get(f"{server.base}/Patient", headers=bearer(issuer.key.sign(payload)),
                         timeout=30)
    assert response.status_code == 200, response.text


def test_token_for_another_server_is_refused_whatever_the_host_header(server, issuer):
    """`aud` must name this server: a client-chosen Host header must not make a token minted
    for another hospital's server acceptable here."""
    token = issuer.key.sign(claims(audience=OTHER_SERVER))
    response = httpx.get(f"{server.base}/Patient", timeout=30,
                         headers={**bearer(token), "Host": "benhvien-khac.example"})
    assert_unauthorized(response)


def _every_interaction(base: str) -> list[tuple[str, str, dict]]:
    patient = patient_resource(id="khong-token")
    return [
        ("GET", f"{base}/Patient/khong-token", {}),
        ("GET", f"{base}/Patient/khong-token/_history/1", {}),
        ("GET", f"{base}/Patient/khong-token/_history", {}),
        ("GET", f"{base}/Patient/_history", {}),
        ("GET", f"{base}/_history", {}),
        ("GET", f"{base}/Patient/khong-token/Encounter", {}),
        ("GET", f"{base}/AuditEvent", {}),
        ("POST", f"{base}/Patient/_search", {"data": {"name": "an"}}),
        ("PUT", f"{base}/Patient/khong-token", {"json": patient, "headers": FHIR_HEADERS}),
        ("PUT", f"{base}/Patient?identifier=x", {"json": patient, "headers": FHIR_HEADERS}),
        ("PATCH", f"{base}/Patient/khong-token",
         {"content": b"[]", "headers": {"Content-Type": JSON_PATCH}}),
        ("DELETE", f"{base}/Patient/khong-token", {}),
        ("DELETE", f"{base}/Patient?identifier=x", {}),
        ("POST", f"{base}", {"json": {"resourceType": "Bundle", "type": "batch", "entry": []},
                             "headers": FHIR_HEADERS}),
        ("POST", f"{base}/$reindex", {}),
    ]


def test_every_fhir_interaction_needs_a_token(server, client):
    client.put("/Patient/khong-token", json=patient_resource(id="khong-token"),
               headers=FHIR_HEADERS).raise_for_status()
    for method, url, options in _every_interaction(server.base):
        response = httpx.request(method, url, timeout=30, **options)
        assert response.status_code == 401, (method, url, response.status_code, response.text)
        assert_unauthorized(response)
    still = client.get("/Patient/khong-token/_history")
    assert still.status_code == 200 and still.json()["total"] == 1, still.text


@pytest.mark.parametrize("authorization", [None, "Bearer khong-phai-jwt"])
def test_metadata_and_smart_configuration_need_no_token(server, authorization):
    headers = _headers(authorization)
    metadata = httpx.get(f"{server.base}/metadata", headers=headers, timeout=30)
    assert metadata.status_code == 200, metadata.text
    statement = metadata.json()
    assert statement["resourceType"] == "CapabilityStatement"
    security = statement["rest"][0]["security"]
    codes = [c["code"] for s in security["service"] for c in s["coding"]]
    assert "SMART-on-FHIR" in codes, security
    # SMART 1's oauth-uris needs an authorize endpoint: discovery is smart-configuration's.
    assert "extension" not in security, security

    smart = httpx.get(f"{server.base}/.well-known/smart-configuration", headers=headers,
                      timeout=30)
    assert smart.status_code == 200, smart.text
    assert smart.headers["content-type"].startswith("application/json")
    config = smart.json()
    assert config["token_endpoint"] == f"{server.base}/auth/token"
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]
    algorithms = config["token_endpoint_auth_signing_alg_values_supported"]
    assert {"RS384", "ES384"} <= set(algorithms), algorithms
    assert not [a for a in algorithms if a.lower() == "none" or a.startswith("HS")], algorithms
    assert "client_credentials" in config["grant_types_supported"]
    assert "permission-v2" in config["capabilities"]
    assert "client-confidential-asymmetric" in config["capabilities"]
    # user/ scopes are granted and enforced: the capability says so.
    assert "permission-user" in config["capabilities"]
    # What this token endpoint grants: system/ scopes (a user/ one was refused to all).
    assert "system/*.rs" in config["scopes_supported"]
    assert all(scope.startswith("system/") for scope in config["scopes_supported"])
    # REQUIRED with S256, never plain; `issuer` only with sso-openid-connect (SMART 2.x).
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert "issuer" not in config and "sso-openid-connect" not in config["capabilities"]
    # JSON "regardless of Accept headers provided in the request".
    for accept in ("text/html,application/xhtml+xml", "text/plain", "application/fhir+xml"):
        again = httpx.get(f"{server.base}/.well-known/smart-configuration",
                          headers={"Accept": accept}, timeout=30)
        assert again.status_code == 200 and again.json() == config, accept
    # The token endpoint takes POST only (RFC 6749 §3.2), with no bearer token asked for.
    by_get = httpx.get(config["token_endpoint"], timeout=30)
    assert (by_get.status_code, by_get.headers["allow"]) == (405, "POST"), by_get.text
    assert by_get.json()["error"] == "invalid_request"

    keys = httpx.get(config["jwks_uri"], timeout=30)
    assert keys.status_code == 200, keys.text
    published = keys.json()["keys"]
    assert published and all("d" not in key for key in published), published


# ------------------------------------------------ an issuer putting the ID in SoDinhDanh

BROKER = "https://vneid-broker-sodinhdanh.test"
BROKER_KEY = SigningKey.generate()


def _broker_token(subject: str = "a7f3c2e9-opaque", **extra) -> str:
    return mint_token(BROKER_KEY, BROKER, TEST_AUDIENCE, subject, "user/*.cruds", 3600,
                      name="Lê Thị Mai", extra=extra or None)


@pytest.fixture(scope="module")
def broker_server(mongo_uri, request, tmp_path_factory, issuer):
    trusted = [issuer.trusted(),
               {"issuer": BROKER, "jwks": BROKER_KEY.public_jwks(), "id_claim": "SoDinhDanh"}]
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    trusted_issuers=trusted) as running:
        yield running


def test_personal_id_in_sodinhdanh_with_an_opaque_sub_is_accepted(broker_server):
    person = personal_id(1992, female=True, province="079")
    headers = bearer(_broker_token(SoDinhDanh=person))
    assert httpx.get(f"{broker_server.base}/Patient", headers=headers,
                     timeout=30).status_code == 200
    created = httpx.post(f"{broker_server.base}/Patient", json=patient_resource(),
                         headers={**headers, **FHIR_HEADERS}, timeout=30)
    assert created.status_code == 201, created.text
    # The person is the SoDinhDanh number, not the opaque sub: the audit trail says so.
    def events():
        found = httpx.get(f"{broker_server.base}/AuditEvent",
                          params={"agent:identifier": f"{CCCD}|{person}", "subtype": "create"},
                          headers=headers, timeout=30)
        assert found.status_code == 200, found.text
        return found.json().get("entry", [])

    entries = wait_until(events)
    assert entries, "no AuditEvent for the SoDinhDanh person"
    who = entries[0]["resource"]["agent"][0]["who"]
    assert who["identifier"] == {"system": CCCD, "value": person}, who


@pytest.mark.parametrize("case", [
    "no SoDinhDanh",
    "personal ID in sub only",
    "SoDinhDanh invalid",
    "SoDinhDanh a number",
    "access token (RFC 9068) with client_id and no SoDinhDanh",
])
def test_token_without_a_valid_sodinhdanh_is_refused(broker_server, case):
    token = {
        "no SoDinhDanh": lambda: _broker_token(),
        "personal ID in sub only": lambda: _broker_token(subject=TEST_PERSON),
        "SoDinhDanh invalid": lambda: _broker_token(SoDinhDanh="001985012345"),
        "SoDinhDanh a number": lambda: _broker_token(SoDinhDanh=1085012345),
        # A broker's JWT access token always names the app it was issued to (RFC 9068
        # client_id); without the personal ID it speaks for no person, and this server's
        # backend clients get their tokens from its own token endpoint only.
        "access token (RFC 9068) with client_id and no SoDinhDanh":
            lambda: _broker_token(subject="a7f3c2e9-opaque", client_id="ung-dung-vneid"),
    }[case]()
    response = httpx.get(f"{broker_server.base}/Patient", headers=bearer(token), timeout=30)
    assert_unauthorized(response)
    created = httpx.post(f"{broker_server.base}/Patient", json=patient_resource(),
                         headers={**bearer(token), **FHIR_HEADERS}, timeout=30)
    assert_unauthorized(created)


def test_the_default_issuer_still_reads_sub_on_that_server(broker_server, issuer):
    response = httpx.get(f"{broker_server.base}/Patient", headers=bearer(issuer.token()),
                         timeout=30)
    assert response.status_code == 200, response.text
    sodinhdanh_only = issuer.token(subject="a7f3c2e9-opaque", SoDinhDanh=TEST_PERSON)
    assert_unauthorized(httpx.get(f"{broker_server.base}/Patient",
                                  headers=bearer(sodinhdanh_only), timeout=30))


# ------------------------------------------------ JWKS from a URL: cache and rotation

ROTATING = "https://vneid-broker-rotating.test"
CACHED = "https://vneid-broker-cached.test"


@pytest.fixture(scope="module")
def jwks_keys():
    return {"old": SigningKey.generate(), "new": SigningKey.generate(),
            "cached": SigningKey.generate()}


@pytest.fixture(scope="module")
def jwks_servers(jwks_keys):
    with JwksServer(jwks_keys["old"].public_jwks()) as rotating, \
            JwksServer(jwks_keys["cached"].public_jwks()) as cached:
        yield {"rotating": rotating, "cached": cached}


@pytest.fixture(scope="module")
def jwks_server(mongo_uri, request, tmp_path_factory, issuer, jwks_servers):
    trusted = [issuer.trusted(),
               {"issuer": ROTATING, "jwks_uri": jwks_servers["rotating"].url},
               {"issuer": CACHED, "jwks_uri": jwks_servers["cached"].url}]
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    trusted_issuers=trusted) as running:
        yield running


def _token_of(key: SigningKey, issuer_url: str) -> str:
    return mint_token(key, issuer_url, TEST_AUDIENCE, personal_id(), "user/*.rs", 3600)


def _search(base: str, token: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{base}/Patient", headers={**bearer(token), **headers}, timeout=30)


def test_jwks_url_is_fetched_once_and_cached(jwks_server, jwks_servers, jwks_keys):
    served = jwks_servers["cached"]
    for _ in range(3):
        response = _search(jwks_server.base, _token_of(jwks_keys["cached"], CACHED))
        assert response.status_code == 200, response.text
    assert served.hits == 1


def _fetches_for_new_hosts(base: str, served, jwks_keys) -> int:
    """JWKS fetches that five requests naming five new Host headers caused, after a first
    request that cached the keys."""
    assert _search(base, _token_of(jwks_keys["cached"], CACHED)).status_code == 200
    before = served.hits
    for number in range(5):
        response = _search(base, _token_of(jwks_keys["cached"], CACHED),
                           Host=f"may-chu-{number}-{uuid.uuid4().hex[:6]}.example")
        assert response.status_code == 200, response.text
    return served.hits - before


def test_jwks_cache_is_not_per_host_header(jwks_server, jwks_servers, jwks_keys):
    """Requests naming other hosts (a client chooses the Host header) must not each fetch
    the issuer's JWKS again: that would let anyone make this server flood the broker."""
    fetches = _fetches_for_new_hosts(jwks_server.base, jwks_servers["cached"], jwks_keys)
    assert fetches == 0, f"{fetches} more JWKS fetches for 5 requests"


def test_jwks_cache_is_not_per_host_header_without_a_configured_base(
        mongo_uri, request, tmp_path_factory, issuer, jwks_servers, jwks_keys):
    """Without FHIR_BASE_URL (a server run by `uvicorn fhir_server.main:create_app`) each
    Host names another base: still one JWKS cache per issuer, not one per Host."""
    trusted = [issuer.trusted(), {"issuer": CACHED, "jwks_uri": jwks_servers["cached"].url}]
    running = own_server(mongo_uri, request, tmp_path_factory, issuer, trusted_issuers=trusted)
    running.settings = running.settings.model_copy(update={"base_url": None})
    with running:
        fetches = _fetches_for_new_hosts(running.base, jwks_servers["cached"], jwks_keys)
    assert fetches == 0, f"{fetches} more JWKS fetches for 5 requests"


def test_rotated_key_is_found_by_its_new_kid(jwks_server, jwks_servers, jwks_keys, monkeypatch):
    # The server runs in this process: a shorter throttle keeps the wait short.
    monkeypatch.setattr(tokens, "JWKS_MIN_REFETCH_SECONDS", 2.0)
    served = jwks_servers["rotating"]
    old, new = jwks_keys["old"], jwks_keys["new"]
    assert old.kid != new.kid
    assert _search(jwks_server.base, _token_of(old, ROTATING)).status_code == 200
    fetched_at = time.monotonic()
    assert served.hits == 1
    served.jwks = new.public_jwks()  # the broker rotates its key
    # Re-fetches on an unknown kid are throttled (one per JWKS_MIN_REFETCH_SECONDS).
    time.sleep(max(0.0, tokens.JWKS_MIN_REFETCH_SECONDS + 1 - (time.monotonic() - fetched_at)))
    response = _search(jwks_server.base, _token_of(new, ROTATING))
    assert response.status_code == 200, response.text
    assert served.hits == 2
    # The withdrawn key is no longer trusted.
    assert_unauthorized(_search(jwks_server.base, _token_of(old, ROTATING)))
