"""What a public JWK may verify (RFC 7517 §4): signatures of the algorithms its type (and EC
curve) fits (RFC 7518 §3.1, §6.1), as far as the members saying what it is for allow, `use`
(§4.2), `key_ops` (§4.3) and `alg` (§4.4). Both bearer tokens of trusted issuers and client
assertions at the token endpoint are verified only with keys fit for their algorithm."""

#: The key type (and EC curve) each accepted JWS algorithm needs (RFC 7518 §3.1, §6.1).
KEY_TYPES: dict[str, tuple[str, str | None]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}


def verifies_signatures(jwk: dict) -> bool:
    """Whether `use` ("sig", RFC 7517 §4.2) and `key_ops` ("verify", §4.3), where given, let
    the key verify signatures: an encryption key's do not."""
    key_ops = jwk.get("key_ops", ["verify"])
    return jwk.get("use", "sig") == "sig" and isinstance(key_ops, list) and "verify" in key_ops


def unfit_for(jwk: dict, algorithm: str) -> str | None:
    """Why `jwk` may not verify `algorithm` (a key of KEY_TYPES) signatures, to follow "key
    'kid'"; None when it may."""
    kty, crv = KEY_TYPES[algorithm]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        needed = f"an EC key on curve {crv}" if crv else f"an {kty} key"
        return f"does not fit {algorithm}, which needs {needed}"
    if jwk.get("alg", algorithm) != algorithm or not verifies_signatures(jwk):
        return f"is not published for {algorithm} signatures"
    return None
