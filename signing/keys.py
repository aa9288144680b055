"""Signers: a private key (or a remote signing service) plus its X.509 chain.

A signer produces signatures in JWS form (RFC 7518 §3: ``r || s`` for ES256, the plain
RSASSA value for RS256/PS256) over the RFC 7797 signing input. Two protocols:
:class:`Signer` signs one signing input; :class:`DigestSigner` signs the SHA-256 digests of
many signing inputs in one call, as a remote signing service does (CSC API v2
``signatures/signHash``, see :mod:`signing.csc`). :class:`LocalSigner` holds the key in memory,
loaded from PEM or PKCS#12 (RFC 7292), and is both.

``kid`` defaults to the RFC 7638 JWK thumbprint of the public key
(https://www.rfc-editor.org/rfc/rfc7638), so it stays the same when the certificate is renewed
for the same key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import pkcs12

from signing.jws import b64url_encode, ecdsa_der_to_jws, pss_padding

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class Signer(Protocol):
    """What :func:`signing.provenance.sign_resource` needs from a signer."""

    alg: str
    kid: str
    chain: list[x509.Certificate]

    def sign(self, data: bytes) -> bytes:
        """The JWS-form signature of `data` (the JWS signing input)."""
        ...


class DigestSigner(Protocol):
    """What :func:`signing.provenance.sign_resources` needs: many digests signed at once."""

    alg: str
    kid: str
    chain: list[x509.Certificate]

    async def sign_digests(self, digests: Sequence[bytes]) -> list[bytes]:
        """JWS-form signatures of SHA-256 `digests` of JWS signing inputs, in order."""
        ...


class LocalSigner:
    """A private key in memory with its certificate chain (leaf first).

    EC P-256 keys sign ES256; RSA keys (≥ 2048 bits) sign PS256, or RS256 with
    ``alg="RS256"``.
    """

    def __init__(
        self,
        private_key: PrivateKey,
        chain: list[x509.Certificate],
        *,
        alg: str | None = None,
        kid: str | None = None,
    ):
        if not chain:
            raise ValueError("a signer needs its certificate chain, leaf first")
        if chain[0].public_key() != private_key.public_key():
            raise ValueError("the first certificate of the chain is not the key's certificate")
        self.private_key = private_key
        self.chain = list(chain)
        self.alg = _algorithm_for(private_key, alg)
        self.kid = kid or jwk_thumbprint(private_key.public_key())

    @classmethod
    def from_pem(
        cls, key_pem: bytes, chain_pem: bytes, password: bytes | None = None, **options
    ) -> LocalSigner:
        """From a PEM private key (PKCS#8 or traditional) and PEM certificates, leaf first."""
        key = serialization.load_pem_private_key(key_pem, password=password)
        return cls(_supported(key), x509.load_pem_x509_certificates(chain_pem), **options)

    @classmethod
    def from_pkcs12(cls, data: bytes, password: bytes | None = None, **options) -> LocalSigner:
        """From a PKCS#12 (.p12/.pfx) file holding the key, its certificate and CA certificates.

        The CA certificates are put in issuing order after the leaf (each one the issuer of the
        one before), whatever order the file stores them in.
        """
        bundle = pkcs12.load_pkcs12(data, password)
        if bundle.key is None or bundle.cert is None:
            raise ValueError("the PKCS#12 file holds no private key and certificate")
        cas = [item.certificate for item in bundle.additional_certs]
        return cls(_supported(bundle.key), order_chain(bundle.cert.certificate, cas), **options)

    def sign(self, data: bytes) -> bytes:
        """JWS-form signature of `data`: SHA-256 here, then :meth:`sign_hash`."""
        return self.sign_hash(hashlib.sha256(data).digest())

    def sign_hash(self, digest: bytes) -> bytes:
        """JWS-form signature of a SHA-256 `digest` (what a remote signing service gets)."""
        if len(digest) != 32:
            raise ValueError("digest must be a SHA-256 digest (32 bytes)")
        prehashed = utils.Prehashed(hashes.SHA256())
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return ecdsa_der_to_jws(key.sign(digest, ec.ECDSA(prehashed)))
        pad = padding.PKCS1v15() if self.alg == "RS256" else pss_padding()
        return key.sign(digest, pad, prehashed)

    async def sign_digests(self, digests: Sequence[bytes]) -> list[bytes]:
        """:meth:`sign_hash` of each SHA-256 digest (the :class:`DigestSigner` protocol)."""
        return [self.sign_hash(digest) for digest in digests]


def _supported(key: object) -> PrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def _algorithm_for(key: PrivateKey, alg: str | None) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"EC keys must be on P-256 for ES256, not {key.curve.name}")
        if alg not in (None, "ES256"):
            raise ValueError(f"a P-256 key signs ES256, not {alg}")
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ValueError("RSA keys must have at least 2048 bits (RFC 7518 §3.3)")
        if alg not in (None, "PS256", "RS256"):
            raise ValueError(f"an RSA key signs PS256 or RS256, not {alg}")
        return alg or "PS256"
    raise ValueError(f"unsupported private key type {type(key).__name__}")


def order_chain(leaf: x509.Certificate, cas: list[x509.Certificate]) -> list[x509.Certificate]:
    """`leaf` followed by the certificates of `cas` that issue it, in issuing order."""
    chain, remaining = [leaf], list(cas)
    while remaining:
        issuer = next((c for c in remaining if c.subject == chain[-1].issuer), None)
        if issuer is None or chain[-1].issuer == chain[-1].subject:
            break
        chain.append(issuer)
        remaining.remove(issuer)
    return chain


def jwk_thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 §3 SHA-256 JWK thumbprint of an EC or RSA public key, base64url."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        size = (public_key.curve.key_size + 7) // 8
        numbers = public_key.public_numbers()
        members = {
            "crv": {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[
                public_key.curve.name
            ],
            "kty": "EC",
            "x": b64url_encode(numbers.x.to_bytes(size, "big")),
            "y": b64url_encode(numbers.y.to_bytes(size, "big")),
        }
    elif isinstance(public_key, rsa.RSAPublicKey):
        rsa_numbers = public_key.public_numbers()
        members = {
            "e": b64url_encode(_unsigned(rsa_numbers.e)),
            "kty": "RSA",
            "n": b64url_encode(_unsigned(rsa_numbers.n)),
        }
    else:
        raise ValueError(f"unsupported public key type {type(public_key).__name__}")
    text = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(text.encode("ascii")).digest())


def _unsigned(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")
