"""The development CSC API v2 signing service over real HTTP, with signing.csc as its client."""

import asyncio
import base64
import hashlib
import socket
import stat
from datetime import UTC, datetime

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from fhir_server.api.dev_csc import start_dev_csc
from fhir_server.services.dev_signing import DevSigningService
from signing.certificates import check_chain, organization_id_of, personal_id_of
from signing.csc import (
    ECDSA_WITH_SHA256,
    SHA256,
    SHA256_WITH_RSA,
    CscClient,
    CscError,
    RemoteSigner,
)
from signing.keys import LocalSigner, jwk_thumbprint
from signing.provenance import sign_resource, sign_resources, verify_resource

AN = "001085012345"
BINH = "079190000001"


def run(coroutine):
    return asyncio.run(coroutine)


def anchors(signing_service) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(signing_service.anchor_path.read_bytes())


async def call(url: str, token: str | None, scenario, requests: list | None = None):
    """Run `scenario(client)` with a CSC client over HTTP; record requests in `requests`."""

    async def record(request: httpx.Request) -> None:
        if requests is not None:
            requests.append(request)

    hooks = {"request": [record]}
    async with httpx.AsyncClient(timeout=30, event_hooks=hooks) as http:
        return await scenario(CscClient(url, http, token))


def for_user(signing_service, user: str, name: str | None = None) -> RemoteSigner:
    scenario = lambda client: RemoteSigner.for_user(client, user, name)  # noqa: E731
    return run(call(signing_service.url, signing_service.token, scenario))


def subject(cert: x509.Certificate, oid) -> list[str]:
    return [attribute.value for attribute in cert.subject.get_attributes_for_oid(oid)]


def test_info_needs_no_token(signing_service):
    info = run(call(signing_service.url, None, lambda client: client.info()))
    assert info["specs"].startswith("2.")
    assert {"credentials/list", "credentials/info", "signatures/signHash"} <= set(info["methods"])
    assert info["signAlgorithms"]["algos"] == [ECDSA_WITH_SHA256]


def test_certificate_names_the_user(signing_service):
    signer = for_user(signing_service, AN, "Nguyễn Văn An")
    leaf = signer.chain[0]
    assert subject(leaf, NameOID.COMMON_NAME) == ["Nguyễn Văn An"]
    assert subject(leaf, NameOID.USER_ID) == [f"CCCD:{AN}"] and personal_id_of(leaf) == AN
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert check_chain(signer.chain, anchors(signing_service), datetime.now(UTC)) == []
    assert signer.alg == "ES256" and signer.kid == jwk_thumbprint(leaf.public_key())
    assert AN not in signer.credential_id


def test_users_get_their_own_keys_and_keep_them(signing_service):
    an = for_user(signing_service, AN, "Nguyễn Văn An")
    binh = for_user(signing_service, BINH, "Trần Thị Bình")
    assert an.credential_id != binh.credential_id and an.kid != binh.kid
    assert subject(binh.chain[0], NameOID.USER_ID) == [f"CCCD:{BINH}"]
    # the same user again: the same certificate; the display name counts only when issued
    again = for_user(signing_service, AN, "Someone Else")
    assert again.chain == an.chain and again.credential_id == an.credential_id
    # persisted: a new service on the same directory knows the credential
    reopened = DevSigningService(signing_service.service.directory)
    listed = reopened.list_credentials(AN, None)
    assert listed == {"credentialIDs": [an.credential_id]}
    info = reopened.credential_info(an.credential_id)
    der = [base64.b64decode(item) for item in info["cert"]["certificates"]]
    assert [x509.load_der_x509_certificate(d) for d in der] == an.chain
    assert info["key"]["status"] == "enabled" and info["cert"]["status"] == "valid"
    assert info["auth"] == {"mode": "implicit"} and info["multisign"] > 1000
    assert info["cert"]["subjectDN"] == an.chain[0].subject.rfc4514_string()


def test_without_display_name_the_cn_is_the_personal_id(signing_service):
    signer = for_user(signing_service, "001190000002")
    assert subject(signer.chain[0], NameOID.COMMON_NAME) == ["001190000002"]
    long_name = "Tôn Nữ " * 20
    signer = for_user(signing_service, "001190000003", long_name)
    (common_name,) = subject(signer.chain[0], NameOID.COMMON_NAME)
    assert long_name.startswith(common_name) and len(common_name.encode()) <= 64


def test_concurrent_first_use_issues_one_credential(signing_service):
    async def scenario(client):
        signers = await asyncio.gather(
            *(RemoteSigner.for_user(client, "001190000004", "Lê Văn C") for _ in range(8))
        )
        return {signer.chain[0].serial_number for signer in signers}

    assert len(run(call(signing_service.url, signing_service.token, scenario))) == 1


def test_batch_of_versions_signed_in_one_request(signing_service, now_utc):
    items = [
        (
            {"resourceType": "Patient", "id": f"p{n}", "birthDate": f"19{n + 50}-03-14"},
            f"Patient/p{n}/_history/1",
        )
        for n in range(40)
    ] + [({"resourceType": "Patient"}, "Patient/p0/_history/2")]  # a deletion
    requests: list[httpx.Request] = []

    async def scenario(client):
        signer = await RemoteSigner.for_user(client, AN, "Nguyễn Văn An")
        requests.clear()
        return await sign_resources(items, signer, now_utc)

    signatures = run(call(signing_service.url, signing_service.token, scenario, requests))
    assert [r.url.path for r in requests] == ["/csc/v2/signatures/signHash"]
    trusted = anchors(signing_service)
    for (resource, target), data in zip(items, signatures, strict=True):
        report = verify_resource(data, resource, target, trusted, AN)
        assert report.passed, report.to_dict()
    assert not verify_resource(signatures[0], items[1][0], items[0][1], trusted, AN).passed


def test_wrong_token_is_refused(signing_service):
    for token in ("wrong", None, signing_service.token + "x"):
        with pytest.raises(CscError) as raised:
            run(call(signing_service.url, token, lambda c: RemoteSigner.for_user(c, AN)))
        assert raised.value.error == "invalid_token" and raised.value.status == 401


@pytest.mark.parametrize(
    "user", ["12345", "00108501234X", "0010850123456", " 001085012345", "١" * 12]
)
def test_invalid_user_id(signing_service, user):
    with pytest.raises(CscError) as raised:
        for_user(signing_service, user)
    assert raised.value.error == "invalid_request" and raised.value.status == 400


def test_unknown_credential(signing_service):
    for credential_id in ("0" * 32, "../../root-ca.key", AN):
        with pytest.raises(CscError) as raised:
            scenario = lambda c, i=credential_id: c.credential_info(i)  # noqa: E731
            run(call(signing_service.url, signing_service.token, scenario))
        assert raised.value.error == "invalid_request" and raised.value.status == 400
        with pytest.raises(CscError):
            scenario = lambda c, i=credential_id: c.sign_hash(i, [b"\0" * 32], ECDSA_WITH_SHA256)  # noqa: E731
            run(call(signing_service.url, signing_service.token, scenario))


@pytest.mark.parametrize(
    ("digests", "sign_algo", "hash_algo"),
    [
        ([b"\0" * 31], ECDSA_WITH_SHA256, SHA256),
        ([b"\0" * 48], ECDSA_WITH_SHA256, SHA256),
        ([], ECDSA_WITH_SHA256, SHA256),
        ([b"\0" * 32], SHA256_WITH_RSA, SHA256),
        ([b"\0" * 32], ECDSA_WITH_SHA256, "2.16.840.1.101.3.4.2.2"),
    ],
)
def test_bad_signhash_requests(signing_service, digests, sign_algo, hash_algo):
    signer = for_user(signing_service, AN)

    async def scenario(client):
        return await client.sign_hash(signer.credential_id, digests, sign_algo, hash_algo)

    with pytest.raises(CscError) as raised:
        run(call(signing_service.url, signing_service.token, scenario))
    assert raised.value.error == "invalid_request" and raised.value.status == 400


def test_malformed_bodies_get_csc_errors(signing_service):
    headers = {"Authorization": f"Bearer {signing_service.token}"}
    with httpx.Client(base_url=signing_service.url, headers=headers) as http:
        for path, kwargs in [
            ("/credentials/list", {"json": ["not", "an", "object"]}),
            (
                "/credentials/list",
                {"content": b"{", "headers": {"Content-Type": "application/json"}},
            ),
            ("/signatures/signHash", {"json": {"credentialID": "x", "hashes": "AAAA"}}),
        ]:
            response = http.post(path, **kwargs)
            assert response.status_code == 400
            assert response.json()["error"] == "invalid_request"
        response = http.post("/credentials/unknown", json={})
        assert response.status_code == 404 and set(response.json()) == {
            "error",
            "error_description",
        }


def test_signhash_returns_der_ecdsa_over_the_digest(signing_service):
    signer = for_user(signing_service, AN)
    digest = hashlib.sha256(b"signing input").digest()

    async def scenario(client):
        return await client.sign_hash(signer.credential_id, [digest], ECDSA_WITH_SHA256)

    (der,) = run(call(signing_service.url, signing_service.token, scenario))
    signer.chain[0].public_key().verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_files_and_secrets(signing_service):
    directory = signing_service.service.directory
    token_file = directory / "csc-token"
    assert (
        token_file.read_text().strip() == signing_service.token and len(signing_service.token) > 30
    )
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert DevSigningService(directory).token() == signing_service.token
    for_user(signing_service, AN)
    keys = list((directory / "credentials").glob("*.key.pem"))
    assert keys and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    assert all(AN not in path.name for path in (directory / "credentials").iterdir())
    assert stat.S_IMODE(signing_service.seal_key_path.stat().st_mode) == 0o600
    assert signing_service.anchor_path == directory / "root-ca.pem"


def test_seal(signing_service, now_utc):
    seal = LocalSigner.from_pem(
        signing_service.seal_key_path.read_bytes(), signing_service.seal_chain_path.read_bytes()
    )
    leaf = seal.chain[0]
    assert (
        organization_id_of(leaf) == signing_service.seal_tax_code and personal_id_of(leaf) is None
    )
    assert subject(leaf, NameOID.ORGANIZATION_NAME) == [signing_service.seal_name]
    assert check_chain(seal.chain, anchors(signing_service), now_utc) == []
    resource, target = {"resourceType": "Encounter", "status": "finished"}, "Encounter/e/_history/1"
    data = sign_resource(resource, target, seal, now_utc)
    report = verify_resource(
        data,
        resource,
        target,
        anchors(signing_service),
        expected_organization_id=signing_service.seal_tax_code,
    )
    assert report.passed, report.to_dict()
    # created once: the same key and certificate on every call and after a restart
    again = DevSigningService(signing_service.service.directory).seal_signer(
        signing_service.seal_name, signing_service.seal_tax_code
    )
    assert again.chain == seal.chain and again.kid == seal.kid


def test_renamed_seal_keeps_its_key(tmp_path):
    service = DevSigningService(tmp_path)
    first = service.seal_signer("Bệnh viện A", "0100000001")
    renamed = service.seal_signer("Bệnh viện A", "0100000001-002")
    assert renamed.kid == first.kid and renamed.chain != first.chain
    assert organization_id_of(renamed.chain[0]) == "0100000001-002"
    assert x509.load_pem_x509_certificates(service.seal_chain_path.read_bytes()) == renamed.chain


class ForgingService(DevSigningService):
    """A signing service that answers signHash with signatures by another key."""

    def sign_hash(self, credential_id, hashes_b64, hash_algo, sign_algo):
        other = ec.generate_private_key(ec.SECP256R1())
        return {
            "signatures": [
                base64.b64encode(
                    other.sign(base64.b64decode(h), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
                ).decode()
                for h in hashes_b64
            ]
        }


class ShortService(DevSigningService):
    """A signing service that drops the last signature."""

    def sign_hash(self, credential_id, hashes_b64, hash_algo, sign_algo):
        answer = super().sign_hash(credential_id, hashes_b64, hash_algo, sign_algo)
        return {"signatures": answer["signatures"][:-1]}


@pytest.mark.parametrize(
    ("kind", "error"), [(ForgingService, "invalid_signature"), (ShortService, "invalid_response")]
)
def test_a_misbehaving_service_is_caught(tmp_path, kind, error, now_utc):
    service = kind(tmp_path)

    async def scenario():
        running = await start_dev_csc(service, service.token())
        try:

            async def sign(client):
                signer = await RemoteSigner.for_user(client, AN, "Nguyễn Văn An")
                items = [
                    ({"resourceType": "Patient"}, f"Patient/p{n}/_history/1") for n in range(3)
                ]
                return await sign_resources(items, signer, now_utc)

            return await call(running.url, service.token(), sign)
        finally:
            await running.stop()

    with pytest.raises(CscError) as raised:
        run(scenario())
    assert raised.value.error == error


def test_start_dev_csc_serves_in_the_running_loop_until_stopped(tmp_path):
    service = DevSigningService(tmp_path)

    async def scenario():
        running = await start_dev_csc(service, service.token())
        assert running.url.startswith("http://127.0.0.1:") and running.url.endswith("/csc/v2")
        signer = await call(running.url, service.token(), lambda c: RemoteSigner.for_user(c, AN))
        await running.stop()
        with pytest.raises(CscError) as raised:
            await call(running.url, service.token(), lambda c: c.info())
        return signer, raised.value

    signer, error = run(scenario())
    assert personal_id_of(signer.chain[0]) == AN and error.error == "unreachable"


def test_a_silent_service_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/csc/v2"

        async def scenario():
            async with httpx.AsyncClient(timeout=0.3) as http:
                return await CscClient(url, http, "t").list_credentials(AN)

        with pytest.raises(CscError) as raised:
            run(scenario())
    assert raised.value.error == "timeout"


@pytest.fixture
def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
