"""sign_resources (many versions, one sign_digests call), deletion tombstones and seals."""

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from signing.canonical import signed_content
from signing.certificates import check_chain, organization_id_of, personal_id_of
from signing.jws import b64url_decode, ecdsa_jws_to_der, signing_input
from signing.keys import LocalSigner
from signing.provenance import sign_resource, sign_resources, verify_resource
from signing.report import TOTAL_FAILED, TOTAL_PASSED

PERSONAL_ID = "001085012345"
HOSPITAL = "Bệnh viện Đa khoa Demo"
TAX_CODE = "0100000000"


class CountingSigner:
    """A DigestSigner around a LocalSigner that records every sign_digests call."""

    def __init__(self, inner: LocalSigner, extra: int = 0):
        self.inner = inner
        self.alg, self.kid, self.chain = inner.alg, inner.kid, inner.chain
        self.calls: list[list[bytes]] = []
        self.extra = extra  # signatures added to (or, negative, dropped from) each answer

    async def sign_digests(self, digests: Sequence[bytes]) -> list[bytes]:
        self.calls.append(list(digests))
        signatures = await self.inner.sign_digests(digests)
        if self.extra >= 0:
            return signatures + signatures[: self.extra]
        return signatures[: self.extra]


def patients(count: int) -> list[tuple[dict, str]]:
    return [
        (
            {
                "resourceType": "Patient",
                "id": f"pat-{n}",
                "meta": {"versionId": "1"},
                "name": [{"family": "Nguyễn", "given": ["Văn", f"An {n}"]}],
            },
            f"Patient/pat-{n}/_history/1",
        )
        for n in range(count)
    ]


def parts(signature_data: str) -> tuple[str, str]:
    header_b64, _, signature_b64 = base64.b64decode(signature_data).decode().split(".")
    return header_b64, signature_b64


@pytest.fixture(scope="module")
def rsa_signer(ca) -> LocalSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return LocalSigner(
        key, ca.chain_for(ca.issue("An", PERSONAL_ID, key.public_key())), alg="RS256"
    )


@pytest.fixture(scope="module")
def seal(ca) -> LocalSigner:
    return ca.new_seal_signer(HOSPITAL, TAX_CODE)


def test_rs256_batch_is_byte_identical_to_one_by_one(rsa_signer, now):
    """Known answer: RSASSA-PKCS1-v1_5 is deterministic, so both paths give the same bytes."""
    items = patients(5)
    batch = asyncio.run(sign_resources(items, rsa_signer, now))
    assert batch == [sign_resource(r, t, rsa_signer, now) for r, t in items]


def test_one_sign_digests_call_for_all_versions(signer, ca, now):
    items = patients(20)
    counting = CountingSigner(signer)
    batch = asyncio.run(sign_resources(items, counting, now))
    assert len(counting.calls) == 1 and len(counting.calls[0]) == 20
    for (resource, target), data, digest in zip(items, batch, counting.calls[0], strict=True):
        header_b64, signature_b64 = parts(data)
        # the digest is the SHA-256 of this version's RFC 7797 signing input
        assert (
            digest == hashlib.sha256(signing_input(header_b64, signed_content(resource))).digest()
        )
        single_header_b64, _ = parts(sign_resource(resource, target, signer, now))
        assert header_b64 == single_header_b64  # same header as sign_resource
        signer.chain[0].public_key().verify(
            ecdsa_jws_to_der(b64url_decode(signature_b64)),
            signing_input(header_b64, signed_content(resource)),
            ec.ECDSA(hashes.SHA256()),
        )
        report = verify_resource(data, resource, target, ca.anchors, PERSONAL_ID)
        assert report.indication == TOTAL_PASSED, report.to_dict()
    # each signature covers its own version only
    (r0, t0), (_, t1) = items[0], items[1]
    assert not verify_resource(batch[1], r0, t0, ca.anchors).passed
    assert not verify_resource(batch[0], r0, t1, ca.anchors).passed


def test_nothing_to_sign_makes_no_call(signer, now):
    counting = CountingSigner(signer)
    assert asyncio.run(sign_resources([], counting, now)) == []
    assert counting.calls == []


@pytest.mark.parametrize("extra", [1, -1])
def test_wrong_number_of_signatures_is_refused(signer, now, extra):
    with pytest.raises(ValueError, match="signatures"):
        asyncio.run(sign_resources(patients(3), CountingSigner(signer, extra), now))


@pytest.mark.parametrize(
    ("resource", "target"),
    [
        ({"resourceType": "Patient", "id": "pat-0"}, "Patient/pat-0"),
        ({"resourceType": "Encounter", "id": "pat-0"}, "Patient/pat-0/_history/1"),
        ({"resourceType": "Patient", "id": "other"}, "Patient/pat-0/_history/1"),
        ({"resourceType": "Patient", "meta": {"versionId": "2"}}, "Patient/pat-0/_history/1"),
    ],
)
def test_same_checks_as_sign_resource_before_any_signing(signer, now, resource, target):
    counting = CountingSigner(signer)
    with pytest.raises(ValueError):
        sign_resource(resource, target, signer, now)
    with pytest.raises(ValueError):
        asyncio.run(sign_resources([*patients(2), (resource, target)], counting, now))
    assert counting.calls == []


def test_local_signer_sign_digests(signer):
    inputs = [b"first", "Nguyễn".encode(), b""]
    signatures = asyncio.run(signer.sign_digests([hashlib.sha256(i).digest() for i in inputs]))
    for data, signature in zip(inputs, signatures, strict=True):
        signer.chain[0].public_key().verify(
            ecdsa_jws_to_der(signature), data, ec.ECDSA(hashes.SHA256())
        )
    with pytest.raises(ValueError):
        asyncio.run(signer.sign_digests([b"not a digest"]))


def test_deletion_tombstone_signs_and_verifies(signer, ca, now):
    tombstone, target = {"resourceType": "Patient"}, "Patient/pat-1/_history/4"
    assert signed_content(tombstone) == b'{"resourceType":"Patient"}'
    (batch,) = asyncio.run(sign_resources([(tombstone, target)], signer, now))
    single = sign_resource(tombstone, target, signer, now)
    for data in (batch, single):
        report = verify_resource(data, tombstone, target, ca.anchors, PERSONAL_ID)
        assert report.indication == TOTAL_PASSED, report.to_dict()
        # a tombstone signature does not vouch for any content, nor for another type
        content = {"resourceType": "Patient", "gender": "male"}
        assert verify_resource(data, content, target, ca.anchors).check("signature").passed is False
        wrong_type = verify_resource(data, {"resourceType": "Encounter"}, target, ca.anchors)
        assert wrong_type.indication == TOTAL_FAILED


def test_seal_certificate_profile(seal, ca, now):
    leaf = seal.chain[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == HOSPITAL
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == HOSPITAL
    assert [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.USER_ID)] == [
        f"MST:{TAX_CODE}"
    ]
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    assert organization_id_of(leaf) == TAX_CODE and personal_id_of(leaf) is None
    assert check_chain(seal.chain, ca.anchors, now) == []
    assert seal.alg == "ES256"
    branch = ca.issue_seal(HOSPITAL, "0100000000-001", seal.private_key.public_key())
    assert organization_id_of(branch) == "0100000000-001"
    for bad in (
        "010000000",
        "01000000000",
        "0100000000-01",
        "MST:0100000000",
        "０１００００００００",
    ):
        with pytest.raises(ValueError):
            ca.issue_seal(HOSPITAL, bad, seal.private_key.public_key())


def test_expected_organization_id(seal, signer, ca, patient, now):
    target = "Patient/pat-1/_history/3"
    sealed = sign_resource(patient, target, seal, now)
    report = verify_resource(sealed, patient, target, ca.anchors, expected_organization_id=TAX_CODE)
    assert report.indication == TOTAL_PASSED, report.to_dict()
    assert report.signer_organization_id == TAX_CODE and report.signer_personal_id is None
    assert json.loads(json.dumps(report.to_dict()))["signerOrganizationId"] == TAX_CODE

    other = verify_resource(
        sealed, patient, target, ca.anchors, expected_organization_id="0100000001"
    )
    assert other.indication == TOTAL_FAILED and other.check("identity").passed is False
    # without an expected organisation, today's rule holds: the signer must be a person
    assert verify_resource(sealed, patient, target, ca.anchors).check("identity").passed is False
    assert not verify_resource(sealed, patient, target, ca.anchors, PERSONAL_ID).passed
    # a person's signature is not a seal
    personal = sign_resource(patient, target, signer, now)
    as_seal = verify_resource(
        personal, patient, target, ca.anchors, expected_organization_id=TAX_CODE
    )
    assert as_seal.check("identity").passed is False
    assert verify_resource(personal, patient, target, ca.anchors).passed
    with pytest.raises(ValueError):
        verify_resource(
            personal, patient, target, ca.anchors, PERSONAL_ID, expected_organization_id=TAX_CODE
        )


_KEY = ec.generate_private_key(ec.SECP256R1())


def certificate_with_uids(*uids: str) -> x509.Certificate:
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Bệnh viện")]
        + [x509.NameAttribute(NameOID.USER_ID, uid) for uid in uids]
    )
    start = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
        .sign(_KEY, hashes.SHA256())
    )


TAX_CODE_PATTERN = r"[0-9]{10}(-[0-9]{3})?"
TAX_CODES = st.from_regex(rf"\A{TAX_CODE_PATTERN}\Z")
NOT_TAX_CODES = st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20
).filter(lambda text: not re.fullmatch(TAX_CODE_PATTERN, text))


@settings(max_examples=60, deadline=None)
@given(TAX_CODES)
def test_organization_id_of_valid_tax_codes(tax_code):
    assert organization_id_of(certificate_with_uids(f"MST:{tax_code}")) == tax_code
    assert (
        organization_id_of(certificate_with_uids(f"MST:{tax_code}", f"MST:{tax_code}")) == tax_code
    )
    # a person's UID beside it does not matter; a second, different tax code does
    assert organization_id_of(certificate_with_uids(f"MST:{tax_code}", "CCCD:001085012345")) == (
        tax_code
    )
    assert (
        organization_id_of(certificate_with_uids(f"MST:{tax_code}", "MST:9999999999-999")) is None
    )


@settings(max_examples=100, deadline=None)
@given(
    NOT_TAX_CODES
    | st.from_regex(r"\A[0-9]{1,9}(-[0-9]{3})?\Z")
    | TAX_CODES.map(lambda code: code + "0")
    | TAX_CODES.map(lambda code: " " + code)
)
def test_organization_id_of_invalid_tax_codes(text):
    assert organization_id_of(certificate_with_uids(f"MST:{text}")) is None


@pytest.mark.parametrize(
    "uid",
    [
        "MST:010000000",
        "MST:0100000000-",
        "MST:0100000000-0001",
        "mst:0100000000",
        "0100000000",
        "MST: 0100000000",
        "MST:0100000000\n",
        "CCCD:001085012345",
    ],
)
def test_organization_id_of_examples(uid):
    assert organization_id_of(certificate_with_uids(uid)) is None
