"""LocalSigner: algorithms, loading from PEM and PKCS#12, JWS-form signatures, RFC 7638 kid."""

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from signing.jws import b64url_decode, ecdsa_jws_to_der, pss_padding
from signing.keys import LocalSigner, jwk_thumbprint


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_rfc7638_section_3_1_thumbprint():
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    key = rsa.RSAPublicNumbers(65537, int.from_bytes(b64url_decode(n), "big")).public_key()
    assert jwk_thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ec_signer(ca):
    key = ec.generate_private_key(ec.SECP256R1())
    signer = LocalSigner(key, ca.chain_for(ca.issue("An", "001085012345", key.public_key())))
    assert signer.alg == "ES256"
    assert signer.kid == jwk_thumbprint(key.public_key())
    signature = signer.sign(b"signing input")
    assert len(signature) == 64
    key.public_key().verify(
        ecdsa_jws_to_der(signature), b"signing input", ec.ECDSA(hashes.SHA256())
    )
    # sign_hash is what a remote signing service would be given: the SHA-256 of the input
    digest = hashlib.sha256(b"signing input").digest()
    key.public_key().verify(
        ecdsa_jws_to_der(signer.sign_hash(digest)), b"signing input", ec.ECDSA(hashes.SHA256())
    )
    with pytest.raises(ValueError):
        signer.sign_hash(b"short")


@pytest.mark.parametrize(
    ("option", "alg"), [(None, "PS256"), ("PS256", "PS256"), ("RS256", "RS256")]
)
def test_rsa_signer(ca, rsa_key, option, alg):
    leaf = ca.issue("An", "001085012345", rsa_key.public_key())
    signer = LocalSigner(rsa_key, ca.chain_for(leaf), alg=option)
    assert signer.alg == alg
    signature = signer.sign(b"input")
    pad = pss_padding() if alg == "PS256" else padding.PKCS1v15()
    rsa_key.public_key().verify(signature, b"input", pad, hashes.SHA256())


def test_refused_keys_and_chains(ca, rsa_key):
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        LocalSigner(p384, ca.chain_for(ca.issue("An", "001085012345", p384.public_key())))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="2048"):
        LocalSigner(small, ca.chain_for(ca.issue("An", "001085012345", small.public_key())))
    leaf = ca.issue("An", "001085012345", rsa_key.public_key())
    with pytest.raises(ValueError, match="ES256"):
        LocalSigner(rsa_key, [leaf], alg="ES256")
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError, match="not the key's certificate"):
        LocalSigner(other, [leaf])
    with pytest.raises(ValueError, match="chain"):
        LocalSigner(other, [])


def test_from_pem(ca):
    key = ec.generate_private_key(ec.SECP256R1())
    chain = ca.chain_for(ca.issue("Lê Văn Cường", "001085012345", key.public_key()))
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    signer = LocalSigner.from_pem(key_pem, chain_pem, password=b"secret", kid="key-1")
    assert signer.chain == chain and signer.kid == "key-1" and signer.alg == "ES256"
    with pytest.raises((TypeError, ValueError)):
        LocalSigner.from_pem(key_pem, chain_pem, password=b"wrong")


def test_from_pkcs12_orders_the_chain(ca, rsa_key):
    chain = ca.chain_for(ca.issue("Phạm Thị Dung", "001185012345", rsa_key.public_key()))
    data = pkcs12.serialize_key_and_certificates(
        b"dung",
        rsa_key,
        chain[0],
        [ca.root_cert, chain[1]],  # stored out of order, with the root
        serialization.BestAvailableEncryption(b"p12-password"),
    )
    signer = LocalSigner.from_pkcs12(data, b"p12-password", alg="RS256")
    assert signer.chain == [chain[0], chain[1], ca.root_cert]
    assert signer.alg == "RS256"
    no_key = pkcs12.serialize_key_and_certificates(
        b"x", None, None, [chain[1]], serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="no private key"):
        LocalSigner.from_pkcs12(no_key, None)
