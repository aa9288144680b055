"""The development CA's certificates, the personal ID in them and the RFC 5280 path checks."""

import stat
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from signing.certificates import (
    chain_problems,
    check_chain,
    find_anchor,
    key_usage_problems,
    personal_id_of,
    validity_problems,
)
from signing.dev_ca import DevCertificateAuthority

PERSONAL_ID = "001085012345"


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def leaf(ca, key):
    return ca.issue("Nguyễn Văn An", PERSONAL_ID, key.public_key())


def test_leaf_profile(leaf, ca):
    assert leaf.subject.rfc4514_string() == "UID=CCCD:001085012345,CN=Nguyễn Văn An"
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Nguyễn Văn An"
    (uid,) = leaf.subject.get_attributes_for_oid(NameOID.USER_ID)
    assert uid.oid.dotted_string == "0.9.2342.19200300.100.1.1" and uid.value == "CCCD:001085012345"
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(days=729) < lifetime <= timedelta(days=731)
    assert leaf.issuer == ca.issuing_cert.subject
    assert personal_id_of(leaf) == PERSONAL_ID


def test_personal_id_must_be_12_digits(ca, key):
    for bad in ("00108501234", "0010850123456", "00108501234x", "００１０８５０１２３４５"):
        with pytest.raises(ValueError):
            ca.issue("An", bad, key.public_key())


def _self_signed(subject: x509.Name, key, **extensions) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
    )
    for extension, critical in extensions.values():
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, hashes.SHA256())


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ([("CN", "An"), ("UID", "CCCD:001085012345")], PERSONAL_ID),
        ([("CN", "An")], None),
        ([("UID", "001085012345")], None),  # no CCCD: prefix
        ([("UID", "CCCD:12345")], None),
        ([("UID", "CCCD:001085012345"), ("UID", "CCCD:001085012346")], None),  # ambiguous
        ([("UID", "CCCD:001085012345"), ("UID", "CCCD:001085012345")], PERSONAL_ID),
    ],
)
def test_personal_id_of(key, attributes, expected):
    oids = {"CN": NameOID.COMMON_NAME, "UID": NameOID.USER_ID}
    name = x509.Name([x509.NameAttribute(oids[kind], value) for kind, value in attributes])
    assert personal_id_of(_self_signed(name, key)) == expected


def test_valid_chain(ca, leaf):
    at = datetime.now(UTC)
    assert check_chain(ca.chain_for(leaf), ca.anchors, at) == []
    # the root may be sent too, and the issuing CA may itself be the trust anchor
    assert check_chain([*ca.chain_for(leaf), ca.root_cert], ca.anchors, at) == []
    assert check_chain(ca.chain_for(leaf), [ca.issuing_cert], at) == []
    assert find_anchor(ca.chain_for(leaf), [ca.issuing_cert]) == (
        [leaf, ca.issuing_cert],
        ca.issuing_cert,
    )


def test_standard_verifier_accepts_the_dev_chain(ca, leaf):
    """cryptography's RFC 5280 verifier (WebPKI CA profile) agrees with check_chain."""
    at = datetime.now(UTC)
    verifier = (
        PolicyBuilder()
        .store(Store(ca.anchors))
        .time(at)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    verified = verifier.verify(leaf, [ca.issuing_cert])
    assert verified.chain == [leaf, ca.issuing_cert, ca.root_cert]
    stranger = DevCertificateAuthority.create()
    with pytest.raises(VerificationError):
        verifier.verify(
            stranger.issue("X", PERSONAL_ID, leaf.public_key()), [stranger.issuing_cert]
        )


def test_untrusted_root(ca, leaf):
    stranger = DevCertificateAuthority.create()
    problems = chain_problems(ca.chain_for(leaf), stranger.anchors)
    assert len(problems) == 1 and "no trust anchor" in problems[0]
    assert find_anchor(ca.chain_for(leaf), stranger.anchors)[1] is None
    # a look-alike root: same name, other key
    twin = DevCertificateAuthority.create()
    assert twin.root_cert.subject == ca.root_cert.subject
    assert chain_problems(ca.chain_for(leaf), twin.anchors)


def test_broken_links(ca, leaf):
    stranger = DevCertificateAuthority.create()
    problems = chain_problems([leaf, stranger.issuing_cert], ca.anchors)
    assert any("does not verify" in p for p in problems)
    problems = chain_problems([ca.issuing_cert, leaf], ca.anchors)  # wrong order
    assert any("its issuer is not" in p for p in problems)
    assert chain_problems([], ca.anchors) == ["the certificate chain is empty"]


def test_expired_and_not_yet_valid(ca, key):
    expired = ca.issue(
        "An",
        PERSONAL_ID,
        key.public_key(),
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        lifetime=timedelta(days=365),
    )
    problems = validity_problems([expired], datetime.now(UTC))
    assert len(problems) == 1 and "has expired" in problems[0]
    assert validity_problems([expired], datetime(2020, 6, 1, tzinfo=UTC)) == []
    early = validity_problems([expired], datetime(2019, 12, 31, tzinfo=UTC))
    assert len(early) == 1 and "not yet valid" in early[0]
    assert chain_problems(ca.chain_for(expired), ca.anchors) == []  # only a validity problem


def _issue(ca, key, *, usage=None, basic=None, extra=None, issuer_key=None, issuer=None):
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.USER_ID, "CCCD:" + PERSONAL_ID)]))
        .issuer_name((issuer or ca.issuing_cert).subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
    )
    for item in (usage, basic, extra):
        if item is not None:
            builder = builder.add_extension(item[0], critical=item[1])
    return builder.sign(issuer_key or ca.issuing_key, hashes.SHA256())


def _usage(**flags) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


def test_key_usage(ca, key):
    no_usage = _issue(ca, key)
    assert key_usage_problems(no_usage) == ["the signer's certificate has no keyUsage extension"]
    signature_only = _issue(ca, key, usage=(_usage(digital_signature=True), True))
    assert key_usage_problems(signature_only) == [
        "the signer's keyUsage does not allow nonRepudiation"
    ]
    encipher = _issue(ca, key, usage=(_usage(key_encipherment=True), True))
    assert "digitalSignature, nonRepudiation" in key_usage_problems(encipher)[0]


@pytest.mark.parametrize(("purposes", "refused"), [
    ([ExtendedKeyUsageOID.SERVER_AUTH], True),  # a TLS server's certificate
    ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CODE_SIGNING], True),
    ([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION], False),
    ([x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")], False),  # document signing, RFC 9336
    ([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE], False),
])
def test_extended_key_usage_must_allow_signing(ca, key, purposes, refused):
    """RFC 5280 §4.2.1.12: a certificate that lists its purposes is for those only."""
    signing = (_usage(digital_signature=True, content_commitment=True), True)
    leaf = _issue(ca, key, usage=signing, extra=(x509.ExtendedKeyUsage(purposes), False))
    problems = key_usage_problems(leaf)
    assert bool(problems) == refused, problems
    if refused:
        assert "extendedKeyUsage" in problems[0] and "serverAuth" in problems[0]


def test_issuers_must_be_cas(ca, key, leaf):
    # a person's certificate used as an issuer
    person_key = ec.generate_private_key(ec.SECP256R1())
    person = ca.issue("An", PERSONAL_ID, person_key.public_key())
    grandchild = _issue(ca, key, issuer=person, issuer_key=person_key)
    problems = chain_problems([grandchild, person, ca.issuing_cert], ca.anchors)
    assert any("is not a CA" in p for p in problems)


def test_path_length(ca, key):
    # the issuing CA has pathLen 0: a sub-CA below it breaks the path
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub_ca = _issue(
        ca,
        sub_key,
        basic=(x509.BasicConstraints(ca=True, path_length=None), True),
        usage=(_usage(key_cert_sign=True), True),
    )
    below = _issue(
        ca,
        key,
        issuer=sub_ca,
        issuer_key=sub_key,
        usage=(_usage(digital_signature=True, content_commitment=True), True),
    )
    problems = chain_problems([below, sub_ca, ca.issuing_cert], ca.anchors)
    assert any("allows 0 CAs below it" in p for p in problems)


def test_unknown_critical_extension(ca, key):
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    cert = _issue(
        ca,
        key,
        usage=(_usage(digital_signature=True, content_commitment=True), True),
        extra=(odd, True),
    )
    problems = chain_problems([cert, ca.issuing_cert], ca.anchors)
    assert problems == [
        f"certificate 0 ({cert.subject.rfc4514_string()}) has a critical extension this "
        "verifier does not process: 1.3.6.1.4.1.55555.1"
    ]
    harmless = _issue(ca, key, extra=(odd, False))
    assert chain_problems([harmless, ca.issuing_cert], ca.anchors) == []


def test_save_and_load(tmp_path, ca, key):
    directory = tmp_path / "dev-ca"
    created = DevCertificateAuthority.load_or_create(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("root-ca.key.pem", "issuing-ca.key.pem"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in directory.iterdir()) == [
        "issuing-ca.key.pem",
        "issuing-ca.pem",
        "root-ca.key.pem",
        "root-ca.pem",
    ]
    loaded = DevCertificateAuthority.load_or_create(directory)
    assert loaded.root_cert == created.root_cert and loaded.issuing_cert == created.issuing_cert
    leaf = loaded.issue("Nguyễn Văn An", PERSONAL_ID, key.public_key())
    assert check_chain(loaded.chain_for(leaf), created.anchors, datetime.now(UTC)) == []
    (directory / "issuing-ca.pem").unlink()
    with pytest.raises(ValueError, match="incomplete"):
        DevCertificateAuthority.load_or_create(directory)


def test_mismatched_key_is_refused(ca):
    with pytest.raises(ValueError, match="does not match"):
        DevCertificateAuthority(ca.issuing_key, ca.root_cert, ca.issuing_key, ca.issuing_cert)
