"""signing.csc against a scripted CSC API v2 service (httpx.MockTransport): request bodies,
RS256 credentials, and every way an answer can be unusable. The real-HTTP tests against the
development service are in tests/services/test_dev_signing.py."""

import asyncio
import base64
import hashlib
import json
from datetime import timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from signing.csc import (
    ECDSA_WITH_SHA256,
    SHA256,
    SHA256_WITH_RSA,
    CscClient,
    CscError,
    RemoteSigner,
)
from signing.dev_ca import DevCertificateAuthority
from signing.keys import jwk_thumbprint
from signing.provenance import sign_resources, verify_resource

PERSONAL_ID = "001085012345"
BASE = "https://rssp.example/csc/v2"
DIGEST = hashlib.sha256(b"input").digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class FakeRssp:
    """A CSC API v2 service holding one key; `override` replaces the answer of a method."""

    def __init__(self, ca, key):
        self.key = key
        self.chain = ca.chain_for(ca.issue("Nguyễn Văn An", PERSONAL_ID, key.public_key()))
        # credential ID -> its chain, in the order credentials/list names them
        self.credentials = {"cred-1": self.chain}
        # credential ID -> (key.status, cert.status) where not (enabled, valid)
        self.statuses: dict[str, tuple[str, str]] = {}
        self.requests: list[httpx.Request] = []
        self.override: dict[str, httpx.Response] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        method = request.url.path.removeprefix("/csc/v2/")
        if method in self.override:
            return self.override[method]
        body = json.loads(request.content)
        if method == "credentials/list":
            return httpx.Response(200, json={"credentialIDs": list(self.credentials)})
        if method == "credentials/info":
            chain = self.credentials[body["credentialID"]]
            der = [c.public_bytes(serialization.Encoding.DER) for c in chain]
            key_status, cert_status = self.statuses.get(body["credentialID"],
                                                        ("enabled", "valid"))
            return httpx.Response(
                200,
                json={
                    "key": {"status": key_status, "algo": ["1.2.840.113549.1.1.1"], "len": 2048},
                    "cert": {"status": cert_status, "certificates": [b64(d) for d in der]},
                    "auth": {"mode": "implicit"},
                    "multisign": 1000,
                },
            )
        digests = [base64.b64decode(h) for h in body["hashes"]]
        return httpx.Response(200, json={"signatures": [b64(self.sign(d)) for d in digests]})

    def sign(self, digest: bytes) -> bytes:
        prehashed = utils.Prehashed(hashes.SHA256())
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(digest, padding.PKCS1v15(), prehashed)
        return self.key.sign(digest, ec.ECDSA(prehashed))

    def client(self, token: str | None = "secret") -> CscClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return CscClient(BASE + "/", http, token)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def rssp(ca, rsa_key) -> FakeRssp:
    return FakeRssp(ca, rsa_key)


def run(coroutine):
    return asyncio.run(coroutine)


def test_rsa_credential_signs_rs256(rssp, ca, now):
    async def scenario():
        signer = await RemoteSigner.for_user(rssp.client(), PERSONAL_ID, "Nguyễn Văn An")
        items = [({"resourceType": "Patient", "gender": "male"}, "Patient/p/_history/1")]
        return signer, await sign_resources(items * 3, signer, now)

    signer, signatures = run(scenario())
    assert signer.alg == "RS256" and signer.sign_algo == SHA256_WITH_RSA
    assert signer.kid == jwk_thumbprint(rssp.key.public_key())
    assert signer.credential_id == "cred-1" and signer.chain == rssp.chain
    for data in signatures:
        report = verify_resource(
            data, {"resourceType": "Patient", "gender": "male"}, "Patient/p/_history/1", ca.anchors
        )
        assert report.passed, report.to_dict()
    listed, info, sign = (json.loads(r.content) for r in rssp.requests)
    assert listed == {"userID": PERSONAL_ID, "clientData": "Nguyễn Văn An"}
    assert info == {"credentialID": "cred-1", "certificates": "chain", "certInfo": True}
    assert sign["credentialID"] == "cred-1" and len(sign["hashes"]) == 3
    assert sign["signAlgo"] == SHA256_WITH_RSA and sign["hashAlgorithmOID"] == SHA256
    assert "SAD" not in sign
    assert all(r.headers["Authorization"] == "Bearer secret" for r in rssp.requests)
    assert [str(r.url) for r in rssp.requests][0] == f"{BASE}/credentials/list"


def test_request_details(rssp):
    digest = bytes.fromhex("fb" * 32)  # standard base64 has '+' and '/', not '-' and '_'
    client = rssp.client(token=None)
    run(client.sign_hash("cred-1", [digest], ECDSA_WITH_SHA256, sad="activation"))
    run(client.list_credentials(PERSONAL_ID))
    (sign, listed) = (json.loads(r.content) for r in rssp.requests)
    assert sign["hashes"] == [b64(digest)] and "/" in sign["hashes"][0]
    assert sign["SAD"] == "activation" and sign["signAlgo"] == ECDSA_WITH_SHA256
    assert listed == {"userID": PERSONAL_ID}
    assert all("Authorization" not in r.headers for r in rssp.requests)


def test_info(rssp):
    rssp.override["info"] = httpx.Response(200, json={"specs": "2.0.0.2", "name": "RSSP"})
    assert run(rssp.client().info())["specs"] == "2.0.0.2"


@pytest.mark.parametrize(
    ("method", "response", "error"),
    [
        (
            "credentials/list",
            httpx.Response(400, json={"error": "invalid_request", "error_description": "userID"}),
            "invalid_request",
        ),
        ("credentials/list", httpx.Response(503, text="<html>down</html>"), "http_503"),
        ("credentials/list", httpx.Response(200, text="not json"), "invalid_response"),
        ("credentials/list", httpx.Response(200, json=["cred-1"]), "invalid_response"),
        (
            "credentials/list",
            httpx.Response(200, json={"credentialIDs": "cred-1"}),
            "invalid_response",
        ),
        ("credentials/list", httpx.Response(200, json={"credentialIDs": []}), "no_credential"),
        ("credentials/info", httpx.Response(200, json={"key": {}}), "invalid_response"),
        (
            "credentials/info",
            httpx.Response(200, json={"key": {}, "cert": {"certificates": ["bm90IGEgY2VydA=="]}}),
            "invalid_response",
        ),
        (
            "credentials/info",
            httpx.Response(200, json={"key": {}, "cert": {"certificates": []}}),
            "invalid_response",
        ),
    ],
)
def test_unusable_credential_answers(rssp, method, response, error):
    rssp.override[method] = response
    with pytest.raises(CscError) as raised:
        run(RemoteSigner.for_user(rssp.client(), PERSONAL_ID))
    assert raised.value.error == error
    if response.status_code != 200:
        assert raised.value.status == response.status_code
    if error == "invalid_request":
        assert raised.value.description == "userID"


def test_the_credential_naming_the_user_and_valid_now_is_chosen(rssp, ca, now):
    """The service lists another person's credential and an expired one of the user before
    the good one: signing with either would put someone else's (or a failing) signature on
    the user's writes."""
    other_person = ca.issue("Trần Thị Bình", "001185054321", rssp.key.public_key())
    expired = ca.issue("Nguyễn Văn An", PERSONAL_ID, rssp.key.public_key(),
                       not_before=now - timedelta(days=40), lifetime=timedelta(days=30))
    rssp.credentials = {"cred-other": ca.chain_for(other_person),
                        "cred-expired": ca.chain_for(expired), "cred-1": rssp.chain}
    signer = signer_for(rssp)
    assert signer.credential_id == "cred-1" and signer.chain == rssp.chain


def test_credentials_withdrawn_or_untrusted_are_passed_over(rssp, ca):
    """A credential the service says is revoked or disabled, or whose chain ends at no anchor
    the server trusts, would sign writes whose signatures do not pass: the next one signs,
    and with none left the refusal says why each was passed over."""
    stranger = DevCertificateAuthority.create()
    untrusted = stranger.chain_for(stranger.issue("Nguyễn Văn An", PERSONAL_ID,
                                                  rssp.key.public_key()))
    rssp.credentials = {"cred-revoked": rssp.chain, "cred-disabled": rssp.chain,
                        "cred-untrusted": untrusted, "cred-1": rssp.chain}
    rssp.statuses = {"cred-revoked": ("enabled", "revoked"),
                     "cred-disabled": ("disabled", "valid")}
    signer = run(RemoteSigner.for_user(rssp.client(), PERSONAL_ID, anchors=ca.anchors))
    assert signer.credential_id == "cred-1"
    del rssp.credentials["cred-1"]
    with pytest.raises(CscError) as raised:
        run(RemoteSigner.for_user(rssp.client(), PERSONAL_ID, anchors=ca.anchors))
    assert raised.value.error == "no_credential"
    for reason in ("certificate is revoked", "key is disabled", "cred-untrusted"):
        assert reason in raised.value.description, raised.value.description


def test_no_credential_naming_the_user_is_refused(rssp, ca):
    other_person = ca.issue("Trần Thị Bình", "001185054321", rssp.key.public_key())
    rssp.credentials = {"cred-other": ca.chain_for(other_person)}
    with pytest.raises(CscError) as raised:
        signer_for(rssp)
    assert raised.value.error == "no_credential"


def signer_for(rssp) -> RemoteSigner:
    return run(RemoteSigner.for_user(rssp.client(), PERSONAL_ID))


@pytest.mark.parametrize(
    "answer",
    [
        {"signatures": ["not base64!"]},
        {"signatures": [1]},
        {"signatures": "AAAA"},
        {},
        {"signatures": []},  # one hash, no signature
        {"signatures": ["AAAA", "AAAA"]},  # one hash, two signatures
    ],
)
def test_malformed_signhash_answers(rssp, answer):
    signer = signer_for(rssp)
    rssp.override["signatures/signHash"] = httpx.Response(200, json=answer)
    with pytest.raises(CscError) as raised:
        run(signer.sign_digests([DIGEST]))
    assert raised.value.error == "invalid_response"


def test_signatures_that_do_not_verify_are_refused(rssp, rsa_key):
    signer = signer_for(rssp)
    wrong_input = rsa_key.sign(b"other", padding.PKCS1v15(), hashes.SHA256())
    rssp.override["signatures/signHash"] = httpx.Response(
        200, json={"signatures": [b64(rssp.sign(DIGEST)), b64(wrong_input)]}
    )
    with pytest.raises(CscError) as raised:
        run(signer.sign_digests([DIGEST, DIGEST]))
    assert raised.value.error == "invalid_signature"


def test_ecdsa_signature_must_be_der_and_verify(ca):
    rssp = FakeRssp(ca, ec.generate_private_key(ec.SECP256R1()))
    signer = signer_for(rssp)
    assert signer.alg == "ES256" and signer.sign_algo == ECDSA_WITH_SHA256
    (signature,) = run(signer.sign_digests([DIGEST]))
    assert len(signature) == 64  # DER from the service, JWS r || s out
    other_key = ec.generate_private_key(ec.SECP256R1())
    for bad in (
        b"\x01" * 64,  # raw r || s is not what CSC returns
        other_key.sign(DIGEST, ec.ECDSA(utils.Prehashed(hashes.SHA256()))),
    ):
        rssp.override["signatures/signHash"] = httpx.Response(200, json={"signatures": [b64(bad)]})
        with pytest.raises(CscError, match="does not verify"):
            run(signer.sign_digests([DIGEST]))


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
    ],
)
def test_unsupported_credential_keys(ca, key):
    with pytest.raises(CscError) as raised:
        signer_for(FakeRssp(ca, key))
    assert raised.value.error == "unsupported_key"


def test_digests_must_be_sha256_and_empty_needs_no_call(rssp):
    signer = signer_for(rssp)
    before = len(rssp.requests)
    with pytest.raises(ValueError):
        run(signer.sign_digests([b"short"]))
    assert run(signer.sign_digests([])) == []
    assert len(rssp.requests) == before


@pytest.mark.parametrize(
    ("exception", "error"),
    [
        (httpx.ConnectError("refused"), "unreachable"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.RemoteProtocolError("garbled"), "unreachable"),
    ],
)
def test_transport_failures(exception, error):
    def fail(request):
        raise exception

    client = CscClient(BASE, httpx.AsyncClient(transport=httpx.MockTransport(fail)), "t")
    with pytest.raises(CscError) as raised:
        run(client.list_credentials(PERSONAL_ID))
    assert raised.value.error == error and raised.value.status is None


@pytest.mark.parametrize("dropped", [httpx.ReadError(""), httpx.RemoteProtocolError("closed"),
                                     httpx.WriteError("reset")])
def test_a_connection_dropped_as_the_request_went_out_is_tried_once_more(rssp, dropped):
    """A kept-alive connection the service closed just then (uvicorn and httpx both keep
    idle connections 5 s) failed a write in CI; the call goes out once more, and a second
    failure is the service's."""
    failures = [dropped]

    def flaky(request):
        if failures:
            raise failures.pop()
        return rssp.handle(request)

    client = CscClient(BASE, httpx.AsyncClient(transport=httpx.MockTransport(flaky)), "t")
    assert run(client.list_credentials(PERSONAL_ID)) == ["cred-1"]
    failures += [dropped, dropped]
    with pytest.raises(CscError) as raised:
        run(client.list_credentials(PERSONAL_ID))
    assert raised.value.error == "unreachable"
