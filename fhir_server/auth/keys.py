"""The development issuer's ES256 signing key and the tokens it mints.

The key is an EC P-256 private key kept as a PKCS#8 PEM file readable by its owner only; its
`kid` is the RFC 7638 JWK thumbprint of the public key (https://www.rfc-editor.org/rfc/rfc7638),
so that it changes whenever the key does and verifiers find the new key by `kid`.
"""

import contextlib
import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.jws import b64url_encode

_ALGORITHM = "ES256"
_COORDINATE_BYTES = 32  # P-256


class SigningKey:
    """An ES256 private key with its public JWK and `kid`."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey):
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise ValueError("the signing key must be an EC P-256 private key (ES256)")
        self._private_key = private_key
        self.public_jwk = self._public_jwk()
        self.kid = self._thumbprint()

    @classmethod
    def generate(cls) -> "SigningKey":
        """A fresh random key."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load_or_create(cls, path: Path) -> "SigningKey":
        """The key stored at `path`; created there (mode 0600, directories as needed) when
        there is none yet."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = cls.generate()
            with contextlib.suppress(FileExistsError):  # else another process was first: use its
                key._write(path)
                return key
        return cls.from_pem(path.read_text(encoding="ascii"))

    @classmethod
    def from_pem(cls, pem: str) -> "SigningKey":
        """The key of an unencrypted PEM private key, as written by `pem()`."""
        private_key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        return cls(private_key)  # type: ignore[arg-type]  # checked in __init__

    def pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM: keep it secret."""
        return self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def _write(self, path: Path) -> None:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(self.pem())

    def _public_jwk(self) -> dict[str, str]:
        numbers = self._private_key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
            "y": b64url_encode(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
        }

    def _thumbprint(self) -> str:
        """RFC 7638 §3: SHA-256 of the required members in lexicographic order, no spaces."""
        canonical = json.dumps(self.public_jwk, sort_keys=True, separators=(",", ":"))
        return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())

    def public_jwks(self) -> dict:
        """The JWK Set publishing the public key (RFC 7517 §5)."""
        return {"keys": [{**self.public_jwk, "kid": self.kid, "use": "sig", "alg": _ALGORITHM}]}

    def sign(self, claims: dict) -> str:
        """A compact JWS (RFC 7515) over the claims, with `kid`, `alg: ES256` and `typ: JWT`."""
        headers = {"kid": self.kid, "typ": "JWT"}
        return jwt.encode(claims, self._private_key, algorithm=_ALGORITHM, headers=headers)


_MINTED_CLAIMS = frozenset({"iss", "aud", "sub", "scope", "name", "iat", "nbf", "exp", "jti"})


def mint_token(
    key: SigningKey,
    issuer: str,
    audience: str,
    subject: str,
    scope: str,
    lifetime_seconds: int,
    name: str | None = None,
    extra: dict | None = None,
) -> str:
    """A signed access token (RFC 7519) valid from now for `lifetime_seconds`, with a random
    `jti`. `extra` adds claims (e.g. `client_id`, `SoDinhDanh`) but may not replace these."""
    if lifetime_seconds <= 0:
        raise ValueError("lifetime_seconds must be positive")
    clash = _MINTED_CLAIMS.intersection(extra or {})
    if clash:
        raise ValueError(f"extra claims may not replace {sorted(clash)}")
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "scope": scope,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
        "jti": str(uuid.uuid4()),
        **({"name": name} if name is not None else {}),
        **(extra or {}),
    }
    return key.sign(claims)
