"""Shared helpers of the security tests: the shared fixtures' classes, tokens of every
shape (valid and hostile), JWKS served over real HTTP, polling, small bundle builders."""

import base64
import hashlib
import hmac
import importlib.util
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
from api.helpers import CCCD, FHIR_JSON
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_server.auth.keys import SigningKey


def _root_conftest():
    """tests/conftest.py as a module of its own: pytest replaces `conftest` in sys.modules
    when it loads another directory's conftest (tests/process), so it cannot be imported by
    name. Its classes and functions hold no state, so a second copy behaves the same."""
    name = "_security_tests_root_conftest"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_ROOT = _root_conftest()
RunningServer = _ROOT.RunningServer
test_settings = _ROOT.test_settings
database_name = _ROOT.database_name
TEST_ISSUER: str = _ROOT.TEST_ISSUER
TEST_AUDIENCE: str = _ROOT.TEST_AUDIENCE
TEST_PERSON: str = _ROOT.TEST_PERSON

AUDIT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-type"
CLIENT_ID_SYSTEM = "urn:fhir-exchange-server:client-id"


def own_server(mongo_uri: str, request, tmp_path_factory, issuer, **overrides) -> "RunningServer":
    """A RunningServer like the module's, on its own database, with settings replaced.
    (`test_settings(..., **extra)` cannot take settings it already sets, such as
    trusted_issuers or rate_limit_per_minute, hence the copy with updates.)"""
    settings = test_settings(mongo_uri, database_name(request),
                             tmp_path_factory.mktemp("data"), issuer,
                             request.getfixturevalue("signing_service"))
    return RunningServer(settings.model_copy(update=overrides))


# ---------------------------------------------------------------- HTTP

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}


def fhir_client(base: str, token: str | None) -> httpx.Client:
    headers = bearer(token) if token else {"Accept": FHIR_JSON}
    return httpx.Client(base_url=base, timeout=60, headers=headers)


def assert_unauthorized(response: httpx.Response) -> dict:
    """401 with an OperationOutcome and a `WWW-Authenticate: Bearer ...` challenge."""
    assert response.status_code == 401, (response.status_code, response.text)
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.split(" ")[0].lower() == "bearer", response.headers
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    assert outcome["issue"][0]["severity"] in ("error", "fatal"), outcome
    assert outcome["issue"][0]["code"] in ("login", "security"), outcome
    assert "Traceback" not in response.text
    return outcome


def assert_forbidden(response: httpx.Response) -> dict:
    """403 with an OperationOutcome and the `insufficient_scope` challenge (RFC 6750 §3)."""
    assert response.status_code == 403, (response.status_code, response.text)
    challenge = response.headers.get("www-authenticate", "")
    assert challenge == 'Bearer realm="fhir", error="insufficient_scope"', response.headers
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    assert outcome["issue"][0]["severity"] in ("error", "fatal"), outcome
    assert outcome["issue"][0]["code"] in ("forbidden", "security"), outcome
    return outcome


def wait_until(probe: Callable[[], object], timeout: float = 10.0, interval: float = 0.1):
    """Call `probe` until it returns something truthy; that value, or the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def assert_only_the_refusal_is_audited(base: str, reader: httpx.Client) -> None:
    """After requests that leave no AuditEvent (health probes, metric scrapes), one refused
    FHIR request: exactly one AuditEvent without an agent, with HTTP 401."""
    with fhir_client(base, None) as anonymous:
        assert anonymous.get("/Patient").status_code == 401

    def anonymous_events() -> list[dict]:
        response = reader.get("/AuditEvent", params={"_count": "1000"})
        assert response.status_code == 200, response.text
        found = [entry["resource"] for entry in response.json().get("entry", [])]
        return [event for event in found
                if not any("who" in agent for agent in event["agent"] if agent.get("requestor"))]

    events = wait_until(anonymous_events, 10)
    assert len(events) == 1, events
    assert events[0]["outcomeDesc"] == "HTTP 401", events[0]


# ---------------------------------------------------------------- people

def personal_id(year: int = 1985, female: bool = False, province: str = "001") -> str:
    """A valid 12-digit personal ID with a random serial, unique per call in practice."""
    century = (year - 1900) // 100 * 2 + (1 if female else 0)
    return f"{province}{century}{year % 100:02d}{uuid.uuid4().int % 10**6:06d}"


def patient_resource(identifier: str | None = None, **extra) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": CCCD, "value": identifier or personal_id()}],
        "name": [{"use": "official", "family": "Trần", "given": ["Thị", "Hoa"]}],
        "gender": "female",
        "birthDate": "1990-04-21",
        **extra,
    }


def encounter_resource(subject: str, **extra) -> dict:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": subject},
        "period": {"start": "2024-05-02T08:30:00+07:00", "end": "2024-05-02T09:10:00+07:00"},
        **extra,
    }


def bundle(kind: str, *entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post_entry(resource: dict, full_url: str | None = None, if_none_exist: str | None = None):
    entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    if if_none_exist:
        entry["request"]["ifNoneExist"] = if_none_exist
    return entry


def get_entry(url: str) -> dict:
    return {"request": {"method": "GET", "url": url}}


def read_entries(http: httpx.Client, kind: str, urls: list[str], allowed: int) -> list[dict]:
    """The answers of a batch or transaction of GETs of `urls`, of which the first `allowed`
    are granted: a transaction is refused whole (403) for one refused entry, so it is
    checked so, then sent again with those only."""
    sent = bundle(kind, *map(get_entry, urls))
    response = http.post("", json=sent, headers={"Content-Type": FHIR_JSON})
    if kind == "transaction":
        assert response.status_code == 403, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        sent["entry"] = sent["entry"][:allowed]
        response = http.post("", json=sent, headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 200, response.text
    return response.json()["entry"]


def put_entry(resource: dict) -> dict:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": url}}


def delete_entry(url: str) -> dict:
    return {"request": {"method": "DELETE", "url": url}}


# ---------------------------------------------------------------- JOSE

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims(scope: str = "user/*.cruds", subject: str = TEST_PERSON, issuer: str = TEST_ISSUER,
           audience: str = TEST_AUDIENCE, lifetime: int = 3600, **extra) -> dict:
    """The claims of a user token; `extra` adds or replaces claims (a value of None drops
    the claim)."""
    now = int(time.time())
    result = {"iss": issuer, "aud": audience, "sub": subject, "scope": scope, "iat": now,
              "nbf": now, "exp": now + lifetime, "jti": str(uuid.uuid4()),
              "name": "Nguyễn Văn An"}
    result.update(extra)
    return {name: value for name, value in result.items() if value is not None}


def unsigned(header: dict, payload: dict, signature: bytes = b"") -> str:
    """A compact JWS with the given header and payload and an arbitrary signature."""
    parts = [b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode())]
    return ".".join([*parts, b64url(signature)])


def hmac_signed(header: dict, payload: dict, secret: bytes) -> str:
    """A JWS signed with HMAC-SHA256 (built by hand: PyJWT refuses PEM text as a secret)."""
    head = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = hmac.new(secret, head.encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{b64url(signature)}"


def public_pem(key: SigningKey) -> bytes:
    """The PEM of a SigningKey's public key, as an attacker would find it in the JWKS."""
    public_key = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(key.public_jwk))
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def es256_signed(payload: dict, kid: str | None, private_key=None, **header) -> tuple[str, object]:
    """A JWS signed ES256 by `private_key` (a fresh key if None) with this kid; returns the
    token and the key."""
    private_key = private_key or ec.generate_private_key(ec.SECP256R1())
    headers = {"typ": "JWT", **header}
    if kid is not None:
        headers["kid"] = kid
    return jwt.encode(payload, private_key, algorithm="ES256", headers=headers), private_key


def ec_public_jwk(private_key) -> dict:
    return jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)


class ClientKey:
    """A backend-services client's key pair: RS384 (RSA 2048) or ES384 (P-384)."""

    def __init__(self, alg: str = "RS384", kid: str | None = None):
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        if alg.startswith("RS"):
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        else:
            self.private_key = ec.generate_private_key(ec.SECP384R1())
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        self.public_jwk = {**jwk, "kid": self.kid, "alg": alg, "use": "sig"}

    def jwks(self) -> dict:
        return {"keys": [self.public_jwk]}

    def assertion(self, client_id: str, audience: str, lifetime: int = 240,
                  kid: str | None = None, **overrides) -> str:
        """A client assertion (SMART Backend Services); overrides replace claims (None drops
        one)."""
        now = int(time.time())
        payload = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now,
                   "exp": now + lifetime, "jti": str(uuid.uuid4())}
        payload.update(overrides)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, self.private_key, algorithm=self.alg,
                          headers={"kid": kid or self.kid, "typ": "JWT"})


# ---------------------------------------------------------------- JWKS over HTTP

class JwksServer:
    """A JWK Set served over real HTTP from a thread (JSON of `jwks`, or bytes as given);
    `jwks` may be replaced at any time (key rotation); `hits` counts the GETs, `accepts`
    their Accept headers; a `status` other than 200 is answered with no body (a URL that
    fails); `delay` seconds pass before each answer (a slow URL)."""

    def __init__(self, jwks: object):
        self.jwks = jwks
        self.hits = 0
        self.accepts: list[str | None] = []
        self.status = 200
        self.delay = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                owner.hits += 1
                owner.accepts.append(self.headers.get("Accept"))
                time.sleep(owner.delay)
                body = (b"" if owner.status != 200 else owner.jwks
                        if isinstance(owner.jwks, bytes) else json.dumps(owner.jwks).encode())
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "JwksServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def raw_response(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one response with a Content-Length,
    read from a raw connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        chunk = connection.recv(65536)
        assert chunk, body
        body += chunk
    return int(lines[0].split()[1]), headers, body


def audited_entities(event: dict) -> list[str]:
    """An AuditEvent's resources (`Type/id`) or, of a type-level interaction, its type
    (`what.type`), in order."""
    return [e["what"].get("reference") or e["what"]["type"] for e in event.get("entity", [])
            if {"reference", "type"} & set(e.get("what", {}))]
