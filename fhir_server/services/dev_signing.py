"""A development remote signing service: the CSC API v2 operations over a development CA.

For tests, the demo and ``--dev`` only. It plays the Vietnamese CA that holds each person's
signing key: the first ``credentials/list`` for a 12-digit personal ID issues a P-256 key and a
certificate ``CN=<display name>, UID=CCCD:<personal ID>`` (:mod:`signing.dev_ca`), and
``signatures/signHash`` signs SHA-256 digests with it (ecdsa-with-SHA256, DER). It also holds
the hospital's organisation seal. Responses are the JSON objects of the Cloud Signature
Consortium API v2.0.0.2 (https://cloudsignatureconsortium.org/resources/download-api-specifications/);
the HTTP side is :mod:`fhir_server.api.dev_csc`, the client :mod:`signing.csc`.

Files in `directory`: the development CA (``root-ca.pem`` is the trust anchor), ``csc-token``
(the bearer token, mode 0600), ``credentials/<credential id>.key.pem`` (mode 0600) and
``credentials/<credential id>.pem``, ``seal.key.pem`` (mode 0600) and ``seal.pem`` (the seal's
chain, leaf first).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from signing.certificates import PERSONAL_ID, organization_id_of
from signing.csc import ECDSA_WITH_SHA256, SHA256
from signing.dev_ca import (
    ROOT_CERTIFICATE_FILE,
    DevCertificateAuthority,
    key_pem,
    load_key_pem,
    write_file,
)
from signing.keys import LocalSigner

SPECS = "2.0.0.2"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
P256_CURVE = "1.2.840.10045.3.1.7"
#: Most hashes one signHash call may carry (CSC ``multisign``).
MULTISIGN = 100_000
_CREDENTIAL_ID = re.compile(r"[0-9a-f]{32}")
_MAX_COMMON_NAME = 64  # ub-common-name, RFC 5280 Appendix A.1; cryptography counts UTF-8 bytes
_PEM = serialization.Encoding.PEM


class CscServiceError(Exception):
    """A CSC error answer: HTTP `status`, ``error`` and ``error_description``."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


def development_directory(data_dir: Path) -> Path:
    """Where `--dev` keeps its CA, seal and signing credentials in a server data dir."""
    return data_dir / "dev-ca"


def development_anchor(data_dir: Path) -> Path:
    """The development root CA certificate of a server data dir."""
    return development_directory(data_dir) / ROOT_CERTIFICATE_FILE


class DevSigningService:
    """Per-person signing credentials and an organisation seal under one development CA."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.authority = DevCertificateAuthority.load_or_create(self.directory)
        self._credentials = self.directory / "credentials"
        self._credentials.mkdir(mode=0o700, exist_ok=True)
        self._signers: dict[str, LocalSigner] = {}
        self._token: str | None = None
        self._lock = threading.Lock()

    @property
    def anchor_path(self) -> Path:
        """The trust anchor verifiers need: the development root CA certificate."""
        return self.directory / ROOT_CERTIFICATE_FILE

    @property
    def seal_key_path(self) -> Path:
        return self.directory / "seal.key.pem"

    @property
    def seal_chain_path(self) -> Path:
        return self.directory / "seal.pem"

    def token(self) -> str:
        """The bearer token clients must send: a random secret created once, kept in the dir."""
        with self._lock:
            if self._token is None:
                path = self.directory / "csc-token"
                if not path.exists():
                    write_file(path, secrets.token_urlsafe(32).encode("ascii"), 0o600)
                self._token = path.read_text("ascii").strip()
            return self._token

    def info(self) -> dict[str, Any]:
        """CSC ``info``: what this service is and does."""
        return {
            "specs": SPECS,
            "name": "FHIR Exchange development signing service",
            "logo": "",
            "region": "VN",
            "lang": "vi-VN",
            "description": "Development only: keys and certificates of a development CA",
            "authType": ["external"],
            "methods": ["info", "credentials/list", "credentials/info", "signatures/signHash"],
            "signAlgorithms": {"algos": [ECDSA_WITH_SHA256]},
        }

    def list_credentials(self, user_id: Any, client_data: Any = None) -> dict[str, Any]:
        """CSC ``credentials/list``: the person's one credential, issued on first use.

        `client_data` is the display name put in the certificate's CN when it is issued.
        """
        if not isinstance(user_id, str) or not PERSONAL_ID.fullmatch(user_id):
            raise CscServiceError(400, "invalid_request", "Invalid parameter userID")
        if client_data is not None and not isinstance(client_data, str):
            raise CscServiceError(400, "invalid_request", "Invalid parameter clientData")
        credential_id = hashlib.sha256(f"dev-csc:{user_id}".encode()).hexdigest()[:32]
        # Every server process on the data dir has its own service: one issues, the rest load.
        with self._lock, _exclusive(self._credentials / ".issuing.lock"):
            if self._load(credential_id) is None:
                self._issue(credential_id, user_id, client_data)
        return {"credentialIDs": [credential_id]}

    def credential_info(self, credential_id: Any) -> dict[str, Any]:
        """CSC ``credentials/info``: key, certificate chain (leaf, issuing CA), auth mode."""
        signer = self._signer(credential_id)
        leaf = signer.chain[0]
        now = datetime.now(UTC)
        valid = leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc
        return {
            "description": f"Development signing key of {leaf.subject.rfc4514_string()}",
            "key": {
                "status": "enabled",
                "algo": [EC_PUBLIC_KEY, ECDSA_WITH_SHA256],
                "len": 256,
                "curve": P256_CURVE,
            },
            "cert": {
                "status": "valid" if valid else "expired",
                "certificates": [
                    base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
                    for cert in signer.chain
                ],
                "issuerDN": leaf.issuer.rfc4514_string(),
                "serialNumber": format(leaf.serial_number, "x"),
                "subjectDN": leaf.subject.rfc4514_string(),
                "validFrom": leaf.not_valid_before_utc.strftime("%Y%m%d%H%M%SZ"),
                "validTo": leaf.not_valid_after_utc.strftime("%Y%m%d%H%M%SZ"),
            },
            "auth": {"mode": "implicit"},
            "multisign": MULTISIGN,
            "lang": "vi-VN",
        }

    def sign_hash(
        self, credential_id: Any, hashes_b64: Any, hash_algo: Any, sign_algo: Any
    ) -> dict[str, Any]:
        """CSC ``signatures/signHash``: base64 DER ECDSA signatures of the digests, in order."""
        if hash_algo not in (None, SHA256):
            raise CscServiceError(400, "invalid_request", "Invalid parameter hashAlgorithmOID")
        if sign_algo != ECDSA_WITH_SHA256 and not (sign_algo == EC_PUBLIC_KEY and hash_algo):
            raise CscServiceError(400, "invalid_request", "Invalid parameter signAlgo")
        digests = _digests(hashes_b64)
        key = self._signer(credential_id).private_key
        assert isinstance(key, ec.EllipticCurvePrivateKey), "this service makes P-256 keys only"
        return {
            "signatures": [
                base64.b64encode(key.sign(d, ec.ECDSA(utils.Prehashed(hashes.SHA256())))).decode()
                for d in digests
            ]
        }

    def seal_signer(self, organization_name: str, tax_code: str) -> LocalSigner:
        """The organisation seal (created once, kept in the dir; re-certified if renamed)."""
        with self._lock:
            if self.seal_key_path.exists():
                key = load_key_pem(self.seal_key_path.read_bytes())
            else:
                key = ec.generate_private_key(ec.SECP256R1())
                write_file(self.seal_key_path, key_pem(key), 0o600)
            chain = (
                x509.load_pem_x509_certificates(self.seal_chain_path.read_bytes())
                if self.seal_chain_path.exists()
                else []
            )
            if not chain or not _is_seal(chain, key, organization_name, tax_code, self.authority):
                leaf = self.authority.issue_seal(organization_name, tax_code, key.public_key())
                chain = self.authority.chain_for(leaf)
                pem = b"".join(cert.public_bytes(_PEM) for cert in chain)
                write_file(self.seal_chain_path, pem, 0o644)
            return LocalSigner(key, chain)

    def _signer(self, credential_id: Any) -> LocalSigner:
        signer = self._load(credential_id)
        if signer is None:
            raise CscServiceError(400, "invalid_request", "Invalid parameter credentialID")
        return signer

    def _load(self, credential_id: Any) -> LocalSigner | None:
        """The credential's signer, from memory or its files; None if there is none."""
        if not isinstance(credential_id, str) or not _CREDENTIAL_ID.fullmatch(credential_id):
            return None
        signer = self._signers.get(credential_id)
        key_path, cert_path = self._paths(credential_id)
        if signer is None and cert_path.exists():
            key = load_key_pem(key_path.read_bytes())
            leaf = x509.load_pem_x509_certificate(cert_path.read_bytes())
            signer = LocalSigner(key, self.authority.chain_for(leaf))
            self._signers[credential_id] = signer
        return signer

    def _issue(self, credential_id: str, personal_id: str, display_name: str | None) -> None:
        """A new P-256 key and certificate; the certificate file is written last."""
        cut = (display_name or "").strip().encode()[:_MAX_COMMON_NAME]
        name = cut.decode(errors="ignore").strip() or personal_id
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = self.authority.issue(name, personal_id, key.public_key())
        key_path, cert_path = self._paths(credential_id)
        write_file(key_path, key_pem(key), 0o600)
        write_file(cert_path, leaf.public_bytes(_PEM), 0o644)
        self._signers[credential_id] = LocalSigner(key, self.authority.chain_for(leaf))

    def _paths(self, credential_id: str) -> tuple[Path, Path]:
        return (
            self._credentials / f"{credential_id}.key.pem",
            self._credentials / f"{credential_id}.pem",
        )


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Held by one process at a time (`flock` on `lock_path`)."""
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _digests(hashes_b64: Any) -> list[bytes]:
    """The SHA-256 digests of a signHash ``hashes`` parameter (standard base64 strings)."""
    if not isinstance(hashes_b64, list) or not hashes_b64:
        raise CscServiceError(400, "invalid_request", "Missing or invalid array parameter hashes")
    if len(hashes_b64) > MULTISIGN:
        raise CscServiceError(400, "invalid_request", f"More than {MULTISIGN} hashes")
    digests = []
    for item in hashes_b64:
        try:
            digest = base64.b64decode(item, validate=True) if isinstance(item, str) else b""
        except binascii.Error:
            digest = b""
        if len(digest) != hashes.SHA256.digest_size:
            raise CscServiceError(
                400, "invalid_request", "Invalid Base64 hashes string parameter: not SHA-256"
            )
        digests.append(digest)
    return digests


def _is_seal(
    chain: list[x509.Certificate],
    key: Any,
    name: str,
    tax_code: str,
    authority: DevCertificateAuthority,
) -> bool:
    """`chain` is the seal of `name` / `tax_code` for `key`, issued by `authority`."""
    leaf = chain[0]
    names = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return (
        leaf.public_key() == key.public_key()
        and organization_id_of(leaf) == tax_code
        and names == [name]
        and chain == authority.chain_for(leaf)
    )
