"""JWS with a detached, unencoded payload: RFC 7515 compact serialisation with RFC 7797 ``b64``.

A provenance signature is ``BASE64URL(header) || '..' || BASE64URL(signature)``: the payload
part is empty (detached, RFC 7515 Appendix F) and, because the protected header says
``"b64": false`` (RFC 7797 §3), the signing input is the ASCII of the encoded header, a dot
and the raw payload bytes — not their base64url form.

- RFC 7515 (JWS): https://www.rfc-editor.org/rfc/rfc7515
- RFC 7797 (unencoded payload option): https://www.rfc-editor.org/rfc/rfc7797
- RFC 7518 §3 (ES256, RS256, PS256): https://www.rfc-editor.org/rfc/rfc7518#section-3

Only asymmetric algorithms are ever accepted: never ``none``, never ``HS*``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

SUPPORTED_ALGS = ("ES256", "RS256", "PS256")
#: Header parameters this package understands when a JWS lists them in ``crit``.
UNDERSTOOD_CRIT = ("b64", "sigT", "sigD")
#: Parameters registered by RFC 7515/7518 that must never appear in ``crit`` (RFC 7515 §4.1.11).
_REGISTERED = frozenset(
    {"alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit"}
)
_ES256_COORDINATE = 32  # bytes of r and of s for P-256 (RFC 7518 §3.4)
_MIN_RSA_BITS = 2048  # RFC 7518 §3.3 and §3.5


class SignatureInvalid(ValueError):
    """The JWS is malformed, uses a refused algorithm or header, or its signature is wrong.

    `check` names the verification step that failed: ``format``, ``algorithm``, ``crit`` or
    ``signature``.
    """

    def __init__(self, check: str, reason: str):
        super().__init__(reason)
        self.check = check
        self.reason = reason


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def base64_binary(text: str) -> bytes:
    """The bytes of a FHIR base64Binary (`Signature.data`): standard base64, whose whitespace
    (the line breaks of MIME-style base64) R4's pattern `(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+`
    allows; raises binascii.Error for anything else."""
    if not isinstance(text, str):
        raise binascii.Error("a base64Binary is a JSON string")
    return base64.b64decode("".join(text.split()), validate=True)


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2); raises ValueError otherwise."""
    if "=" in text or not text.isascii():
        raise ValueError("not unpadded base64url")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as error:
        raise ValueError("not base64url") from error
    if b64url_encode(data) != text:  # non-canonical trailing bits
        raise ValueError("not canonical base64url")
    return data


def encode_header(header: dict[str, Any]) -> str:
    """BASE64URL(UTF8(JWS Protected Header)); compact JSON, non-ASCII kept as UTF-8."""
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return b64url_encode(text.encode("utf-8"))


def signing_input(header_b64: str, payload: bytes) -> bytes:
    """``ASCII(BASE64URL(header)) || '.' || payload`` for ``b64: false`` (RFC 7797 §3)."""
    return header_b64.encode("ascii") + b"." + payload


def sign_detached(
    payload: bytes, header: dict[str, Any], sign: Callable[[bytes], bytes], alg: str
) -> str:
    """Compact JWS with detached unencoded payload: ``BASE64URL(header)..BASE64URL(sig)``.

    `header` must already say ``"b64": false`` with ``b64`` in ``crit`` and ``alg`` = `alg`;
    `sign` gets the signing input and returns the signature in JWS form (for ECDSA the
    fixed-size ``r || s`` of RFC 7518 §3.4, see :func:`ecdsa_der_to_jws`).
    """
    header_b64, data = prepare_detached(payload, header, alg)
    return compact_detached(header_b64, sign(data))


def prepare_detached(payload: bytes, header: dict[str, Any], alg: str) -> tuple[str, bytes]:
    """Check `header` for :func:`sign_detached`; return (encoded header, signing input)."""
    if header.get("alg") != alg or alg not in SUPPORTED_ALGS:
        raise ValueError(f"header alg must be the signer's alg, one of {SUPPORTED_ALGS}")
    check_crit(header)
    header_b64 = encode_header(header)
    return header_b64, signing_input(header_b64, payload)


def compact_detached(header_b64: str, signature: bytes) -> str:
    """``BASE64URL(header)..BASE64URL(signature)``: the detached compact serialisation."""
    return f"{header_b64}..{b64url_encode(signature)}"


def parse_detached(jws: str) -> tuple[dict[str, Any], str, bytes]:
    """Split a detached compact JWS into (header, encoded header, signature bytes)."""
    parts = jws.split(".") if isinstance(jws, str) else []
    if len(parts) != 3:
        raise SignatureInvalid("format", "not a JWS compact serialisation (three parts)")
    header_b64, payload_part, signature_b64 = parts
    if payload_part:
        raise SignatureInvalid("format", "payload part must be empty: the payload is detached")
    try:
        header = json.loads(b64url_decode(header_b64).decode("utf-8"))
        signature = b64url_decode(signature_b64)
    except (ValueError, UnicodeDecodeError) as error:
        raise SignatureInvalid("format", f"header or signature is not valid: {error}") from None
    if not isinstance(header, dict):
        raise SignatureInvalid("format", "protected header is not a JSON object")
    return header, header_b64, signature


def check_algorithm(header: dict[str, Any], public_key: Any, allowed_algs: Collection[str]) -> str:
    """The header's ``alg`` is allowed and fits the key (RFC 8725 §3.1: never none/HS*)."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed_algs or alg not in SUPPORTED_ALGS:
        allowed = sorted(set(allowed_algs) & set(SUPPORTED_ALGS))
        raise SignatureInvalid("algorithm", f"alg {alg!r} is not allowed (allowed: {allowed})")
    if alg == "ES256":
        if not (
            isinstance(public_key, ec.EllipticCurvePublicKey)
            and isinstance(public_key.curve, ec.SECP256R1)
        ):
            raise SignatureInvalid("algorithm", "ES256 needs a P-256 elliptic-curve key")
    elif not isinstance(public_key, rsa.RSAPublicKey):
        raise SignatureInvalid("algorithm", f"{alg} needs an RSA key")
    elif public_key.key_size < _MIN_RSA_BITS:
        raise SignatureInvalid("algorithm", f"RSA key of {public_key.key_size} bits < 2048")
    return alg


def check_crit(header: dict[str, Any], understood: Collection[str] = UNDERSTOOD_CRIT) -> None:
    """``crit`` per RFC 7515 §4.1.11 and ``b64`` per RFC 7797 §3 and §6."""
    crit = header.get("crit")
    if not isinstance(crit, list) or not crit or not all(isinstance(n, str) for n in crit):
        raise SignatureInvalid("crit", "crit must be a non-empty list of header names")
    if len(set(crit)) != len(crit):
        raise SignatureInvalid("crit", "crit lists a name twice")
    if registered := sorted(set(crit) & _REGISTERED):
        raise SignatureInvalid("crit", f"crit must not list registered parameters {registered}")
    if unknown := [name for name in crit if name not in understood]:
        raise SignatureInvalid("crit", f"crit lists parameters not understood: {unknown}")
    if missing := [name for name in crit if name not in header]:
        raise SignatureInvalid("crit", f"crit lists parameters absent from the header: {missing}")
    if header.get("b64") is not False or "b64" not in crit:
        raise SignatureInvalid("crit", 'the header must say "b64": false and list b64 in crit')


def verify_signature(
    header_b64: str, payload: bytes, signature: bytes, public_key: Any, alg: str
) -> None:
    """Check the signature over the RFC 7797 signing input with `public_key`."""
    data = signing_input(header_b64, payload)
    try:
        if alg == "ES256":
            der = ecdsa_jws_to_der(signature, _ES256_COORDINATE)
            public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        elif alg == "RS256":
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256":
            public_key.verify(signature, data, pss_padding(), hashes.SHA256())
        else:
            raise SignatureInvalid("algorithm", f"alg {alg!r} is not supported")
    except (InvalidSignature, ValueError) as error:
        if isinstance(error, SignatureInvalid):
            raise
        raise SignatureInvalid(
            "signature", f"{alg} signature does not verify over this header and payload"
        ) from None


def verify_detached(
    jws: str,
    payload: bytes,
    public_key: Any,
    allowed_algs: Collection[str] = SUPPORTED_ALGS,
    understood: Collection[str] = UNDERSTOOD_CRIT,
) -> dict[str, Any]:
    """Verify a detached ``b64: false`` compact JWS over `payload`; return its header.

    Raises :class:`SignatureInvalid` (its ``check`` says which step failed).
    """
    header, header_b64, signature = parse_detached(jws)
    alg = check_algorithm(header, public_key, allowed_algs)
    check_crit(header, understood)
    verify_signature(header_b64, payload, signature, public_key, alg)
    return header


def pss_padding() -> padding.PSS:
    """RSASSA-PSS with MGF1-SHA256 and a 32-byte salt (RFC 7518 §3.5)."""
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def ecdsa_der_to_jws(der: bytes, coordinate_size: int = _ES256_COORDINATE) -> bytes:
    """DER ECDSA-Sig-Value (what `cryptography` returns) → JWS ``r || s`` (RFC 7518 §3.4)."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(coordinate_size, "big") + s.to_bytes(coordinate_size, "big")


def ecdsa_jws_to_der(raw: bytes, coordinate_size: int = _ES256_COORDINATE) -> bytes:
    """JWS ``r || s`` → DER ECDSA-Sig-Value; ValueError unless exactly 2 × coordinate size."""
    if len(raw) != 2 * coordinate_size:
        raise ValueError(f"ECDSA signature must be {2 * coordinate_size} bytes")
    r = int.from_bytes(raw[:coordinate_size], "big")
    s = int.from_bytes(raw[coordinate_size:], "big")
    return encode_dss_signature(r, s)
