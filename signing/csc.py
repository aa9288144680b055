"""A client of a remote signing service speaking the Cloud Signature Consortium API v2.

Persons sign with keys a remote signing service holds for them (a Vietnamese CA's remote
signing, or a development service). The CSC API v2 (https://cloudsignatureconsortium.org/
resources/download-api-specifications/, "Architectures and protocols for remote signature
applications" v2.0.0.2) is JSON over HTTPS, every method a ``POST <base>/<method>``:

- ``credentials/list`` (§11.4): ``{"userID", "clientData"}`` → ``{"credentialIDs": [...]}``;
- ``credentials/info`` (§11.5): ``{"credentialID", "certificates": "chain", "certInfo"}`` →
  ``{"key": {"status", "algo", "len"}, "cert": {"certificates": [base64 DER, leaf first], ...}}``;
- ``signatures/signHash`` (§11.10): ``{"credentialID", "SAD"?, "hashes": [base64],
  "hashAlgorithmOID", "signAlgo"}`` → ``{"signatures": [base64]}``, one per hash, in order;
- errors: a non-2xx status with ``{"error", "error_description"}`` (OAuth 2.0 style).

:class:`RemoteSigner` is a :class:`signing.keys.DigestSigner`: all digests of a write go in one
``signHash`` call. EC P-256 credentials sign ES256 (signAlgo ecdsa-with-SHA256,
1.2.840.10045.4.3.2; DER signatures are turned into JWS ``r || s``). RSA credentials sign
**RS256** (signAlgo sha256WithRSAEncryption, 1.2.840.113549.1.1.11): RSASSA-PKCS1-v1_5 is what
every remote signing service offers, while PS256 would need ``signAlgoParams`` many lack.
Every signature returned is verified against the certificate's key before it is used.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from signing.certificates import (
    chain_problems,
    key_usage_problems,
    personal_id_of,
    validity_problems,
)
from signing.jws import ecdsa_der_to_jws
from signing.keys import PublicKey, jwk_thumbprint

SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
_DIGEST_SIZE = 32
#: Credentials of one user looked at, at most, for one that fits (one request each).
_MAX_CREDENTIALS = 10


class CscError(Exception):
    """A CSC call failed: the service's ``error`` / ``error_description``, or why it is unusable."""

    def __init__(self, error: str, description: str = "", status: int | None = None):
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class CredentialInfo:
    """What ``credentials/info`` says about a credential (CSC API v2 §11.5)."""

    credential_id: str
    chain: list[x509.Certificate]  # leaf first
    key_algorithms: list[str]  # OIDs
    key_length: int | None
    # What the service says of the key and the certificate (§11.5 `key.status`, `cert.status`):
    # why the credential must not sign, if it says so.
    withdrawn: str | None = None


class CscClient:
    """CSC API v2 methods over `http`; `base_url` ends with the API root, e.g. ``…/csc/v2``."""

    def __init__(self, base_url: str, http: httpx.AsyncClient, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.token = token

    async def info(self) -> dict[str, Any]:
        """``info`` (§11.1): the service's name, methods and algorithms."""
        return await self._call("info", {})

    async def list_credentials(self, user_id: str, client_data: str | None = None) -> list[str]:
        """``credentials/list`` (§11.4): the credential IDs of `user_id`."""
        body = {"userID": user_id}
        if client_data is not None:
            body["clientData"] = client_data
        ids = (await self._call("credentials/list", body)).get("credentialIDs")
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise CscError("invalid_response", "credentialIDs is not a list of strings")
        return ids

    async def credential_info(self, credential_id: str) -> CredentialInfo:
        """``credentials/info`` (§11.5) with the certificate chain."""
        body = {"credentialID": credential_id, "certificates": "chain", "certInfo": True}
        answer = await self._call("credentials/info", body)
        key, cert = answer.get("key"), answer.get("cert")
        if not isinstance(key, dict) or not isinstance(cert, dict):
            raise CscError("invalid_response", "credentials/info has no key or cert object")
        encoded = cert.get("certificates")
        if not isinstance(encoded, list) or not encoded:
            raise CscError("invalid_response", "cert.certificates is not a non-empty list")
        try:
            chain = [x509.load_der_x509_certificate(_b64decode(item)) for item in encoded]
        except ValueError as error:
            raise CscError("invalid_response", f"cert.certificates: {error}") from None
        algorithms = key.get("algo")
        length = key.get("len")
        withdrawn = next((f"its {part} is {status}" for part, status, usable in (
            ("key", key.get("status"), "enabled"), ("certificate", cert.get("status"), "valid"))
            if status is not None and status != usable), None)
        return CredentialInfo(
            credential_id,
            chain,
            [item for item in algorithms if isinstance(item, str)]
            if isinstance(algorithms, list)
            else [],
            length if isinstance(length, int) else None,
            withdrawn,
        )

    async def sign_hash(
        self,
        credential_id: str,
        digests: Sequence[bytes],
        sign_algo: str,
        hash_algo: str = SHA256,
        sad: str | None = None,
    ) -> list[bytes]:
        """``signatures/signHash`` (§11.10): the signatures of `digests`, decoded, in order."""
        body: dict[str, Any] = {
            "credentialID": credential_id,
            "hashes": [base64.b64encode(digest).decode("ascii") for digest in digests],
            "hashAlgorithmOID": hash_algo,
            "signAlgo": sign_algo,
        }
        if sad is not None:
            body["SAD"] = sad
        signatures = (await self._call("signatures/signHash", body)).get("signatures")
        if not isinstance(signatures, list) or not all(isinstance(s, str) for s in signatures):
            raise CscError("invalid_response", "signatures is not a list of strings")
        try:
            return [_b64decode(signature) for signature in signatures]
        except ValueError as error:
            raise CscError("invalid_response", f"signatures: {error}") from None

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            for attempt in range(2):
                try:
                    response = await self.http.post(f"{self.base_url}/{method}", json=body,
                                                    headers=headers)
                    break
                except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                    # A kept-alive connection the service closed as the request went out:
                    # once more on a new one (every call here may be repeated: signing has
                    # no state).
                    if attempt:
                        raise
        except httpx.TimeoutException:
            raise CscError("timeout", f"{method}: the signing service did not answer") from None
        except httpx.HTTPError as error:
            raise CscError("unreachable", f"{method}: {error!r}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not response.is_success:
            answer = answer if isinstance(answer, dict) else {}
            raise CscError(
                str(answer.get("error") or f"http_{response.status_code}"),
                str(answer.get("error_description") or f"{method} answered {response.status_code}"),
                response.status_code,
            )
        if not isinstance(answer, dict):
            raise CscError("invalid_response", f"{method} did not answer a JSON object")
        return answer


class RemoteSigner:
    """A :class:`~signing.keys.DigestSigner` whose key is a CSC credential."""

    def __init__(self, client: CscClient, credential_id: str, chain: list[x509.Certificate]):
        if not chain:
            raise CscError("invalid_response", "the credential has no certificate")
        self.client = client
        self.credential_id = credential_id
        self.chain = list(chain)
        self.public_key: PublicKey = _supported(chain[0].public_key())
        self.alg, self.sign_algo = _algorithm_for(self.public_key)
        self.kid = jwk_thumbprint(self.public_key)

    @classmethod
    async def for_user(
        cls, client: CscClient, user_id: str, display_name: str | None = None,
        anchors: list[x509.Certificate] | None = None,
    ) -> RemoteSigner:
        """The first credential of `user_id`, a personal ID, whose certificate names that
        personal ID (``UID=CCCD:``), is valid now, allows non-repudiation, chains to one of
        `anchors` (if given) and that the service does not say is disabled or revoked
        (`display_name` goes as ``clientData``). A person may hold several credentials (an
        expired one, another role's); signing with one that names someone else would
        attribute the write to them, and one the verifier does not trust makes a signature
        that does not pass."""
        credential_ids = await client.list_credentials(user_id, display_name)
        if not credential_ids:
            raise CscError("no_credential", f"the signing service has no credential for {user_id}")
        now = datetime.now(UTC)
        refusals = []
        for credential_id in credential_ids[:_MAX_CREDENTIALS]:
            info = await client.credential_info(credential_id)
            leaf = info.chain[0]
            problems = (
                ([f"it names {personal_id_of(leaf)}"] if personal_id_of(leaf) != user_id else [])
                + validity_problems([leaf], now) + key_usage_problems(leaf)
                + ([info.withdrawn] if info.withdrawn else [])
                + (chain_problems(info.chain, anchors) if anchors is not None else []))
            if not problems:
                return cls(client, info.credential_id, info.chain)
            refusals.append(f"{credential_id}: {problems[0]}")
        raise CscError(
            "no_credential",
            f"no credential of {user_id} can sign (a certificate naming UID=CCCD:{user_id}, "
            f"valid now, trusted, allowing non-repudiation): {'; '.join(refusals)}",
        )

    async def sign_digests(self, digests: Sequence[bytes]) -> list[bytes]:
        """JWS-form signatures of SHA-256 `digests`, from one ``signHash`` call, each verified."""
        if any(len(digest) != _DIGEST_SIZE for digest in digests):
            raise ValueError("digests must be SHA-256 digests (32 bytes)")
        if not digests:
            return []
        signatures = await self.client.sign_hash(self.credential_id, digests, self.sign_algo)
        if len(signatures) != len(digests):
            raise CscError(
                "invalid_response", f"{len(signatures)} signatures for {len(digests)} hashes"
            )
        return [self._checked(d, s) for d, s in zip(digests, signatures, strict=True)]

    def _checked(self, digest: bytes, signature: bytes) -> bytes:
        """`signature` in JWS form, once it verifies over `digest` with the leaf's key."""
        prehashed = utils.Prehashed(hashes.SHA256())
        try:
            if isinstance(self.public_key, ec.EllipticCurvePublicKey):
                self.public_key.verify(signature, digest, ec.ECDSA(prehashed))
                return ecdsa_der_to_jws(signature)
            self.public_key.verify(signature, digest, padding.PKCS1v15(), prehashed)
            return signature
        except (InvalidSignature, ValueError):
            raise CscError(
                "invalid_signature",
                "the signing service returned a signature that does not verify with the "
                "credential's certificate",
            ) from None


def _supported(key: object) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return key
    raise CscError("unsupported_key", f"unsupported key type {type(key).__name__}")


def _algorithm_for(key: PublicKey) -> tuple[str, str]:
    """(JWS alg, CSC signAlgo OID) for the credential's key."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise CscError("unsupported_key", f"EC keys must be on P-256, not {key.curve.name}")
        return "ES256", ECDSA_WITH_SHA256
    if key.key_size < 2048:
        raise CscError("unsupported_key", "RSA keys must have at least 2048 bits")
    return "RS256", SHA256_WITH_RSA


def _b64decode(text: Any) -> bytes:
    """Strict standard base64 (RFC 4648 §4), as CSC values are; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError("not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise ValueError(f"not base64: {error}") from None
