"""Interoperability with an independent JOSE implementation: joserfc (RFC 7515 + RFC 7797).

Our detached ``b64: false`` JWS must verify with joserfc given only the payload bytes, and a
detached JWS made by joserfc must verify with ``signing.jws``.
"""

import base64
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwk as joserfc_jwk
from joserfc import jws as joserfc_jws
from joserfc.errors import BadSignatureError
from joserfc.registry import HeaderParameter

from signing.canonical import signed_content
from signing.jws import SignatureInvalid, verify_detached
from signing.keys import LocalSigner
from signing.provenance import sign_resource

TARGET = "Patient/pat-1/_history/3"


def _object(value):
    if not isinstance(value, dict):
        raise ValueError("sigD must be an object")


def registry():
    """joserfc's JWS registry, told that sigT and sigD exist (they are listed in crit)."""
    result = joserfc_jws.JWSRegistry(
        header_registry={
            "sigT": HeaderParameter("JAdES signing time", "str"),
            "sigD": HeaderParameter("JAdES signed data object references", _object),
        },
        algorithms=["ES256", "RS256", "PS256"],
    )
    result.max_header_length = 16_384  # x5c makes our headers larger than its 512-byte default
    return result


def _kty(key) -> str:
    return "RSA" if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) else "EC"


def public_jwk(certificate):
    public = certificate.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return joserfc_jwk.JWKRegistry.import_key(pem, _kty(public))


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("alg", ["ES256", "PS256", "RS256"])
def test_joserfc_verifies_our_signature(ca, signer, patient, rsa_key, alg):
    if alg != "ES256":
        leaf = ca.issue("Nguyễn Văn An", "001085012345", rsa_key.public_key())
        signer = LocalSigner(rsa_key, ca.chain_for(leaf), alg=alg)
    data = sign_resource(patient, TARGET, signer, datetime.now(UTC))
    compact = base64.b64decode(data).decode("ascii")
    key = public_jwk(signer.chain[0])
    assert key.thumbprint() == signer.kid  # RFC 7638, computed independently
    verified = joserfc_jws.deserialize_compact(
        compact, key, algorithms=[alg], registry=registry(), payload=signed_content(patient)
    )
    assert verified.headers()["b64"] is False
    assert verified.headers()["sigD"]["pars"] == [TARGET]
    assert verified.payload == signed_content(patient)
    changed = dict(patient, gender="female")
    with pytest.raises(BadSignatureError):
        joserfc_jws.deserialize_compact(
            compact, key, algorithms=[alg], registry=registry(), payload=signed_content(changed)
        )


def test_joserfc_refuses_unknown_crit_like_we_do(signer, patient):
    """Without sigT/sigD in its registry joserfc refuses our JWS: crit is honoured."""
    compact = base64.b64decode(sign_resource(patient, TARGET, signer, datetime.now(UTC))).decode()
    strict = joserfc_jws.JWSRegistry(algorithms=["ES256"])
    strict.max_header_length = 16_384
    with pytest.raises(Exception, match="sig[TD]"):
        joserfc_jws.deserialize_compact(
            compact,
            public_jwk(signer.chain[0]),
            registry=strict,
            payload=signed_content(patient),
        )


@pytest.mark.parametrize("alg", ["ES256", "PS256", "RS256"])
def test_we_verify_a_joserfc_signature(signer, rsa_key, alg):
    key = signer.private_key if alg == "ES256" else rsa_key
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private = joserfc_jwk.JWKRegistry.import_key(pem, _kty(key))
    payload = '{"resourceType":"Patient","name":[{"family":"Nguyễn"}]}'.encode()
    header = {"alg": alg, "b64": False, "crit": ["b64"]}
    attached = joserfc_jws.serialize_compact(header, payload, private, algorithms=[alg])
    header_b64, signature_b64 = attached.split(".")[0], attached.rsplit(".", 1)[1]
    detached = f"{header_b64}..{signature_b64}"  # RFC 7515 Appendix F: drop the payload
    assert verify_detached(detached, payload, key.public_key()) == header
    with pytest.raises(SignatureInvalid):
        verify_detached(detached, payload + b" ", key.public_key())
