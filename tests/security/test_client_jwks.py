"""The JWKS URL a SMART Backend Services client registered, as the token endpoint reads it:
a rotated key is fetched again (throttled), and a document that is no JWK Set is the
client's error (`invalid_client`), never a 500."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fhir_server.services.token_service import JWKS_MIN_REFETCH_SECONDS, MAX_JWKS_BYTES
from security.helpers import ClientKey, JwksServer
from security.test_backend_services import Client, register, request_token, run_cli, token_url


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("client-jwks")


def registered(server, work: Path, key: ClientKey, url: str) -> Client:
    client = Client(f"khoa-xet-nghiem-{uuid.uuid4().hex[:6]}", key)
    result = register(server, work, client.id, "system/Patient.rs", url=url)
    assert result.returncode == 0, result.stdout + result.stderr
    return client


def test_a_client_that_rotates_its_key_gets_a_token_with_the_new_one(server, work):
    """At once: the JWKS read for the last token lacks the new kid, so it is read again
    (probe CJ: within 5 s of that read the cached copy was taken for the re-read, 401)."""
    old, new = ClientKey("ES384"), ClientKey("ES384")
    with JwksServer(old.jwks()) as served:
        client = registered(server, work, old, served.url)
        assert request_token(server, old.assertion(client.id, token_url(server)),
                             "system/Patient.rs").status_code == 200
        served.jwks = {"keys": [old.public_jwk, new.public_jwk]}  # the client rotates
        response = request_token(server, new.assertion(client.id, token_url(server)),
                                 "system/Patient.rs")
        assert response.status_code == 200, response.text
        # A kid the JWKS lacks reads it again at most once per JWKS_MIN_REFETCH_SECONDS:
        # made-up kids must not make the server hammer the client's URL.
        hits = served.hits
        for _ in range(3):
            assert request_token(server, ClientKey("ES384").assertion(
                client.id, token_url(server)), "system/Patient.rs").status_code == 400
        assert served.hits == hits
        time.sleep(JWKS_MIN_REFETCH_SECONDS)
        assert request_token(server, ClientKey("ES384").assertion(
            client.id, token_url(server)), "system/Patient.rs").status_code == 400
        assert served.hits == hits + 1


def test_a_failing_jwks_url_is_read_at_most_once_per_interval(server, work):
    """Assertions naming a client, which anyone can make up, made the server read the
    client's JWKS URL on every request while it had no copy of it (none read yet, or the
    copy stale) and the URL failed (probe DM: ten made-up assertions, ten reads of a URL
    answering 500); now every read of a URL, for whatever reason, is at most one per
    JWKS_MIN_REFETCH_SECONDS, and a client whose URL answers again gets its token."""
    key = ClientKey("ES384")
    with JwksServer(key.jwks()) as served:
        served.status = 500
        client = registered(server, work, key, served.url)
        for _ in range(5):
            response = request_token(server, ClientKey("ES384", kid=key.kid).assertion(
                client.id, token_url(server)), "system/Patient.rs")
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "invalid_client"
        assert served.hits == 1
        served.status = 200
        time.sleep(JWKS_MIN_REFETCH_SECONDS)
        response = request_token(server, key.assertion(client.id, token_url(server)),
                                 "system/Patient.rs")
        assert response.status_code == 200, response.text
        assert served.hits == 2


def test_concurrent_assertions_share_one_read_of_a_slow_jwks_url(server, work):
    """Assertions arriving while the URL is being read wait for that read (probe DM: each
    made its own, so a burst of made-up assertions naming a client with a slow URL opened
    as many reads of it)."""
    key = ClientKey("ES384")
    with JwksServer({"keys": []}) as served:
        served.delay = 1.5
        client = registered(server, work, key, served.url)
        forged = [ClientKey("ES384", kid=key.kid).assertion(client.id, token_url(server))
                  for _ in range(4)]
        with ThreadPoolExecutor(len(forged)) as pool:
            answers = list(pool.map(
                lambda assertion: request_token(server, assertion, "system/Patient.rs"),
                forged))
        assert [answer.status_code for answer in answers] == [400] * len(forged)
        assert served.hits == 1


def test_a_jwks_url_answering_too_much_is_invalid_client(server, work):
    """A JWKS URL's answer is read no further than MAX_JWKS_BYTES (probe DM: a 100 MB JWK
    Set holding the client's key was read whole, parsed on the event loop and kept for five
    minutes, the process growing by 190 MB, and a token granted)."""
    key = ClientKey("ES384")
    padding = [{"kty": "oct", "kid": f"dem-{n}", "k": "A" * 1000} for n in range(100)]
    with JwksServer({"keys": [key.public_jwk, *padding]}) as served:
        client = registered(server, work, key, served.url)
        response = request_token(server, key.assertion(client.id, token_url(server)),
                                 "system/Patient.rs")
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "invalid_client", "error_description":
                               f"the client's JWKS is larger than {MAX_JWKS_BYTES} bytes"}


def test_two_keys_of_the_kid_and_algorithm_verify_nothing(server, work):
    """SMART Backend Services, signature verification: the single key whose kid matches and
    whose kty fits the algorithm; "If no keys match, or more than one key matches, the
    verification fails" (probe DM: the first of two such keys was taken, a token granted)."""
    key = ClientKey("ES384")
    other = ClientKey("ES384", kid=key.kid)
    with JwksServer({"keys": [key.public_jwk, other.public_jwk]}) as served:
        client = registered(server, work, key, served.url)
        response = request_token(server, key.assertion(client.id, token_url(server)),
                                 "system/Patient.rs")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client"
    assert "2 keys with kid" in response.json()["error_description"]
    # A JWKS file holding such keys, which would refuse every assertion, is not registered.
    path = work / f"{uuid.uuid4().hex}.jwks.json"
    path.write_text(json.dumps({"keys": [key.public_jwk, other.public_jwk]}), encoding="utf-8")
    result = run_cli(server, work, "client", "register", "--data-dir", work / "data",
                     "--client-id", "hai-khoa", "--jwks-file", path, "--scope", "system/*.rs")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"2 keys with kid '{key.kid}' fit ES384" in result.stderr, result.stderr


@pytest.mark.parametrize("document", [
    [], {"keys": "none"}, {"keys": [1, None]},
    # JSON nested deeper than Python parses, within MAX_JWKS_BYTES: it was a 500.
    b"[" * 30_000 + b"]" * 30_000,
])
def test_a_jwks_url_serving_no_jwk_set_is_invalid_client(server, work, document):
    key = ClientKey("ES384")
    with JwksServer(document) as served:
        client = registered(server, work, key, served.url)
        response = request_token(server, key.assertion(client.id, token_url(server)),
                                 "system/Patient.rs")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("published", [{"use": "enc"}, {"key_ops": ["encrypt"]},
                                       {"alg": "ES256"}])
def test_a_key_not_for_verifying_the_assertion_verifies_nothing(server, work, published):
    """RFC 7517 §4.2-4.4: a key whose `use`, `key_ops` or `alg` say it is not for ES384
    signatures verifies no assertion; keys at a JWKS URL are never seen at registration
    (probe CB)."""
    key = ClientKey("ES384")
    with JwksServer({"keys": [key.public_jwk | published]}) as served:
        client = registered(server, work, key, served.url)
        response = request_token(server, key.assertion(client.id, token_url(server)),
                                 "system/Patient.rs")
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "invalid_client", "error_description":
                               "no key of the client matches the assertion's kid and alg"}
