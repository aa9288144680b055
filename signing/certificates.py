"""X.509 for provenance signatures: who signed (person or organisation) and path checks.

The signer's certificate names who signs in a userID attribute of its subject (OID
0.9.2342.19200300.100.1.1, RFC 4519 §2.39) and allows digitalSignature and nonRepudiation
(contentCommitment) in keyUsage (RFC 5280 §4.2.1.3):

- a person: ``UID=CCCD:<12-digit personal identification number>`` (:func:`personal_id_of`);
- an organisation seal (e.g. a hospital signing its backend clients' writes):
  ``O=<name>, UID=MST:<tax code>``, the tax code (mã số thuế) being 10 digits, or 10 digits,
  ``-`` and 3 digits for a branch (:func:`organization_id_of`).

Path checks follow RFC 5280 §6.1 (https://www.rfc-editor.org/rfc/rfc5280#section-6.1) for the
path the signer supplies in ``x5c`` (leaf first), evaluated at the signing time:

- :func:`chain_problems`: each certificate is signed by the next (names match, signature
  verifies, SHA-2 only) and the path ends at — or is issued by — a trust anchor; every issuer
  is a CA (basicConstraints cA, pathLenConstraint, keyCertSign); no critical extension this
  module does not process (e.g. nameConstraints) — such certificates are refused.
- :func:`validity_problems`: every certificate of the path is valid at the given time.
- :func:`key_usage_problems`: the leaf allows digitalSignature and nonRepudiation, and, if it
  restricts its purposes (extendedKeyUsage), one of them is signing what it signs (not only
  TLS, say: RFC 5280 §4.2.1.12, "the certificate ... will only be used for one of the
  purposes indicated").

The path is checked by hand rather than with ``cryptography.x509.verification``: that
verifier applies the CA/Browser Forum (TLS) profile, builds its own path and reports one opaque
error, while a signature validation report must tell an unknown trust anchor
(INDETERMINATE) from a certificate expired at signing time (TOTAL-FAILED). Revocation is not
checked here (see :mod:`signing.provenance`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID, NameOID

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)

PERSONAL_ID_PREFIX = "CCCD:"
PERSONAL_ID = re.compile(r"[0-9]{12}")
ORGANIZATION_ID_PREFIX = "MST:"
TAX_CODE = re.compile(r"[0-9]{10}(-[0-9]{3})?")
MAX_CHAIN_LENGTH = 8

#: Extensions whose criticality this module honours (RFC 5280 §4.2: refuse other critical ones).
_PROCESSED_EXTENSIONS = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.FRESHEST_CRL,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.SUBJECT_INFORMATION_ACCESS,
    }
)
_STRONG_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
# extendedKeyUsage purposes under which a certificate signs records: any purpose, document
# signing (RFC 9336), S/MIME (e-mail protection: signing content), client authentication
# (personal eID certificates carry it beside signing), and the document signing purposes of
# Microsoft and Adobe that signing certificates issued for Office and PDF name.
_SIGNING_PURPOSES = frozenset({
    x509.ObjectIdentifier("2.5.29.37.0"),
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.4"),
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.2"),
    x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),
    x509.ObjectIdentifier("1.2.840.113583.1.1.5"),
})


def load_trust_anchors(paths: Iterable[Path]) -> list[x509.Certificate]:
    """Every certificate of the PEM files `paths` (each may hold several)."""
    return [cert for path in paths for cert in x509.load_pem_x509_certificates(path.read_bytes())]


def personal_id_of(cert: x509.Certificate) -> str | None:
    """The 12-digit personal ID of ``UID=CCCD:<number>`` in the subject, else None.

    None as well when the subject names two different personal IDs.
    """
    return _user_id(cert, PERSONAL_ID_PREFIX, PERSONAL_ID)


def organization_id_of(cert: x509.Certificate) -> str | None:
    """The tax code of ``UID=MST:<tax code>`` in the subject (an organisation seal), else None.

    None as well when the subject names two different tax codes.
    """
    return _user_id(cert, ORGANIZATION_ID_PREFIX, TAX_CODE)


def _user_id(cert: x509.Certificate, prefix: str, pattern: re.Pattern) -> str | None:
    """The one value after `prefix` in the subject's userID attributes, if it fits `pattern`."""
    values = {
        attribute.value.removeprefix(prefix)
        for attribute in cert.subject.get_attributes_for_oid(NameOID.USER_ID)
        if isinstance(attribute.value, str) and attribute.value.startswith(prefix)
    }
    if len(values) != 1:
        return None
    (value,) = values
    return value if pattern.fullmatch(value) else None


def check_chain(
    chain: list[x509.Certificate], anchors: list[x509.Certificate], at: datetime
) -> list[str]:
    """Every problem of the signer's path `chain` (leaf first) at time `at`; empty if none."""
    return (
        chain_problems(chain, anchors)
        + validity_problems(chain, at)
        + (key_usage_problems(chain[0]) if chain else [])
    )


def find_anchor(
    chain: list[x509.Certificate], anchors: list[x509.Certificate]
) -> tuple[list[x509.Certificate], x509.Certificate | None]:
    """The part of `chain` to check and the trust anchor it ends at (None: no anchor found).

    The path stops at the first certificate that is itself an anchor; otherwise an anchor
    must have issued the last certificate.
    """
    for position, cert in enumerate(chain):
        if cert in anchors:
            return chain[: position + 1], cert
    if not chain:
        return [], None
    for anchor in anchors:
        if anchor.subject == chain[-1].issuer and not _issued_by_problems(chain[-1], anchor, ""):
            return chain, anchor
    return chain, None


def chain_problems(chain: list[x509.Certificate], anchors: list[x509.Certificate]) -> list[str]:
    """Path problems: links, CA constraints, critical extensions, trust anchor (RFC 5280 §6.1)."""
    if not chain:
        return ["the certificate chain is empty"]
    if len(chain) > MAX_CHAIN_LENGTH:
        return [f"the certificate chain is longer than {MAX_CHAIN_LENGTH}"]
    try:
        path, anchor = find_anchor(chain, anchors)
        problems = [p for position, cert in enumerate(path) for p in _critical(cert, position)]
        for position, (child, issuer) in enumerate(zip(path, path[1:], strict=False)):
            problems += _issued_by_problems(child, issuer, _label(child, position))
            problems += _ca_problems(issuer, _label(issuer, position + 1), below=position)
        if anchor is None:
            problems.append(
                f"no trust anchor issued {_label(path[-1], len(path) - 1)}: "
                f"its issuer {path[-1].issuer.rfc4514_string()} is not trusted"
            )
        elif anchor is not path[-1]:
            problems += _ca_problems(anchor, "the trust anchor", below=len(path) - 1)
        return problems
    except ValueError as error:  # malformed extensions are only parsed on access
        return [f"malformed certificate: {error}"]


def validity_problems(chain: list[x509.Certificate], at: datetime) -> list[str]:
    """Certificates of `chain` not valid at `at` (RFC 5280 §4.1.2.5)."""
    problems = []
    for position, cert in enumerate(chain):
        if at < cert.not_valid_before_utc:
            problems.append(
                f"{_label(cert, position)} is not yet valid at {at.isoformat()}: "
                f"valid from {cert.not_valid_before_utc.isoformat()}"
            )
        elif at > cert.not_valid_after_utc:
            problems.append(
                f"{_label(cert, position)} has expired at {at.isoformat()}: "
                f"valid until {cert.not_valid_after_utc.isoformat()}"
            )
    return problems


def key_usage_problems(leaf: x509.Certificate) -> list[str]:
    """The signer's certificate must allow digitalSignature and nonRepudiation."""
    try:
        usage = _extension(leaf, x509.KeyUsage)
    except ValueError as error:
        return [f"malformed certificate: {error}"]
    if usage is None:
        return ["the signer's certificate has no keyUsage extension"]
    missing = [
        name
        for name, allowed in (
            ("digitalSignature", usage.digital_signature),
            ("nonRepudiation", usage.content_commitment),
        )
        if not allowed
    ]
    if missing:
        return [f"the signer's keyUsage does not allow {', '.join(missing)}"]
    try:
        purposes = _extension(leaf, x509.ExtendedKeyUsage)
    except ValueError as error:
        return [f"malformed certificate: {error}"]
    if purposes is not None and not set(purposes) & _SIGNING_PURPOSES:
        named = ", ".join(getattr(purpose, "_name", purpose.dotted_string)
                          for purpose in purposes)
        return [f"the signer's extendedKeyUsage allows {named} only, not signing"]
    return []


def _label(cert: x509.Certificate, position: int) -> str:
    return f"certificate {position} ({cert.subject.rfc4514_string()})"


def _extension(cert: x509.Certificate, kind: type[_Extension]) -> _Extension | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _critical(cert: x509.Certificate, position: int) -> list[str]:
    return [
        f"{_label(cert, position)} has a critical extension this verifier does not process: "
        f"{extension.oid.dotted_string}"
        for extension in cert.extensions
        if extension.critical and extension.oid not in _PROCESSED_EXTENSIONS
    ]


def _issued_by_problems(child: x509.Certificate, issuer: x509.Certificate, label: str) -> list[str]:
    if child.issuer != issuer.subject:
        return [f"{label}: its issuer is not {issuer.subject.rfc4514_string()}"]
    try:
        hash_algorithm = child.signature_hash_algorithm
        if hash_algorithm is not None and not isinstance(hash_algorithm, _STRONG_HASHES):
            return [f"{label} is signed with {hash_algorithm.name}, not SHA-2"]
        child.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return [f"{label}: the signature of {issuer.subject.rfc4514_string()} does not verify"]
    except (UnsupportedAlgorithm, TypeError, ValueError) as error:
        return [f"{label}: its signature cannot be checked: {error}"]
    return []


def _ca_problems(issuer: x509.Certificate, label: str, below: int) -> list[str]:
    """`issuer` may issue certificates with `below` intermediate CAs under it (RFC 5280 §6.1.4)."""
    constraints = _extension(issuer, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        return [f"{label} issues certificates but is not a CA (basicConstraints)"]
    problems = []
    if constraints.path_length is not None and below > constraints.path_length:
        problems.append(
            f"{label} allows {constraints.path_length} CAs below it, the path has {below}"
        )
    usage = _extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        problems.append(f"{label} issues certificates but its keyUsage lacks keyCertSign")
    return problems
