"""Token requests the token endpoint refuses, each with the OAuth 2.0 error RFC 6749 §5.2
names (JSON, `Cache-Control: no-store`): bad, expired, replayed or unsigned assertions, keys
of another client, a missing `kid`, HTTP Basic authentication, wrong grant and assertion
types, scopes outside the registration, and malformed bodies."""

import json
import uuid
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from security.helpers import ClientKey, hmac_signed, unsigned
from security.test_backend_services import (  # noqa: F401 (fixtures)
    ASSERTION_TYPE,
    Client,
    assertion_with_jku,
    epoch_now,
    request_token,
    rs_client,
    token_url,
    work,
)


def _refusal(case: str, server, client: Client) -> httpx.Response:
    url = token_url(server)
    key = client.key
    if case == "bad signature":
        impostor = ClientKey("RS384", kid=key.kid)
        return request_token(server, impostor.assertion(client.id, url))
    if case == "key of another client":
        other = ClientKey("RS384")
        return request_token(server, other.assertion(client.id, url))
    if case == "wrong aud":
        return request_token(server, key.assertion(client.id, server.base))
    if case == "aud of another server":
        return request_token(server, key.assertion(client.id, "https://khac.example/auth/token"))
    if case == "exp more than 5 minutes ahead":
        return request_token(server, key.assertion(client.id, url, lifetime=600))
    if case == "expired":
        return request_token(server, key.assertion(client.id, url, iat=epoch_now() - 600,
                                                   exp=epoch_now() - 120))
    if case == "no exp":
        return request_token(server, key.assertion(client.id, url, exp=None))
    if case == "no jti":
        return request_token(server, key.assertion(client.id, url, jti=None))
    if case == "empty jti":
        return request_token(server, key.assertion(client.id, url, jti=""))
    if case == "replayed assertion":
        assertion = key.assertion(client.id, url)
        assert request_token(server, assertion).status_code == 200
        return request_token(server, assertion)
    if case == "reused jti":
        jti = str(uuid.uuid4())
        assert request_token(server, key.assertion(client.id, url, jti=jti)).status_code == 200
        return request_token(server, key.assertion(client.id, url, lifetime=200, jti=jti))
    if case == "unknown client":
        return request_token(server, key.assertion(f"khong-co-{uuid.uuid4().hex[:6]}", url))
    if case == "sub differs from iss":
        return request_token(server, key.assertion(client.id, url, sub="khac"))
    if case == "HS256 keyed with the public JWK":
        payload = {"iss": client.id, "sub": client.id, "aud": url, "exp": epoch_now() + 200,
                   "jti": str(uuid.uuid4())}
        return request_token(server, hmac_signed({"alg": "HS256", "typ": "JWT", "kid": key.kid},
                                                 payload, json.dumps(key.public_jwk).encode()))
    if case == "alg none":
        payload = {"iss": client.id, "sub": client.id, "aud": url, "exp": epoch_now() + 200,
                   "jti": str(uuid.uuid4())}
        return request_token(server, unsigned({"alg": "none", "kid": key.kid}, payload))
    if case == "RS256 instead of RS384":
        payload = {"iss": client.id, "sub": client.id, "aud": url, "exp": epoch_now() + 200,
                   "jti": str(uuid.uuid4())}
        return request_token(server, jwt.encode(payload, key.private_key, algorithm="RS256",
                                                headers={"kid": key.kid}))
    if case == "unknown kid":
        return request_token(server, key.assertion(client.id, url, kid="khoa-khac"))
    if case == "no kid":  # client-confidential-asymmetric.html: the header's kid is required
        payload = {"iss": client.id, "sub": client.id, "aud": url, "exp": epoch_now() + 200,
                   "jti": str(uuid.uuid4())}
        return request_token(server, jwt.encode(payload, key.private_key, algorithm=key.alg,
                                                headers={"typ": "JWT"}))
    if case == "client_secret besides the assertion":
        return request_token(server, key.assertion(client.id, url), client_secret="bi-mat")
    if case == "HTTP Basic authentication":
        return httpx.post(url, content=urlencode(_form(key.assertion(client.id, url))),
                          headers={"Content-Type": "application/x-www-form-urlencoded",
                                   "Authorization": "Basic c3lzLWFsbDp4"}, timeout=30)
    if case == "not a JWT":
        return request_token(server, "khong-phai-jwt")
    if case == "no assertion":
        return request_token(server, key.assertion(client.id, url), client_assertion=None)
    if case == "wrong grant_type":
        return request_token(server, key.assertion(client.id, url), grant_type="password")
    if case == "authorization_code grant":
        return request_token(server, key.assertion(client.id, url),
                             grant_type="authorization_code")
    if case == "wrong assertion type":
        return request_token(server, key.assertion(client.id, url),
                             client_assertion_type="urn:ietf:params:oauth:khac")
    if case == "scope outside the registration":
        return request_token(server, key.assertion(client.id, url), scope="system/Patient.c")
    if case == "user scope for a system client":
        return request_token(server, key.assertion(client.id, url), scope="user/*.rs")
    if case == "no scope":
        return request_token(server, key.assertion(client.id, url), scope=None)
    if case == "empty scope":
        return request_token(server, key.assertion(client.id, url), scope="")
    if case == "no grant_type":
        return request_token(server, key.assertion(client.id, url), grant_type=None)
    if case == "no assertion type":
        return request_token(server, key.assertion(client.id, url), client_assertion_type=None)
    if case == "unsupported resource type":
        return request_token(server, key.assertion(client.id, url), scope="system/Unknown.read")
    if case == "jku of a client registered with a JWKS file":
        return request_token(server, assertion_with_jku(client, url, "https://khach.example/jwks.json"))
    if case == "duplicate scope parameter":
        form = _form(key.assertion(client.id, url)) + [("scope", "system/Patient.rs")]
        return _post(server, urlencode(form).encode())
    if case == "duplicate assertion":
        assertion = key.assertion(client.id, url)
        return _post(server, urlencode(_form(assertion) + [("client_assertion", assertion)]))
    if case == "JSON body":
        return httpx.post(url, json=dict(_form(key.assertion(client.id, url))), timeout=30)
    if case == "no Content-Type":
        return _post(server, urlencode(_form(key.assertion(client.id, url))), content_type=None)
    if case == "empty body":
        return _post(server, b"")
    if case == "body over 16 KiB":
        return _post(server, urlencode(_form(key.assertion(client.id, url), "x" * 16_500)))
    if case == "body over 16 KiB, chunked":
        body = urlencode(_form(key.assertion(client.id, url), "x" * 16_500)).encode()
        return _post(server, iter([body[:8000], body[8000:]]))
    if case == "not UTF-8":
        return _post(server, b"grant_type=client_credentials&scope=%FF")
    raise AssertionError(case)


def _form(assertion: str, scope: str = "system/*.rs") -> list[tuple[str, str]]:
    return [("grant_type", "client_credentials"), ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion), ("scope", scope)]


def _post(server, body, content_type: str | None = "application/x-www-form-urlencoded"):
    headers = {"Content-Type": content_type} if content_type else {}
    return httpx.post(token_url(server), content=body, headers=headers, timeout=30)


REFUSALS = {
    "bad signature": (400, "invalid_client"),
    "key of another client": (400, "invalid_client"),
    "wrong aud": (400, "invalid_client"),
    "aud of another server": (400, "invalid_client"),
    "exp more than 5 minutes ahead": (400, "invalid_client"),
    "expired": (400, "invalid_client"),
    "no exp": (400, "invalid_client"),
    "no jti": (400, "invalid_client"),
    "empty jti": (400, "invalid_client"),  # probe DM: a token was granted
    "replayed assertion": (400, "invalid_client"),
    "reused jti": (400, "invalid_client"),
    "unknown client": (400, "invalid_client"),
    "sub differs from iss": (400, "invalid_client"),
    "HS256 keyed with the public JWK": (400, "invalid_client"),
    "alg none": (400, "invalid_client"),
    "RS256 instead of RS384": (400, "invalid_client"),
    "unknown kid": (400, "invalid_client"),
    "no kid": (400, "invalid_client"),
    "HTTP Basic authentication": (401, "invalid_client"),
    # RFC 6749 §5.2 invalid_request: "utilizes more than one mechanism for authenticating
    # the client" (probe DM: the secret was ignored and a token granted).
    "client_secret besides the assertion": (400, "invalid_request"),
    "not a JWT": (400, "invalid_client"),
    "no assertion": (400, "invalid_request"),
    "wrong grant_type": (400, "unsupported_grant_type"),
    "authorization_code grant": (400, "unsupported_grant_type"),
    "wrong assertion type": (400, "invalid_request"),
    "scope outside the registration": (400, "invalid_scope"),
    "user scope for a system client": (400, "invalid_scope"),
    "no scope": (400, "invalid_scope"),
    "empty scope": (400, "invalid_scope"),
    "no grant_type": (400, "invalid_request"),
    "no assertion type": (400, "invalid_request"),
    "unsupported resource type": (400, "invalid_scope"),
    "jku of a client registered with a JWKS file": (400, "invalid_client"),
    "duplicate scope parameter": (400, "invalid_request"),
    "duplicate assertion": (400, "invalid_request"),
    "JSON body": (400, "invalid_request"),
    "no Content-Type": (400, "invalid_request"),
    "empty body": (400, "invalid_request"),
    "body over 16 KiB": (400, "invalid_request"),
    "body over 16 KiB, chunked": (400, "invalid_request"),
    "not UTF-8": (400, "invalid_request"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_token_request_refused_with_the_oauth_error(server, rs_client, case):  # noqa: F811
    status, error = REFUSALS[case]
    response = _refusal(case, server, rs_client)
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body.get("error_description"), str), body
    assert "access_token" not in body
    assert "no-store" in response.headers.get("cache-control", "")
    # RFC 6749 §5.2: 401 with a challenge of its scheme for a client that authenticated by
    # the Authorization header; a failed assertion in the body is 400, §5.2's default (it was
    # 401 without the challenge RFC 9110 §15.5.2 requires of every 401: probe CJ).
    if case == "HTTP Basic authentication":
        assert response.headers["www-authenticate"].startswith("Basic realm=")
    else:
        assert "www-authenticate" not in response.headers
