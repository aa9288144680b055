"""Signature.data for one resource version: header contract, verification report, refusals."""

import base64
import copy
import hashlib
import json
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from signing.canonical import signed_content
from signing.dev_ca import DevCertificateAuthority
from signing.jws import b64url_decode, b64url_encode, ecdsa_jws_to_der, signing_input
from signing.keys import LocalSigner
from signing.provenance import sign_resource, verify_resource
from signing.report import CHECK_NAMES, INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED

PERSONAL_ID = "001085012345"
TARGET = "Patient/pat-1/_history/3"


def compact_of(signature_data: str) -> str:
    return base64.b64decode(signature_data, validate=True).decode("ascii")


def header_of(signature_data: str) -> dict:
    return json.loads(b64url_decode(compact_of(signature_data).split(".")[0]))


def failed(report) -> list[str]:
    return [check.name for check in report.failures()]


def test_header_contract(signer, patient):
    signed_at = datetime(2026, 11, 23, 17, 0, 0, 123456, tzinfo=UTC) + timedelta(hours=-7)
    data = sign_resource(patient, TARGET, signer, signed_at)
    header_b64, payload_part, signature_b64 = compact_of(data).split(".")
    assert payload_part == ""
    assert len(b64url_decode(signature_b64)) == 64
    header = header_of(data)
    leaf_der = signer.chain[0].public_bytes(serialization.Encoding.DER)
    assert header == {
        "alg": "ES256",
        "kid": signer.kid,
        "x5c": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for c in signer.chain
        ],
        "x5t#S256": b64url_encode(hashlib.sha256(leaf_der).digest()),
        "sigT": "2026-11-23T10:00:00Z",
        "sigD": {
            "mId": "http://uri.etsi.org/19182/ObjectIdByURI",
            "pars": [TARGET],
            "ctys": ["application/fhir+json"],
        },
        "b64": False,
        "crit": ["b64", "sigT", "sigD"],
    }
    assert base64.b64decode(header["x5c"][0], validate=True) == leaf_der  # standard base64
    # the signature is over ASCII(BASE64URL(header)) '.' canonical content (RFC 7797 §3)
    public = signer.chain[0].public_key()
    public.verify(
        ecdsa_jws_to_der(b64url_decode(signature_b64)),
        signing_input(header_b64, signed_content(patient)),
        ec.ECDSA(hashes.SHA256()),
    )


def test_valid_signature_passes(signer, ca, patient, now):
    data = sign_resource(patient, TARGET, signer, now)
    report = verify_resource(data, patient, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_PASSED and report.passed
    assert report.sub_indication is None
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    assert all(c.passed for c in report.checks if c.name != "revocation")
    assert report.check("revocation").passed is None
    assert report.signer_personal_id == PERSONAL_ID and report.signed_at == now
    json.dumps(report.to_dict())  # JSON-ready
    # any personal ID is accepted when none is expected
    assert verify_resource(data, patient, TARGET, ca.anchors).passed


@pytest.mark.parametrize("alg", ["PS256", "RS256"])
def test_rsa_signers(ca, patient, now, alg):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = ca.issue("Trần Thị Bình", "079190000123", key.public_key())
    signer = LocalSigner(key, ca.chain_for(leaf), alg=alg)
    data = sign_resource(patient, TARGET, signer, now)
    assert header_of(data)["alg"] == alg
    assert verify_resource(data, patient, TARGET, ca.anchors, "079190000123").passed
    assert not verify_resource(
        data, patient, TARGET, ca.anchors, "079190000123", allowed_algs=("ES256",)
    ).passed


def test_unsigned_elements_may_change(signer, ca, patient, now):
    data = sign_resource(patient, TARGET, signer, now)
    other = copy.deepcopy(patient)
    other["id"] = "renamed"
    other["meta"] = {"versionId": "4", "tag": [{"code": "x"}]}
    other["text"] = {"status": "empty", "div": '<div xmlns="http://www.w3.org/1999/xhtml"/>'}
    assert verify_resource(data, other, TARGET, ca.anchors, PERSONAL_ID).passed
    del other["id"], other["meta"], other["text"]
    assert verify_resource(data, other, TARGET, ca.anchors, PERSONAL_ID).passed


def test_changed_content_fails(signer, ca, patient, now):
    data = sign_resource(patient, TARGET, signer, now)
    other = copy.deepcopy(patient)
    other["birthDate"] = "1985-03-15"
    report = verify_resource(data, other, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_FAILED and report.sub_indication == "SIG_CRYPTO_FAILURE"
    assert failed(report) == ["signature"]
    other = copy.deepcopy(patient)
    other["resourceType"] = "Practitioner"
    assert failed(verify_resource(data, other, TARGET, ca.anchors, PERSONAL_ID)) == ["content"]


def test_vietnamese_nfc_signature_does_not_verify_nfd(signer, ca, patient, now):
    nfc = copy.deepcopy(patient)
    nfc["name"][0]["family"] = unicodedata.normalize("NFC", "Nguyễn")
    nfd = copy.deepcopy(patient)
    nfd["name"][0]["family"] = unicodedata.normalize("NFD", "Nguyễn")
    data = sign_resource(nfc, TARGET, signer, now)
    assert verify_resource(data, nfc, TARGET, ca.anchors, PERSONAL_ID).passed
    report = verify_resource(data, nfd, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_FAILED and failed(report) == ["signature"]


def test_other_target_fails(signer, ca, patient, now):
    data = sign_resource(patient, TARGET, signer, now)
    report = verify_resource(data, patient, "Patient/pat-1/_history/2", ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_FAILED and failed(report) == ["target"]


def test_expired_certificate_at_signing_time(ca, patient, now):
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = ca.issue(
        "Nguyễn Văn An",
        PERSONAL_ID,
        key.public_key(),
        not_before=datetime(2023, 1, 1, tzinfo=UTC),
        lifetime=timedelta(days=365),
    )
    data = sign_resource(patient, TARGET, LocalSigner(key, ca.chain_for(leaf)), now)
    report = verify_resource(data, patient, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_FAILED and report.sub_indication == "EXPIRED"
    assert failed(report) == ["validity-at-signing-time"]
    assert "has expired" in report.check("validity-at-signing-time").reason


def test_signed_before_the_certificate_was_valid(signer, ca, patient):
    data = sign_resource(patient, TARGET, signer, datetime(2020, 1, 1, tzinfo=UTC))
    report = verify_resource(data, patient, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_FAILED and report.sub_indication == "NOT_YET_VALID"


def test_certificate_expired_since_signing_is_fine(patient):
    ca = DevCertificateAuthority.create(now=datetime.now(UTC) - timedelta(days=500))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = ca.issue(
        "An",
        PERSONAL_ID,
        key.public_key(),
        not_before=datetime.now(UTC) - timedelta(days=400),
        lifetime=timedelta(days=365),
    )
    signed_at = datetime.now(UTC) - timedelta(days=100)
    data = sign_resource(patient, TARGET, LocalSigner(key, ca.chain_for(leaf)), signed_at)
    assert verify_resource(data, patient, TARGET, ca.anchors, PERSONAL_ID).passed


def test_untrusted_root_is_indeterminate(signer, patient, now):
    data = sign_resource(patient, TARGET, signer, now)
    report = verify_resource(
        data, patient, TARGET, DevCertificateAuthority.create().anchors, PERSONAL_ID
    )
    assert report.indication == INDETERMINATE
    assert report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert failed(report) == ["chain"]
    assert verify_resource(data, patient, TARGET, [], PERSONAL_ID).indication == INDETERMINATE


def test_wrong_personal_id(signer, ca, patient, now):
    data = sign_resource(patient, TARGET, signer, now)
    report = verify_resource(data, patient, TARGET, ca.anchors, "001085012346")
    assert report.indication == TOTAL_FAILED and failed(report) == ["identity"]
    assert "001085012345" in report.check("identity").reason


def test_certificate_without_personal_id(ca, patient, now):
    key = ec.generate_private_key(ec.SECP256R1())
    template = ca.issue("An", PERSONAL_ID, key.public_key())
    builder = x509.CertificateBuilder(
        issuer_name=template.issuer,
        subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nobody")]),
        public_key=key.public_key(),
        serial_number=x509.random_serial_number(),
        not_valid_before=template.not_valid_before_utc,
        not_valid_after=template.not_valid_after_utc,
        extensions=list(template.extensions),
    )
    leaf = builder.sign(ca.issuing_key, hashes.SHA256())
    data = sign_resource(patient, TARGET, LocalSigner(key, ca.chain_for(leaf)), now)
    report = verify_resource(data, patient, TARGET, ca.anchors)
    assert failed(report) == ["identity"] and report.indication == TOTAL_FAILED


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        (lambda h: h.update(alg="none"), "algorithm"),
        (lambda h: h.update(alg="HS256"), "algorithm"),
        (lambda h: h.update(alg="PS256"), "algorithm"),  # EC key
        (lambda h: h.update(crit=["b64", "sigT", "sigD", "exp"], exp=1), "crit"),
        (lambda h: h.update(crit=["b64"]), "crit"),
        (lambda h: h.update(b64=True), "crit"),
        (lambda h: h.pop("crit"), "crit"),
        (lambda h: h["sigD"].update(mId="urn:other"), "target"),
        (lambda h: h["sigD"].update(ctys=["application/json"]), "target"),
        (lambda h: h["sigD"].update(hashV=["x"]), "target"),
    ],
)
def test_header_refusals_even_when_validly_signed(forge, ca, patient, edit, check):
    report = verify_resource(forge(patient, edit), patient, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_FAILED
    assert check in failed(report)


def test_alg_none_with_empty_signature(forge, ca, patient):
    data = forge(patient, lambda h: h.update(alg="none"), signature=b"")
    report = verify_resource(data, patient, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_FAILED and failed(report) == ["algorithm"]
    assert report.check("signature").passed is None  # never attempted


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h.pop("x5c"),
        lambda h: h.update(x5c=[]),
        lambda h: h.update(x5c=["not base64!"]),
        lambda h: h.update(x5c=[base64.b64encode(b"not DER").decode()]),
        lambda h: h.update({"x5t#S256": "AAAA"}),
        lambda h: h.update(sigT="2026-11-23 10:00:00"),
        lambda h: h.update(sigT="2026-11-23T10:00:00+07:00"),
        lambda h: h.pop("sigT"),
        lambda h: h.pop("kid"),
    ],
)
def test_format_failures(forge, ca, patient, edit):
    report = verify_resource(forge(patient, edit), patient, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_FAILED and report.sub_indication == "FORMAT_FAILURE"
    assert failed(report) == ["format"]
    assert all(c.passed is None for c in report.checks if c.name != "format")


@pytest.mark.parametrize(
    "data",
    ["", "%%%", base64.b64encode(b"a.b.c").decode(), base64.b64encode("é..x".encode()).decode()],
)
def test_garbage_signature_data(ca, patient, data):
    report = verify_resource(data, patient, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == TOTAL_FAILED and failed(report) == ["format"]


def test_key_usage_failure_is_indeterminate(ca, patient, now):
    key = ec.generate_private_key(ec.SECP256R1())
    template = ca.issue("An", PERSONAL_ID, key.public_key())
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    extensions = [e for e in template.extensions if not isinstance(e.value, x509.KeyUsage)]
    builder = x509.CertificateBuilder(
        issuer_name=template.issuer,
        subject_name=template.subject,
        public_key=key.public_key(),
        serial_number=x509.random_serial_number(),
        not_valid_before=template.not_valid_before_utc,
        not_valid_after=template.not_valid_after_utc,
        extensions=[*extensions, x509.Extension(usage.oid, True, usage)],
    )
    leaf = builder.sign(ca.issuing_key, hashes.SHA256())
    data = sign_resource(patient, TARGET, LocalSigner(key, ca.chain_for(leaf)), now)
    report = verify_resource(data, patient, TARGET, ca.anchors, PERSONAL_ID)
    assert report.indication == INDETERMINATE and failed(report) == ["key-usage"]
    assert report.sub_indication == "CHAIN_CONSTRAINTS_FAILURE"


def test_revocation_source(signer, ca, patient, now):
    data = sign_resource(patient, TARGET, signer, now)
    seen = []

    def good(cert, issuer):
        seen.append((cert, issuer))
        return False

    assert verify_resource(data, patient, TARGET, ca.anchors, revocation=good).passed
    assert seen == [(signer.chain[0], ca.issuing_cert), (ca.issuing_cert, ca.root_cert)]
    revoked = verify_resource(data, patient, TARGET, ca.anchors, revocation=lambda c, i: True)
    assert revoked.indication == INDETERMINATE and revoked.sub_indication == "REVOKED_NO_POE"
    unknown = verify_resource(data, patient, TARGET, ca.anchors, revocation=lambda c, i: None)
    assert unknown.indication == INDETERMINATE and unknown.sub_indication == "TRY_LATER"


def test_sign_resource_refuses_inconsistent_input(signer, patient, now):
    for target in (
        "Patient/pat-1",
        "Patient/pat-1/_history/",
        "patient/pat-1/_history/3",
        "Practitioner/pat-1/_history/3",
        "Patient/other/_history/3",
        "Patient/pat-1/_history/4",
        "Patient/p@t/_history/3",
    ):
        with pytest.raises(ValueError):
            sign_resource(patient, target, signer, now)
    with pytest.raises(ValueError, match="timezone"):
        sign_resource(patient, TARGET, signer, datetime(2026, 11, 23, 10))
    not_json = copy.deepcopy(patient)
    not_json["extension"] = [{"url": "x", "valueDecimal": float("nan")}]
    with pytest.raises(ValueError):
        sign_resource(not_json, TARGET, signer, now)


def test_signing_time_in_the_future(signer, ca, patient, now):
    data = sign_resource(patient, TARGET, signer, now + timedelta(hours=1))
    report = verify_resource(data, patient, TARGET, ca.anchors, PERSONAL_ID)
    assert failed(report) == ["validity-at-signing-time"]
    assert "in the future" in report.check("validity-at-signing-time").reason
    later = now + timedelta(hours=2)
    assert verify_resource(
        data, patient, TARGET, ca.anchors, PERSONAL_ID, validation_time=later
    ).passed
