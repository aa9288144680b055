"""What a SMART Backend Services client may be registered with
(http://hl7.org/fhir/smart-app-launch/backend-services.html, client-confidential-asymmetric):
an id a token can carry, `system/` scopes (no user is behind a client_credentials grant), and
the public keys it signs its assertions with: EC or RSA of at least 2,048 bits, each with a
`kid` (the token endpoint finds the key by it), nothing private (a leak of the database
would leak the client's signing keys), and no `use`, `key_ops` or `alg` saying it is for
anything but verifying the client's assertions (RFC 7517 §4.2-4.4)."""

import base64
import binascii
import re
from urllib.parse import urlsplit

from fhir_server.auth.key_purpose import unfit_for, verifies_signatures
from fhir_server.auth.scopes import parse_scopes

#: What client assertions may be signed with (client-confidential-asymmetric: the server
#: supports RS384 or ES384, or both).
ASSERTION_ALGORITHMS = ("RS384", "ES384")

_CLIENT_ID = re.compile(r"[!-~]{1,255}")  # printable ASCII, no space
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_CURVES = ("P-256", "P-384", "P-521")
_SMALLEST_RSA_BITS = 2048


def registration_problem(client_id: str, scope: str, jwks: object = None,
                         jwks_url: str | None = None) -> str | None:
    """Why a client cannot be registered so, or None."""
    if not _CLIENT_ID.fullmatch(client_id):
        return f"--client-id {client_id!r}: 1 to 255 printable characters without spaces"
    scopes = parse_scopes(scope)
    if not scopes:
        return f"--scope '{scope}' names no resource scope"
    if others := [s.text() for s in scopes if s.context != "system"]:
        return (f"--scope: {', '.join(others)}: a backend client is granted system/ scopes "
                "only (no user or patient is behind its token)")
    if jwks_url is not None:
        if urlsplit(jwks_url).scheme not in ("https", "http") or not urlsplit(jwks_url).netloc:
            return f"--jwks-url {jwks_url!r} is no http(s) URL"
        return None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        return "the JWKS has no keys"
    if problem := next((problem for key in keys if (problem := _key_problem(key))), None):
        return problem
    return next((f"{len(same)} keys with kid {key['kid']!r} fit {alg}: the token endpoint "
                 "could not tell which one signed, and would refuse every assertion naming it"
                 for key in keys for alg in ASSERTION_ALGORITHMS
                 if len(same := fitting_keys(jwks, key["kid"], alg)) > 1), None)


def fitting_keys(jwks: object, kid: object, alg: str) -> list[dict]:
    """The keys of a JWK Set with that `kid` that may verify `alg` signatures."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    return [key for key in (keys if isinstance(keys, list) else [])
            if isinstance(key, dict) and key.get("kid") == kid and unfit_for(key, alg) is None]


def _key_problem(key: object) -> str | None:
    if not isinstance(key, dict):
        return "a key of the JWKS is no JSON object"
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid:
        return "a key has no kid: the token endpoint finds a client's key by it"
    if private := [member for member in _PRIVATE_MEMBERS if member in key]:
        return (f"key {kid!r} holds private or secret members ({', '.join(private)}): "
                "register the public key only")
    return _type_problem(key, kid) or _purpose_problem(key, kid)


def _type_problem(key: dict, kid: str) -> str | None:
    if key.get("kty") == "EC":
        return None if key.get("crv") in _CURVES else f"key {kid!r}: curve {key.get('crv')!r}"
    if key.get("kty") == "RSA":
        try:
            modulus = base64.urlsafe_b64decode(str(key.get("n")) + "==")
        except (binascii.Error, ValueError):
            return f"key {kid!r}: its modulus n is not base64url"
        bits = int.from_bytes(modulus, "big").bit_length()
        if bits < _SMALLEST_RSA_BITS:
            return f"key {kid!r}: RSA of {bits} bits; at least {_SMALLEST_RSA_BITS}"
        return None
    return f"key {kid!r}: kty {key.get('kty')!r}; EC or RSA (ES384, RS384: SMART)"


def _purpose_problem(key: dict, kid: str) -> str | None:
    """A key whose `use`, `key_ops` or `alg` say it verifies no assertion of the client's:
    the token endpoint would never use it."""
    if not verifies_signatures(key):
        said = ", ".join(f"{member} {key[member]!r}" for member in ("use", "key_ops")
                         if member in key)
        return f"key {kid!r}: {said}; it must verify signatures (use sig, key_ops verify)"
    alg = key.get("alg")
    if alg is None:
        return None
    if alg not in ASSERTION_ALGORITHMS:
        return (f"key {kid!r}: alg {alg!r}; assertions are signed "
                f"{' or '.join(ASSERTION_ALGORITHMS)} (SMART)")
    problem = unfit_for(key, alg)
    return f"key {kid!r} {problem}" if problem else None
