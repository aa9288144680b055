"""Known answers for the JWS layer (RFC 7515 Appendix A.3, RFC 7797 §4) and its refusals."""

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signing.jws import (
    SignatureInvalid,
    b64url_decode,
    b64url_encode,
    ecdsa_der_to_jws,
    ecdsa_jws_to_der,
    encode_header,
    parse_detached,
    sign_detached,
    signing_input,
    verify_detached,
    verify_signature,
)
from signing.keys import LocalSigner

# RFC 7515 Appendix A.3: ES256 example (public key of A.3.1, the JWS of A.3.1).
A3_X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
A3_Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
A3_HEADER = "eyJhbGciOiJFUzI1NiJ9"
A3_PAYLOAD = (
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)
A3_SIGNATURE = (
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)
# RFC 7797 §4: the HS256 examples, keyed with the RFC 7515 Appendix A.1 key.
A1_KEY = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
RFC7797_HEADER = "eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19"
RFC7797_JWS = RFC7797_HEADER + "..A5dxf2s96_n5FLueVuW1Z_vh161FwXZC4YLPff6dmDY"
DETACHED = {"alg": "ES256", "b64": False, "crit": ["b64"]}


def a3_public_key() -> ec.EllipticCurvePublicKey:
    x, y = (int.from_bytes(b64url_decode(c), "big") for c in (A3_X, A3_Y))
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def test_rfc7515_a3_es256_example_verifies():
    # A.3 uses b64 true and an attached payload: the signing input is the ASCII of
    # BASE64URL(header) '.' BASE64URL(payload), i.e. signing_input() with the encoded payload.
    payload = b64url_decode(A3_PAYLOAD)
    assert payload == b'{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'
    signature = b64url_decode(A3_SIGNATURE)
    assert len(signature) == 64  # r || s, 32 bytes each
    verify_signature(A3_HEADER, A3_PAYLOAD.encode("ascii"), signature, a3_public_key(), "ES256")
    with pytest.raises(SignatureInvalid) as refused:
        verify_signature(A3_HEADER, payload, signature, a3_public_key(), "ES256")
    assert refused.value.check == "signature"


def test_rfc7515_a3_jws_is_refused_as_not_detached():
    with pytest.raises(SignatureInvalid, match="detached") as refused:
        verify_detached(f"{A3_HEADER}.{A3_PAYLOAD}.{A3_SIGNATURE}", b"", a3_public_key())
    assert refused.value.check == "format"


def test_rfc7797_section_4_2_signing_input_and_hmac():
    header = {"alg": "HS256", "b64": False, "crit": ["b64"]}
    assert encode_header(header) == RFC7797_HEADER
    data = signing_input(RFC7797_HEADER, b"$.02")
    assert data == (RFC7797_HEADER + ".$.02").encode("ascii")
    mac = hmac.new(b64url_decode(A1_KEY), data, hashlib.sha256).digest()
    assert f"{RFC7797_HEADER}..{b64url_encode(mac)}" == RFC7797_JWS
    # §4.1, the same payload with b64 true: the signing input holds BASE64URL("$.02") = "JC4wMg".
    encoded = signing_input("eyJhbGciOiJIUzI1NiJ9", b64url_encode(b"$.02").encode("ascii"))
    assert b64url_encode(hmac.new(b64url_decode(A1_KEY), encoded, hashlib.sha256).digest()) == (
        "5mvfOroL-g7HyqJoozehmsaqmvTYGEq5jTI1gVvoEoQ"
    )


def test_rfc7797_example_parses_but_hs256_is_refused(signer):
    header, header_b64, signature = parse_detached(RFC7797_JWS)
    assert header == {"alg": "HS256", "b64": False, "crit": ["b64"]}
    assert header_b64 == RFC7797_HEADER and len(signature) == 32
    with pytest.raises(SignatureInvalid, match="HS256") as refused:
        verify_detached(RFC7797_JWS, b"$.02", signer.chain[0].public_key())
    assert refused.value.check == "algorithm"
    with pytest.raises(SignatureInvalid):  # even when the caller lists it
        verify_detached(RFC7797_JWS, b"$.02", signer.chain[0].public_key(), ("HS256",))


@pytest.fixture(scope="module")
def keys():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {"ES256": ec_key, "PS256": rsa_key, "RS256": rsa_key}


def signer_for(keys, alg, ca):
    key = keys[alg]
    leaf = ca.issue("Trần Thị Bình", "079190000123", key.public_key())
    return LocalSigner(key, ca.chain_for(leaf), alg=alg)


@pytest.mark.parametrize("alg", ["ES256", "PS256", "RS256"])
def test_sign_and_verify_detached(keys, alg, ca):
    signer = signer_for(keys, alg, ca)
    header = {"alg": alg, "kid": signer.kid, "b64": False, "crit": ["b64"]}
    jws = sign_detached(b'{"a":1}', header, signer.sign, alg)
    header_b64, middle, signature_b64 = jws.split(".")
    assert middle == "" and json.loads(b64url_decode(header_b64)) == header
    public = keys[alg].public_key()
    assert verify_detached(jws, b'{"a":1}', public) == header
    with pytest.raises(SignatureInvalid) as refused:
        verify_detached(jws, b'{"a":2}', public)
    assert refused.value.check == "signature"
    if alg == "ES256":  # an EC signature with an RSA key
        with pytest.raises(SignatureInvalid) as refused:
            verify_detached(jws, b'{"a":1}', keys["PS256"].public_key())
        assert refused.value.check == "algorithm"
    else:  # an RSA signature relabelled as the other RSA scheme
        other = "RS256" if alg == "PS256" else "PS256"
        with pytest.raises(SignatureInvalid) as refused:
            verify_detached(_with_alg(jws, other), b'{"a":1}', public)
        assert refused.value.check == "signature"


def _with_alg(jws: str, alg: str) -> str:
    header, _, signature = parse_detached(jws)
    return f"{encode_header(dict(header, alg=alg))}..{b64url_encode(signature)}"


def test_ecdsa_signature_form(keys, ca):
    raw = signer_for(keys, "ES256", ca).sign(b"data")
    assert len(raw) == 64
    assert ecdsa_der_to_jws(ecdsa_jws_to_der(raw)) == raw
    with pytest.raises(ValueError):
        ecdsa_jws_to_der(raw[:-1])


def _jws(header: dict, payload: bytes, key, signature: bytes | None = None) -> str:
    header_b64 = encode_header(header)
    if signature is None:
        der = key.sign(signing_input(header_b64, payload), ec.ECDSA(hashes.SHA256()))
        signature = ecdsa_der_to_jws(der)
    return f"{header_b64}..{b64url_encode(signature)}"


@pytest.mark.parametrize(
    ("header", "check", "message"),
    [
        ({"alg": "none", "b64": False, "crit": ["b64"]}, "algorithm", "none"),
        ({"alg": "HS256", "b64": False, "crit": ["b64"]}, "algorithm", "HS256"),
        ({"b64": False, "crit": ["b64"]}, "algorithm", "None"),
        ({"alg": "RS256", "b64": False, "crit": ["b64"]}, "algorithm", "RSA"),
        ({"alg": "ES256", "b64": False}, "crit", "crit"),
        ({"alg": "ES256", "b64": False, "crit": []}, "crit", "crit"),
        ({"alg": "ES256", "b64": False, "crit": ["b64", "exp"], "exp": 1}, "crit", "exp"),
        ({"alg": "ES256", "b64": False, "crit": ["b64", "sigT"]}, "crit", "absent"),
        ({"alg": "ES256", "b64": False, "crit": ["b64", "b64"]}, "crit", "twice"),
        ({"alg": "ES256", "b64": False, "crit": ["b64", "kid"], "kid": "k"}, "crit", "registered"),
        ({"alg": "ES256", "b64": True, "crit": ["b64"]}, "crit", "b64"),
        ({"alg": "ES256", "crit": ["b64"]}, "crit", "b64"),
        ({"alg": "ES256", "b64": False, "crit": ["sigT"], "sigT": "x"}, "crit", "b64"),
    ],
)
def test_refusals(keys, header, check, message):
    key = keys["ES256"]
    jws = _jws(header, b"payload", key, signature=None if header.get("alg") else b"\0" * 64)
    with pytest.raises(SignatureInvalid, match=message) as refused:
        verify_detached(jws, b"payload", key.public_key())
    assert refused.value.check == check


@pytest.mark.parametrize(
    "jws",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJFUzI1NiJ9..%%%",
        "eyJhbGciOiJFUzI1NiJ9==..AAAA",
        "WzFd..AAAA",  # header [1]
        "bm90IGpzb24..AAAA",  # header "not json"
    ],
)
def test_malformed(keys, jws):
    with pytest.raises(SignatureInvalid) as refused:
        verify_detached(jws, b"", keys["ES256"].public_key())
    assert refused.value.check == "format"


def test_wrong_length_ecdsa_signature_is_a_signature_failure(keys):
    key = keys["ES256"]
    jws = _jws(DETACHED, b"x", key, signature=b"\1" * 63)
    with pytest.raises(SignatureInvalid) as refused:
        verify_detached(jws, b"x", key.public_key())
    assert refused.value.check == "signature"


def test_sign_detached_refuses_bad_headers(keys):
    with pytest.raises(ValueError):
        sign_detached(b"x", {"alg": "HS256", "b64": False, "crit": ["b64"]}, bytes, "HS256")
    with pytest.raises(SignatureInvalid):
        sign_detached(b"x", {"alg": "ES256"}, bytes, "ES256")


def test_base64url_is_strict():
    assert b64url_decode("AQAB") == b"\x01\x00\x01"
    for bad in ("AQAB=", "AQ+B", "AQ/B", "AR", "é"):
        with pytest.raises(ValueError):
            b64url_decode(bad)
    assert base64.urlsafe_b64decode("AQ==") == b64url_decode("AQ")
