"""Sign and verify FHIR resource versions for ``Provenance.signature`` (FHIR R4 Signature).

``Signature.data`` is the standard base64 of the ASCII compact JWS (``sigFormat``
``application/jose``): a detached, unencoded-payload JWS (RFC 7797) over the RFC 8785 canonical
JSON of the resource without ``id``/``meta``/``text`` (:mod:`signing.canonical`). Its protected
header (JAdES-style, ETSI TS 119 182-1 §5.1–5.2):

``alg`` ES256 | RS256 | PS256, ``kid``, ``x5c`` (standard base64 DER, leaf first),
``x5t#S256`` (RFC 7515 §4.1.8), ``sigT`` (UTC signing time ``YYYY-MM-DDThh:mm:ssZ``),
``sigD`` ``{"mId": "http://uri.etsi.org/19182/ObjectIdByURI", "pars": ["<Type>/<id>/_history/<n>"],
"ctys": ["application/fhir+json"]}``, ``b64: false``, ``crit: ["b64", "sigT", "sigD"]``.

- FHIR R4 Signature: https://hl7.org/fhir/R4/datatypes.html#Signature
- RFC 7515 / RFC 7797: https://www.rfc-editor.org/rfc/rfc7515, https://www.rfc-editor.org/rfc/rfc7797

``sigT`` is the signer's own claim, not a proof of existence: certificates are checked at
that time, so a certificate that expired later does not invalidate an older signature.

The signer is a person (certificate ``UID=CCCD:<personal ID>``) or an organisation seal
(``UID=MST:<tax code>``), see :mod:`signing.certificates`. :func:`sign_resource` signs one
version with a :class:`~signing.keys.Signer`; :func:`sign_resources` signs many with one call
of a :class:`~signing.keys.DigestSigner` (one CSC ``signatures/signHash`` request). A deletion
is signed as the version ``{"resourceType": "<Type>"}`` (no content) of its ``_history`` target.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from signing.canonical import NotCanonicalisable, signed_content
from signing.certificates import (
    chain_problems,
    find_anchor,
    key_usage_problems,
    organization_id_of,
    personal_id_of,
    validity_problems,
)
from signing.jws import (
    SUPPORTED_ALGS,
    SignatureInvalid,
    b64url_encode,
    base64_binary,
    check_algorithm,
    check_crit,
    compact_detached,
    parse_detached,
    prepare_detached,
    verify_signature,
)
from signing.keys import DigestSigner, Signer
from signing.report import CHECK_NAMES, Check, VerificationReport

SIGD_MECHANISM = "http://uri.etsi.org/19182/ObjectIdByURI"
FHIR_JSON = "application/fhir+json"
CRIT = ("b64", "sigT", "sigD")
TARGET = re.compile(
    r"(?P<type>[A-Z][A-Za-z]{0,63})/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"/_history/(?P<version>[A-Za-z0-9\-.]{1,64})"
)
CLOCK_SKEW = timedelta(minutes=5)
_SIG_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")

#: (certificate, its issuer) → True revoked, False not revoked, None unknown.
RevocationCheck = Callable[[x509.Certificate, x509.Certificate], bool | None]


def build_signature_header(
    target: str, chain: Sequence[x509.Certificate], kid: str, alg: str, signed_at: datetime
) -> dict[str, Any]:
    """The protected header for signing `target` at `signed_at`: ``sigD`` designates it (a
    version ``<Type>/<id>/_history/<n>``, or a document's identifier URI)."""
    if not chain:
        raise ValueError("the signer's certificate chain is empty")
    leaf_der = chain[0].public_bytes(serialization.Encoding.DER)
    return {
        "alg": alg,
        "kid": kid,
        "x5c": [
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for cert in chain
        ],
        "x5t#S256": b64url_encode(hashlib.sha256(leaf_der).digest()),
        "sigT": format_signing_time(signed_at),
        "sigD": {"mId": SIGD_MECHANISM, "pars": [target], "ctys": [FHIR_JSON]},
        "b64": False,
        "crit": list(CRIT),
    }


def sign_resource(
    resource: dict[str, Any], target: str, signer: Signer, signed_at: datetime
) -> str:
    """``Signature.data``: base64 of the compact detached JWS over `resource` as `target`."""
    header_b64, data = _signing_input(resource, target, signer, signed_at)
    return _signature_data(header_b64, signer.sign(data))


async def sign_resources(
    items: Sequence[tuple[dict[str, Any], str]], signer: DigestSigner, signed_at: datetime
) -> list[str]:
    """:func:`sign_resource` of each (resource, target), all digests signed in one call. The
    canonical JSON is made in a worker thread: of a 10 MB resource it takes a second or two
    of CPU, which on the event loop every other client would wait for."""
    prepared = await asyncio.to_thread(
        lambda: [_signing_input(resource, target, signer, signed_at)
                 for resource, target in items])
    return await sign_prepared(prepared, signer)


async def sign_prepared(prepared: Sequence[tuple[str, bytes]], signer: DigestSigner) -> list[str]:
    """``Signature.data`` of each (encoded header, JWS signing input), in one signer call."""
    if not prepared:
        return []
    signatures = await signer.sign_digests([hashlib.sha256(data).digest() for _, data in prepared])
    if len(signatures) != len(prepared):
        raise ValueError(f"the signer returned {len(signatures)} signatures for {len(prepared)}")
    return [
        _signature_data(header_b64, signature)
        for (header_b64, _), signature in zip(prepared, signatures, strict=True)
    ]


def _signing_input(
    resource: dict[str, Any], target: str, signer: Signer | DigestSigner, signed_at: datetime
) -> tuple[str, bytes]:
    """Check `resource` is version `target`; return (encoded header, JWS signing input)."""
    match = TARGET.fullmatch(target)
    if match is None:
        raise ValueError(f"target must be <Type>/<id>/_history/<version>, not {target!r}")
    if resource.get("resourceType") != match["type"]:
        raise ValueError(f"the resource is not a {match['type']}")
    if resource.get("id", match["id"]) != match["id"]:
        raise ValueError(f"the resource id is not {match['id']}")
    meta = resource.get("meta")
    if isinstance(meta, dict) and meta.get("versionId", match["version"]) != match["version"]:
        raise ValueError(f"the resource version is not {match['version']}")
    header = build_signature_header(target, signer.chain, signer.kid, signer.alg, signed_at)
    return prepare_detached(signed_content(resource), header, signer.alg)


def _signature_data(header_b64: str, signature: bytes) -> str:
    """Standard base64 of the ASCII compact JWS (``Signature.data``)."""
    return base64.b64encode(compact_detached(header_b64, signature).encode("ascii")).decode("ascii")


def verify_resource(
    signature_data: str,
    resource: dict[str, Any],
    target: str,
    anchors: Sequence[x509.Certificate],
    expected_personal_id: str | None = None,
    **options: Any,
) -> VerificationReport:
    """Check `signature_data` (``Signature.data``) over `resource` as version `target`;
    `options` and the rest as :func:`verify_detached`."""
    return verify_detached(signature_data, target, lambda: _content(resource, target), anchors,
                           expected_personal_id, **options)


def verify_detached(
    signature_data: str,
    target: str,
    content: Callable[[], tuple[bytes, str]],
    anchors: Sequence[x509.Certificate],
    expected_personal_id: str | None = None,
    *,
    expected_organization_id: str | None = None,
    allowed_algs: Collection[str] = SUPPORTED_ALGS,
    revocation: RevocationCheck | None = None,
    validation_time: datetime | None = None,
) -> VerificationReport:
    """Check `signature_data` (``Signature.data``) over a signed object: ``sigD`` must
    designate `target`, and `content` gives (the signed bytes, how they were made) or raises
    ValueError.

    `anchors` are the trusted root (or issuing) certificates. Identity: with
    `expected_organization_id` the certificate must be the seal ``UID=MST:<that tax code>``;
    else with `expected_personal_id` it must name that 12-digit ID; with neither, any
    certificate naming a personal ID passes (not a seal). Giving both is a ValueError.
    `revocation` answers for each certificate of the path (None: not checked);
    `validation_time` (default now) is when ``sigT`` must already have happened.
    """
    if expected_personal_id is not None and expected_organization_id is not None:
        raise ValueError("expect a personal ID or an organisation ID, not both")
    checks: dict[str, Check] = {}

    def record(name: str, passed: bool | None, reason: str, sub: str | None = None) -> None:
        checks[name] = Check(name, passed, reason, sub)

    def report(**details: Any) -> VerificationReport:
        for name in CHECK_NAMES:
            checks.setdefault(name, Check(name, None, "not evaluated: an earlier check failed"))
        return VerificationReport(tuple(checks[name] for name in CHECK_NAMES), **details)

    try:
        compact = base64_binary(signature_data).decode("ascii")
        header, header_b64, signature = parse_detached(compact)
        chain = _certificates(header)
        leaf_key = chain[0].public_key()
        signed_at = parse_signing_time(header.get("sigT"))
        details = {
            "signer_personal_id": personal_id_of(chain[0]),
            "signer_organization_id": organization_id_of(chain[0]),
            "signed_at": signed_at,
        }
        if not isinstance(header.get("kid"), str):
            raise SignatureInvalid("format", "kid must be a string")
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as error:
        record("format", False, f"Signature.data is not a detached JWS of this profile: {error}")
        return report()
    record("format", True, "base64 of a detached compact JWS; header, x5c and sigT readable")
    leaf = chain[0]

    alg = _run(record, "algorithm", lambda: _algorithm(header, leaf_key, allowed_algs))
    _run(record, "crit", lambda: _check_crit(header))
    _run(record, "target", lambda: _check_target(header, target))
    payload = _run(record, "content", content)
    if alg and payload is not None:
        _run(record, "signature", lambda: _verify(header_b64, payload, signature, leaf_key, alg))
    path, anchor = find_anchor(chain, list(anchors))
    problems = chain_problems(chain, list(anchors))
    if problems or anchor is None:  # no anchor is always among the problems
        sub = "NO_CERTIFICATE_CHAIN_FOUND" if anchor is None else "CHAIN_CONSTRAINTS_FAILURE"
        record("chain", False, "; ".join(problems), sub)
    else:
        record("chain", True, f"issued under trust anchor {anchor.subject.rfc4514_string()}")
    problems = validity_problems(path, signed_at)
    if signed_at > (validation_time or datetime.now(UTC)) + CLOCK_SKEW:
        problems.append(f"sigT {header['sigT']} is in the future")
    early = any(signed_at < cert.not_valid_before_utc for cert in path)
    record(
        "validity-at-signing-time",
        not problems,
        "; ".join(problems) or f"every certificate valid at {header['sigT']}",
        "NOT_YET_VALID" if early else None,
    )
    problems = key_usage_problems(leaf)
    record("key-usage", not problems, "; ".join(problems) or "digitalSignature, nonRepudiation")
    record("identity", *_identity(leaf, expected_personal_id, expected_organization_id))
    record("revocation", *_revocation(path, anchor, revocation))
    return report(**details, header=header)


def format_signing_time(signed_at: datetime) -> str:
    """``sigT``: UTC, whole seconds, ``YYYY-MM-DDThh:mm:ssZ``."""
    if signed_at.tzinfo is None:
        raise ValueError("the signing time must be timezone-aware")
    return signed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_signing_time(text: Any) -> datetime:
    """The UTC datetime of a ``sigT`` value; ValueError if it is not ``YYYY-MM-DDThh:mm:ssZ``."""
    if not isinstance(text, str) or not _SIG_TIME.fullmatch(text):
        raise ValueError("sigT must be a UTC time YYYY-MM-DDThh:mm:ssZ")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _run(record: Callable, name: str, step: Callable[[], tuple[Any, str]]) -> Any:
    """Run one check; `step` returns (value, reason). The value, or None when it failed."""
    try:
        value, reason = step()
    except (ValueError, UnsupportedAlgorithm) as error:
        record(name, False, str(error))
        return None
    record(name, True, reason)
    return value


def _algorithm(header: dict[str, Any], key: Any, allowed_algs: Collection[str]):
    alg = check_algorithm(header, key, allowed_algs)
    return alg, f"{alg} is allowed and fits the leaf certificate's key"


def _verify(header_b64: str, payload: bytes, signature: bytes, key: Any, alg: str):
    try:
        verify_signature(header_b64, payload, signature, key, alg)
    except SignatureInvalid as error:
        raise ValueError(
            f"{error}: the resource differs from the signed version (content, or Unicode "
            "normalisation), or the signature was not made with the x5c leaf's key"
        ) from None
    return True, f"{alg} signature verifies with the key of the x5c leaf certificate"


def _certificates(header: dict[str, Any]) -> list[x509.Certificate]:
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise SignatureInvalid("format", "x5c must be a non-empty list of base64 certificates")
    chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
    leaf_digest = hashlib.sha256(chain[0].public_bytes(serialization.Encoding.DER)).digest()
    if header.get("x5t#S256") != b64url_encode(leaf_digest):
        raise SignatureInvalid("format", "x5t#S256 is not the SHA-256 of the x5c leaf")
    return chain


def _check_crit(header: dict[str, Any]) -> tuple[None, str]:
    check_crit(header, CRIT)
    if sorted(header["crit"]) != sorted(CRIT):
        raise SignatureInvalid("crit", f"crit must list exactly {list(CRIT)}")
    return None, f"crit {header['crit']} all understood; b64 is false"


def _check_target(header: dict[str, Any], target: str) -> tuple[None, str]:
    sig_d = header.get("sigD")
    expected = {"mId": SIGD_MECHANISM, "pars": [target], "ctys": [FHIR_JSON]}
    if not isinstance(sig_d, dict) or {k: sig_d.get(k) for k in expected} != expected:
        raise ValueError(f"sigD does not designate {target} as {FHIR_JSON}: {sig_d!r}")
    if set(sig_d) != set(expected):
        raise ValueError(f"sigD has members this profile does not define: {sorted(sig_d)}")
    return None, f"sigD designates {target}"


def content_once(resource: Any, target: str) -> Callable[[], tuple[bytes, str]]:
    """What a signature of version `target` covers (as `verify_detached` takes it), made on
    first use only: a Provenance's signatures of one version share it (canonicalising a
    300 KB resource again for each of 400 signatures took 23 s)."""
    made: list[tuple[bytes, str] | ValueError] = []

    def content() -> tuple[bytes, str]:
        if not made:
            try:
                made.append(_content(resource, target))
            except ValueError as error:
                made.append(error)
        if isinstance(made[0], ValueError):
            raise made[0]
        return made[0]

    return content


def _content(resource: Any, target: str) -> tuple[bytes, str]:
    match = TARGET.fullmatch(target)
    if match is None:
        raise ValueError(f"target must be <Type>/<id>/_history/<version>, not {target!r}")
    if not isinstance(resource, dict) or resource.get("resourceType") != match["type"]:
        raise ValueError(f"the resource given is not a {match['type']}")
    try:
        content = signed_content(resource)
    except NotCanonicalisable as error:
        raise ValueError(f"the resource cannot be canonicalised (RFC 8785): {error}") from None
    return content, f"{len(content)} bytes of RFC 8785 JSON without id, meta and text"


def _identity(
    leaf: x509.Certificate, expected: str | None, expected_organization: str | None
) -> tuple[bool, str]:
    if expected_organization is not None:
        organization_id = organization_id_of(leaf)
        if organization_id is None:
            return False, "the signer's certificate carries no UID=MST:<tax code> (not a seal)"
        if organization_id != expected_organization:
            return False, (
                f"the seal names tax code {organization_id}, expected {expected_organization}"
            )
        return True, f"organisation seal of tax code {organization_id}"
    personal_id = personal_id_of(leaf)
    if personal_id is None:
        return False, "the signer's certificate carries no UID=CCCD:<12-digit personal ID>"
    if expected is not None and personal_id != expected:
        return False, f"the certificate names personal ID {personal_id}, expected {expected}"
    return True, f"signer's personal ID {personal_id}"


def _revocation(
    path: list[x509.Certificate], anchor: x509.Certificate | None, check: RevocationCheck | None
) -> tuple[bool | None, str, str | None]:
    if check is None:
        return None, "not checked: no revocation source given", None
    issuers = [*path[1:], anchor] if anchor is not None and anchor is not path[-1] else path[1:]
    for cert, issuer in zip(path, issuers, strict=False):
        status = check(cert, issuer)
        if status is None:
            return None, f"status of {cert.subject.rfc4514_string()} unknown", "TRY_LATER"
        if status:
            return False, f"{cert.subject.rfc4514_string()} is revoked", "REVOKED_NO_POE"
    return True, "no certificate of the path is revoked", None
