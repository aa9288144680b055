"""SMART Backend Services over HTTP: clients registered with `fhir-server client register`
(JWKS file or URL) trade a private_key_jwt assertion for a short-lived access token at
POST [base]/auth/token; every bad assertion or request gets the OAuth error JSON."""

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from api.helpers import CCCD, FHIR_HEADERS

from security.helpers import (
    CLIENT_ID_SYSTEM,
    ClientKey,
    JwksServer,
    assert_forbidden,
    bearer,
    patient_resource,
    wait_until,
)

FHIR_SERVER = Path(sys.executable).parent / "fhir-server"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def run_cli(server, tmp_path: Path, *args: object) -> subprocess.CompletedProcess:
    """`fhir-server ARGS` on the module server's MongoDB database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    env |= {"FHIR_MONGODB_URI": server.settings.mongodb_uri,
            "FHIR_DATABASE": server.settings.database, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([str(FHIR_SERVER), *map(str, args)], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def register(server, tmp_path: Path, client_id: str, scope: str, *, key: ClientKey | None = None,
             url: str | None = None) -> subprocess.CompletedProcess:
    keys = ["--jwks-url", url] if url else ["--jwks-file", _jwks_file(tmp_path, key)]
    return run_cli(server, tmp_path, "client", "register", "--data-dir", tmp_path / "data",
                   "--client-id", client_id, *keys, "--scope", scope)


def _jwks_file(tmp_path: Path, key: ClientKey) -> Path:
    path = tmp_path / f"{key.kid}.jwks.json"
    path.write_text(json.dumps(key.jwks()), encoding="utf-8")
    return path


class Client:
    def __init__(self, client_id: str, key: ClientKey):
        self.id, self.key = client_id, key


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("backend")


@pytest.fixture(scope="module")
def rs_client(server, work) -> Client:
    client = Client(f"his-benhvien-{uuid.uuid4().hex[:6]}", ClientKey("RS384"))
    result = register(server, work, client.id, "system/*.rs", key=client.key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert client.id in result.stdout.splitlines()[-1], result.stdout
    return client


@pytest.fixture(scope="module")
def es_key_server():
    key = ClientKey("ES384")
    with JwksServer(key.jwks()) as served:
        yield key, served


@pytest.fixture(scope="module")
def es_client(server, work, es_key_server) -> Client:
    key, served = es_key_server
    client = Client(f"cong-du-lieu-{uuid.uuid4().hex[:6]}", key)
    result = register(server, work, client.id, "system/Patient.rs system/AuditEvent.rs",
                      url=served.url)
    assert result.returncode == 0, result.stdout + result.stderr
    return client


def token_url(server) -> str:
    return f"{server.base}/auth/token"


def request_token(server, assertion: str, scope: str | None = "system/*.rs",
                  **overrides: str | None) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, "scope": scope}
    form.update(overrides)
    form = {name: value for name, value in form.items() if value is not None}
    return httpx.post(token_url(server), data=form, headers={"Accept": "application/json"},
                      timeout=30)


def granted(server, client: Client, scope: str = "system/*.rs") -> dict:
    response = request_token(server, client.key.assertion(client.id, token_url(server)), scope)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "no-store" in response.headers.get("cache-control", "")
    return response.json()


def _server_claims(server, access_token: str) -> dict:
    """The access token's claims, its signature checked with the advertised JWKS."""
    config = httpx.get(f"{server.base}/.well-known/smart-configuration", timeout=30).json()
    keys = httpx.get(config["jwks_uri"], timeout=30).json()["keys"]
    header = jwt.get_unverified_header(access_token)
    (jwk,) = [key for key in keys if key["kid"] == header["kid"]]
    return jwt.decode(access_token, jwt.PyJWK(jwk, algorithm=header["alg"]).key,
                      algorithms=[header["alg"]], audience=server.base)


def test_rs384_client_gets_a_read_only_token(server, client, rs_client):
    patient = client.post("/Patient", json=patient_resource(), headers=FHIR_HEADERS).json()
    answer = granted(server, rs_client)
    assert set(answer) >= {"access_token", "token_type", "expires_in", "scope"}, answer
    assert answer["token_type"].lower() == "bearer"
    assert isinstance(answer["expires_in"], int) and 0 < answer["expires_in"] <= 3600
    assert answer["scope"] == "system/*.rs"
    token_claims = _server_claims(server, answer["access_token"])
    assert token_claims["exp"] - int(time.time()) <= 3600
    assert token_claims["scope"] == "system/*.rs"

    headers = bearer(answer["access_token"])
    base = server.base
    assert httpx.get(f"{base}/Patient", headers=headers, timeout=30).status_code == 200
    read = httpx.get(f"{base}/Patient/{patient['id']}", headers=headers, timeout=30)
    assert read.status_code == 200 and read.json()["id"] == patient["id"], read.text
    created = httpx.post(f"{base}/Patient", json=patient_resource(),
                         headers={**headers, **FHIR_HEADERS}, timeout=30)
    assert_forbidden(created)
    deleted = httpx.delete(f"{base}/Patient/{patient['id']}", headers=headers, timeout=30)
    assert_forbidden(deleted)


def test_es384_client_registered_by_jwks_url(server, client, es_client, es_key_server):
    _, served = es_key_server
    answer = granted(server, es_client, "system/Patient.rs system/AuditEvent.rs")
    assert sorted(answer["scope"].split()) == ["system/AuditEvent.rs", "system/Patient.rs"]
    assert served.hits >= 1
    # backend-services.html: the JWKS is read "including a header of Accept:
    # application/json" (probe DM: httpx's */* was sent).
    assert set(served.accepts) == {"application/json"}
    headers = bearer(answer["access_token"])
    assert httpx.get(f"{server.base}/Patient", headers=headers, timeout=30).status_code == 200
    assert_forbidden(httpx.get(f"{server.base}/Encounter", headers=headers, timeout=30))


def test_requested_scopes_are_narrowed_to_the_registration(server, rs_client, es_client):
    assert granted(server, rs_client, "system/*.cruds")["scope"] == "system/*.rs"
    assert granted(server, rs_client, "system/Patient.rs openid")["scope"] == "system/Patient.rs"
    narrowed = granted(server, es_client, "system/*.rs")["scope"]
    assert sorted(narrowed.split()) == ["system/AuditEvent.rs", "system/Patient.rs"]


def test_client_reads_are_audited_under_the_client_id(server, rs_client):
    headers = bearer(granted(server, rs_client)["access_token"])
    marker = uuid.uuid4().hex
    assert httpx.get(f"{server.base}/Patient", params={"family": marker}, headers=headers,
                     timeout=30).status_code == 200

    def events():
        response = httpx.get(f"{server.base}/AuditEvent", headers=headers, timeout=30,
                             params={"agent:identifier": f"{CLIENT_ID_SYSTEM}|{rs_client.id}",
                                     "subtype": "search-type"})
        assert response.status_code == 200, response.text
        return response.json().get("entry", [])

    entries = wait_until(events)
    assert entries, "no AuditEvent names the client"
    who = entries[0]["resource"]["agent"][0]["who"]
    assert who["identifier"] == {"system": CLIENT_ID_SYSTEM, "value": rs_client.id}, who
    assert CCCD not in json.dumps(who)


def test_token_requests_are_audited_with_the_client_and_what_it_asked(server, client,
                                                                        work):
    """A granted token's event names the client as its agent; a refused one's, the client
    the assertion claims to be; both, the scope asked for (never the assertion)."""
    asking = Client(f"kiem-toan-{uuid.uuid4().hex[:6]}", ClientKey("ES384"))
    assert register(server, work, asking.id, "system/*.rs", key=asking.key).returncode == 0
    assertion = asking.key.assertion(asking.id, token_url(server))
    assert request_token(server, assertion, "system/Patient.rs").status_code == 200
    assert request_token(server, assertion, "system/Patient.rs").status_code == 400  # replay

    def events() -> list[dict]:
        response = client.get("/AuditEvent", params={"subtype": "operation", "_count": "500",
                                                     "date": "ge2020"})
        return [e["resource"] for e in response.json().get("entry", []) if asking.id in
                base64.b64decode(_query_of(e["resource"])).decode()]

    found = wait_until(lambda: events() if len(events()) == 2 else [], 20)
    by_outcome = {event["outcome"]: event for event in found}
    assert set(by_outcome) == {"0", "4"}, found
    who = by_outcome["0"]["agent"][0]["who"]["identifier"]
    assert who == {"system": CLIENT_ID_SYSTEM, "value": asking.id}, who
    for event in found:
        asked = base64.b64decode(_query_of(event)).decode()
        assert "scope=system%2FPatient.rs" in asked and assertion not in asked, asked


def _query_of(event: dict) -> str:
    return next((e["query"] for e in event.get("entity", []) if "query" in e), "")


def test_registration_replaces_the_scopes(server, work):
    client = Client(f"thay-the-{uuid.uuid4().hex[:6]}", ClientKey("RS384"))
    assert register(server, work, client.id, "system/*.rs", key=client.key).returncode == 0
    assert granted(server, client)["scope"] == "system/*.rs"
    assert register(server, work, client.id, "system/Encounter.rs", key=client.key).returncode == 0
    assert granted(server, client)["scope"] == "system/Encounter.rs"


@pytest.mark.parametrize("scope", ["openid", "khong-hop-le"])
def test_register_refuses_a_scope_without_resources(server, work, scope):
    key = ClientKey("RS384")
    result = register(server, work, f"sai-{uuid.uuid4().hex[:6]}", scope, key=key)
    assert result.returncode == 2, result.stdout + result.stderr


_P384 = {"kty": "EC", "crv": "P-384", "kid": "k1", "x": "AA", "y": "AA"}


@pytest.mark.parametrize(("problem", "key", "says"), [
    ("a private key", {"kty": "EC", "crv": "P-384", "kid": "k1", "x": "AA", "y": "AA",
                       "d": "AA"}, "private"),
    ("a secret key", {"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}, "private"),
    ("no kid", {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}, "no kid"),
    ("RSA of 1024 bits", {"kty": "RSA", "kid": "k1", "e": "AQAB",
                          "n": "w" + "A" * 170}, "1024 bits"),
    # RFC 7517 §4.2-4.4: keys that say they verify no ES384 or RS384 assertion (probe CB).
    ("an encryption key", _P384 | {"use": "enc"}, "use 'enc'"),
    ("key_ops without verify", _P384 | {"key_ops": ["encrypt"]}, "key_ops ['encrypt']"),
    ("an algorithm assertions are not signed with", _P384 | {"alg": "ES256"}, "alg 'ES256'"),
    ("an algorithm of another curve", _P384 | {"alg": "ES384", "crv": "P-256"},
     "does not fit ES384"),
])
def test_register_refuses_keys_a_client_should_not_have(server, work, problem, key, says):
    """SMART client-confidential-asymmetric: public EC or RSA keys (≥ 2,048 bits) with a
    kid. A private key was stored in MongoDB, a keyless one registered a client that could
    never authenticate."""
    path = work / f"{uuid.uuid4().hex}.jwks.json"
    path.write_text(json.dumps({"keys": [key]}), encoding="utf-8")
    result = run_cli(server, work, "client", "register", "--data-dir", work / "data",
                     "--client-id", "khoa-sai", "--jwks-file", path, "--scope", "system/*.rs")
    assert result.returncode == 2, (problem, result.stdout + result.stderr)
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--scope", "user/*.rs", "system/ scopes only"),
    ("--client-id", "a b", "without spaces"),
    ("--jwks-url", "file:///etc/passwd", "no http(s) URL"),
])
def test_register_refuses_what_a_backend_client_cannot_use(server, work, option, value, says):
    args = {"--client-id": "his-2", "--scope": "system/*.rs",
            "--jwks-url": "https://his.example/jwks.json"} | {option: value}
    result = run_cli(server, work, "client", "register", "--data-dir", work / "data",
                     *[item for pair in args.items() for item in pair])
    assert result.returncode == 2 and says in result.stderr, result.stdout + result.stderr


@pytest.mark.parametrize("scope", ["system/Foo.rs", "system/Observation.rs?foo=bar",
                                   "system/*.rs?_count=1"])
def test_register_refuses_scopes_no_token_can_be_granted(server, work, rs_client, scope):
    """A type this server does not have, a search it cannot run: registered (probe CJ), every
    token request for them was `invalid_scope`; now registration says so, as that does."""
    refusal = request_token(server, rs_client.key.assertion(rs_client.id, token_url(server)),
                            scope).json()["error_description"]
    for scopes in (scope, f"system/Patient.rs {scope}"):
        result = register(server, work, f"khong-dung-duoc-{uuid.uuid4().hex[:6]}", scopes,
                          key=ClientKey("ES384"))
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"--scope: {refusal}" in result.stderr, (refusal, result.stderr)


@pytest.mark.parametrize("jwks", ['{"keys": []}', '{"keys": ' + "[" * 99_999 + "]" * 99_999 + "}"])
def test_register_refuses_a_jwks_without_keys(server, work, jwks):
    """No key, or JSON nested deeper than Python reads (a traceback before)."""
    path = work / f"{uuid.uuid4().hex}.jwks.json"
    path.write_text(jwks, encoding="utf-8")
    result = run_cli(server, work, "client", "register", "--data-dir", work / "data",
                     "--client-id", "khong-khoa", "--jwks-file", path, "--scope", "system/*.rs")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr


# ------------------------------------------------------------------ refusals

def epoch_now() -> int:
    return int(time.time())


def assertion_with_jku(client: Client, audience: str, jku: str | None) -> str:
    """A client assertion whose JOSE header names the JWKS URL `jku`."""
    payload = {"iss": client.id, "sub": client.id, "aud": audience, "exp": epoch_now() + 200,
               "jti": str(uuid.uuid4())}
    headers = {"kid": client.key.kid, "typ": "JWT"} | ({"jku": jku} if jku else {})
    return jwt.encode(payload, client.key.private_key, algorithm=client.key.alg, headers=headers)


def test_exp_within_five_minutes_is_accepted(server, rs_client):
    assertion = rs_client.key.assertion(rs_client.id, token_url(server), lifetime=299)
    assert request_token(server, assertion).status_code == 200


def test_access_token_names_this_server(server, rs_client):
    """The access token's audience is this server's base URL, its issuer the token service."""
    answer = granted(server, rs_client)
    token_claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert token_claims["aud"] == server.base
    assert token_claims["iss"] == f"{server.base}/auth"


# ------------------------------------------------------------------ jku

def test_jku_of_the_registered_jwks_url_is_accepted(server, es_client, es_key_server):
    _, served = es_key_server
    assertion = assertion_with_jku(es_client, token_url(server), served.url)
    response = request_token(server, assertion, "system/Patient.rs")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "system/Patient.rs"


def test_jku_other_than_the_registered_jwks_url_is_refused(server, es_client, es_key_server):
    key, _ = es_key_server
    with JwksServer(key.jwks()) as elsewhere:  # the right key, from a URL never registered
        assertion = assertion_with_jku(es_client, token_url(server), elsewhere.url)
        response = request_token(server, assertion, "system/Patient.rs")
        assert elsewhere.hits == 0
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client"
    assert "no-store" in response.headers["cache-control"]


def test_without_jku_the_registered_jwks_url_is_used(server, es_client, es_key_server):
    _, served = es_key_server
    assertion = assertion_with_jku(es_client, token_url(server), None)
    assert request_token(server, assertion, "system/Patient.rs").status_code == 200


# ------------------------------------------------------------------ granted scope syntax

@pytest.mark.parametrize(("requested", "answered"), [
    ("system/*.read", "system/*.read"),
    ("system/*.rs", "system/*.rs"),
    ("system/*.*", "system/*.read"),
    ("system/Patient.read system/Observation.rs system/*.read",
     "system/Patient.read system/Observation.rs system/*.read"),
    # SMART v2 granular scopes: a client asking for less than it may have gets it.
    ("system/Observation.rs?category=laboratory", "system/Observation.rs?category=laboratory"),
    ("system/Observation.read?category=laboratory system/*.s",
     "system/Observation.read?category=laboratory system/*.s"),
    # A search of `*` is granted when it runs on a type (category: Observation's).
    ("system/*.rs?category=laboratory", "system/*.rs?category=laboratory"),
])
def test_scopes_are_granted_in_the_syntax_requested(server, rs_client, requested, answered):
    answer = granted(server, rs_client, requested)
    assert answer["scope"] == answered
    assert _server_claims(server, answer["access_token"])["scope"] == answered


@pytest.mark.parametrize("requested", ["system/Observation.read", "system/*.read"])
def test_a_search_the_registration_adds_is_granted_in_v2_syntax(server, work, requested):
    """v1 scopes have no search: a v1 scope narrowed to a registered granular scope is
    answered in v2 syntax (probe DM: `system/Observation.read` was granted as
    `system/Observation.read?category=laboratory`, a scope of neither syntax)."""
    client = Client(f"xet-nghiem-{uuid.uuid4().hex[:6]}", ClientKey("RS384"))
    result = register(server, work, client.id, "system/Observation.rs?category=laboratory",
                      key=client.key)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = granted(server, client, requested)
    assert answer["scope"] == "system/Observation.rs?category=laboratory"


def test_granted_scope_is_the_intersection_in_request_order(server, es_client):
    requested = ("system/AuditEvent.read openid system/Encounter.rs system/Patient.rs "
                 "system/AuditEvent.read system/Unknown.rs")
    answer = granted(server, es_client, requested)
    assert answer["scope"] == "system/AuditEvent.read system/Patient.rs"


def test_an_unsupported_type_beside_a_good_scope_is_left_out(server, rs_client):
    answer = granted(server, rs_client, "system/Unknown.read system/Patient.read")
    assert answer["scope"] == "system/Patient.read"


@pytest.mark.parametrize("unusable", [
    "system/Observation.rs?_count=1", "system/Observation.rs?category=",
    "system/Observation.rs?foo=bar", "system/*.rs?foo=bar", "system/*.rs?_sort=date"])
def test_a_scope_whose_search_cannot_run_is_not_granted(server, rs_client, unusable):
    """A granular scope the API would refuse on every request (a result parameter, a
    criterion without a value, a parameter of no type it names) is left out as an unknown
    type is; alone, it is `invalid_scope` (RFC 6749 §5.2), not a token that does nothing
    (probe CB)."""
    assert granted(server, rs_client, f"{unusable} system/Patient.rs")["scope"] == (
        "system/Patient.rs")
    alone = request_token(server, rs_client.key.assertion(rs_client.id, token_url(server)),
                          unusable)
    assert alone.status_code == 400, alone.text
    assert alone.json()["error"] == "invalid_scope"
    assert unusable in alone.json()["error_description"]
