"""The development issuer's ES256 key (RFC 7638 thumbprint as kid) and minted tokens."""

import base64
import hashlib
import json
import stat
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_server.auth.keys import SigningKey, mint_token


def test_load_or_create_writes_a_private_file_and_reloads_the_same_key(tmp_path):
    path = tmp_path / "dev-issuer" / "nested" / "signing-key.pem"
    created = SigningKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    loaded = SigningKey.load_or_create(path)
    assert loaded.kid == created.kid
    assert loaded.public_jwks() == created.public_jwks()


def test_pem_round_trip():
    key = SigningKey.generate()
    assert SigningKey.from_pem(key.pem()).kid == key.kid


def test_only_p256_keys_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="P-256"):
        SigningKey(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ValueError, match="P-256"):
        SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))  # type: ignore[arg-type]


def test_kid_is_the_rfc7638_thumbprint():
    key = SigningKey.generate()
    (jwk,) = key.public_jwks()["keys"]
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    assert json.dumps(required, sort_keys=True, separators=(",", ":")) == canonical
    digest = hashlib.sha256(canonical.encode()).digest()
    assert jwk["kid"] == key.kid == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert len(key.kid) == 43
    assert SigningKey.generate().kid != key.kid


def test_public_jwks_has_no_private_part_and_verifies_signatures():
    key = SigningKey.generate()
    (jwk,) = key.public_jwks()["keys"]
    assert jwk.keys() == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert (jwk["alg"], jwk["use"]) == ("ES256", "sig")
    token = key.sign({"hello": "world"})
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    public = jwt.PyJWK(jwk).key
    assert jwt.decode(token, public, algorithms=["ES256"]) == {"hello": "world"}


def test_mint_token_claims():
    key = SigningKey.generate()
    before = int(time.time())
    token = mint_token(
        key, "urn:issuer", "https://fhir.example.vn", "001085012345", "user/*.rs", 600,
        name="Nguyễn Văn An", extra={"SoDinhDanh": "001085012345"},
    )
    public = jwt.PyJWK(key.public_jwks()["keys"][0]).key
    claims = jwt.decode(token, public, algorithms=["ES256"], audience="https://fhir.example.vn")
    assert claims["iss"] == "urn:issuer" and claims["sub"] == "001085012345"
    assert claims["scope"] == "user/*.rs" and claims["name"] == "Nguyễn Văn An"
    assert claims["SoDinhDanh"] == "001085012345"
    assert before <= claims["iat"] == claims["nbf"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 600
    assert len(claims["jti"]) == 36
    again = mint_token(key, "urn:issuer", "aud", "sub", "", 60)
    assert jwt.decode(again, options={"verify_signature": False})["jti"] != claims["jti"]
    assert "name" not in jwt.decode(again, options={"verify_signature": False})


def test_mint_token_refuses_overrides_and_bad_lifetimes():
    key = SigningKey.generate()
    with pytest.raises(ValueError, match="exp"):
        mint_token(key, "iss", "aud", "sub", "", 60, extra={"exp": 0})
    with pytest.raises(ValueError, match="positive"):
        mint_token(key, "iss", "aud", "sub", "", 0)
