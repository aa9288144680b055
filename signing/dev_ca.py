"""A development certificate authority: root CA → issuing CA → signing certificates.

For tests, the demo and ``--dev`` only; production signers get their certificates from a
licensed CA. Certificates follow RFC 5280 (https://www.rfc-editor.org/rfc/rfc5280) with the
profile of :mod:`signing.certificates`, keyUsage digitalSignature + nonRepudiation:

- a person's certificate: ``CN=<name>, UID=CCCD:<12-digit personal ID>`` (UTF-8 names such
  as "Nguyễn Văn An"), :meth:`DevCertificateAuthority.issue`;
- an organisation seal: ``CN=<name>, O=<name>, UID=MST:<tax code>``,
  :meth:`DevCertificateAuthority.issue_seal`.

All keys are ECDSA P-256, certificates SHA-256.

Saved as PEM in one directory (mode 0700): ``root-ca.pem``, ``root-ca.key.pem``,
``issuing-ca.pem``, ``issuing-ca.key.pem``; key files are written with mode 0600.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from signing.certificates import (
    ORGANIZATION_ID_PREFIX,
    PERSONAL_ID,
    PERSONAL_ID_PREFIX,
    TAX_CODE,
)
from signing.keys import LocalSigner, PublicKey

ROOT_NAME = "FHIR Exchange Development Root CA"
ISSUING_NAME = "FHIR Exchange Development Issuing CA"
_ORGANIZATION = "FHIR Exchange Server (development only)"
ROOT_CERTIFICATE_FILE = "root-ca.pem"
_FILES = (ROOT_CERTIFICATE_FILE, "root-ca.key.pem", "issuing-ca.pem", "issuing-ca.key.pem")


class DevCertificateAuthority:
    """A root CA and an issuing CA that issues personal signing certificates."""

    def __init__(
        self,
        root_key: ec.EllipticCurvePrivateKey,
        root_cert: x509.Certificate,
        issuing_key: ec.EllipticCurvePrivateKey,
        issuing_cert: x509.Certificate,
    ):
        for key, cert in ((root_key, root_cert), (issuing_key, issuing_cert)):
            if key.public_key() != cert.public_key():
                raise ValueError(f"the key does not match {cert.subject.rfc4514_string()}")
        self.root_key, self.root_cert = root_key, root_cert
        self.issuing_key, self.issuing_cert = issuing_key, issuing_cert

    @property
    def anchors(self) -> list[x509.Certificate]:
        """The trust anchors a verifier needs: the root certificate."""
        return [self.root_cert]

    @classmethod
    def create(cls, now: datetime | None = None) -> DevCertificateAuthority:
        """New root (10 years, pathLen 1) and issuing CA (5 years, pathLen 0)."""
        start = (now or datetime.now(UTC)) - timedelta(hours=1)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _ca_name(ROOT_NAME)
        root = _ca_certificate(
            root_name, root_key.public_key(), root_name, root_key, start, 3650, path_length=1
        )
        issuing_key = ec.generate_private_key(ec.SECP256R1())
        issuing = _ca_certificate(
            _ca_name(ISSUING_NAME),
            issuing_key.public_key(),
            root_name,
            root_key,
            start,
            1825,
            path_length=0,
            issuer_cert=root,
        )
        return cls(root_key, root, issuing_key, issuing)

    @classmethod
    def load_or_create(cls, directory: str | os.PathLike) -> DevCertificateAuthority:
        """The CA saved in `directory`, or a new one saved there."""
        directory = Path(directory)
        present = [name for name in _FILES if (directory / name).exists()]
        if not present:
            authority = cls.create()
            authority.save(directory)
            return authority
        if len(present) != len(_FILES):
            raise ValueError(f"{directory} holds an incomplete development CA: {present}")
        root, root_key, issuing, issuing_key = ((directory / n).read_bytes() for n in _FILES)
        return cls(
            load_key_pem(root_key),
            x509.load_pem_x509_certificate(root),
            load_key_pem(issuing_key),
            x509.load_pem_x509_certificate(issuing),
        )

    def save(self, directory: str | os.PathLike) -> None:
        """Write the four PEM files; the private keys readable by their owner only."""
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, data, mode in (
            (ROOT_CERTIFICATE_FILE, self.root_cert.public_bytes(serialization.Encoding.PEM), 0o644),
            ("root-ca.key.pem", key_pem(self.root_key), 0o600),
            ("issuing-ca.pem", self.issuing_cert.public_bytes(serialization.Encoding.PEM), 0o644),
            ("issuing-ca.key.pem", key_pem(self.issuing_key), 0o600),
        ):
            write_file(directory / name, data, mode)

    def issue(
        self,
        name: str,
        personal_id: str,
        public_key: PublicKey,
        *,
        not_before: datetime | None = None,
        lifetime: timedelta = timedelta(days=730),
    ) -> x509.Certificate:
        """A signing certificate ``CN=<name>, UID=CCCD:<personal_id>`` (default: 2 years)."""
        if not PERSONAL_ID.fullmatch(personal_id):
            raise ValueError("a personal ID is 12 digits")
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, name),
                x509.NameAttribute(NameOID.USER_ID, PERSONAL_ID_PREFIX + personal_id),
            ]
        )
        return self._issue_signing(subject, public_key, not_before, lifetime)

    def issue_seal(
        self,
        name: str,
        tax_code: str,
        public_key: PublicKey,
        *,
        not_before: datetime | None = None,
        lifetime: timedelta = timedelta(days=730),
    ) -> x509.Certificate:
        """An organisation seal ``CN=<name>, O=<name>, UID=MST:<tax_code>`` (default: 2 years)."""
        if not TAX_CODE.fullmatch(tax_code):
            raise ValueError("a tax code is 10 digits, optionally followed by - and 3 digits")
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.USER_ID, ORGANIZATION_ID_PREFIX + tax_code),
            ]
        )
        return self._issue_signing(subject, public_key, not_before, lifetime)

    def _issue_signing(
        self,
        subject: x509.Name,
        public_key: PublicKey,
        not_before: datetime | None,
        lifetime: timedelta,
    ) -> x509.Certificate:
        """An end-entity certificate for `subject` allowing digitalSignature, nonRepudiation."""
        start = not_before or datetime.now(UTC) - timedelta(minutes=5)
        builder = (
            _builder(subject, public_key, self.issuing_cert.subject, start, start + lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(certifies=False), critical=True)
            .add_extension(_authority_key_id(self.issuing_cert), critical=False)
        )
        return builder.sign(self.issuing_key, hashes.SHA256())

    def chain_for(self, leaf: x509.Certificate) -> list[x509.Certificate]:
        """The ``x5c`` path of a certificate this CA issued: leaf, issuing CA."""
        return [leaf, self.issuing_cert]

    def new_signer(self, name: str, personal_id: str, **options) -> LocalSigner:
        """A fresh P-256 key with a certificate for `name` / `personal_id` (ES256)."""
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = self.issue(name, personal_id, key.public_key(), **options)
        return LocalSigner(key, self.chain_for(leaf))

    def new_seal_signer(self, name: str, tax_code: str, **options) -> LocalSigner:
        """A fresh P-256 key with an organisation seal for `name` / `tax_code` (ES256)."""
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = self.issue_seal(name, tax_code, key.public_key(), **options)
        return LocalSigner(key, self.chain_for(leaf))


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, public_key: PublicKey, issuer: x509.Name, start: datetime, end: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_certificate(
    subject: x509.Name,
    public_key: PublicKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    start: datetime,
    days: int,
    path_length: int,
    issuer_cert: x509.Certificate | None = None,
) -> x509.Certificate:
    usage = _key_usage(certifies=True)
    builder = (
        _builder(subject, public_key, issuer, start, start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(usage, critical=True)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(_authority_key_id(issuer_cert), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def load_key_pem(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """The ECDSA private key of an unencrypted PEM such as :func:`key_pem` writes."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"a development key is ECDSA, not {type(key).__name__}")
    return key


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of `key` (development keys only)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Write atomically; the file never exists with a wider mode than `mode`."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, mode)  # the umask may have narrowed it; never widened
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _key_usage(certifies: bool) -> x509.KeyUsage:
    """A CA certifies (keyCertSign, cRLSign); a person signs with non-repudiation
    (digitalSignature, contentCommitment)."""
    return x509.KeyUsage(
        digital_signature=not certifies,
        content_commitment=not certifies,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certifies,
        crl_sign=certifies,
        encipher_only=False,
        decipher_only=False,
    )
