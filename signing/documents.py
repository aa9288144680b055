"""Sign and verify a FHIR document as a whole: ``Bundle.signature`` of a ``document`` Bundle
(R4 bundle.html, documents.html), enveloped in the Bundle it signs.

The JWS is the one of :mod:`signing.provenance` (detached, unencoded payload, the same
protected header) with two differences: the signed bytes are the RFC 8785 JSON of the Bundle
without ``id``, ``meta`` and ``signature`` (:data:`DOCUMENT_UNSIGNED_ELEMENTS`), and ``sigD``
designates the document by its identifier (``Bundle.identifier.value``, an absolute URI such
as ``urn:uuid:...``), which stays the same wherever the document is stored, not by a version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptography import x509

from signing.canonical import DOCUMENT_UNSIGNED_ELEMENTS, NotCanonicalisable, signed_content
from signing.jws import prepare_detached
from signing.keys import DigestSigner
from signing.provenance import (
    build_signature_header,
    sign_prepared,
    verify_detached,
)
from signing.report import VerificationReport


def document_identifier(bundle: Any) -> str:
    """What ``sigD`` designates: the document's ``Bundle.identifier.value``, an absolute URI;
    ValueError when there is none."""
    identifier = bundle.get("identifier") if isinstance(bundle, dict) else None
    value = identifier.get("value") if isinstance(identifier, dict) else None
    if not isinstance(value, str) or ":" not in value:
        raise ValueError("a signed document needs Bundle.identifier.value, an absolute URI")
    return value


async def sign_document(bundle: dict[str, Any], signer: DigestSigner, signed_at: datetime) -> str:
    """``Signature.data`` of `bundle` (a document) signed by `signer` at `signed_at`."""
    header = build_signature_header(
        document_identifier(bundle), signer.chain, signer.kid, signer.alg, signed_at
    )
    prepared = prepare_detached(_content(bundle)[0], header, signer.alg)
    return (await sign_prepared([prepared], signer))[0]


def verify_document(
    signature_data: str,
    bundle: Any,
    anchors: Sequence[x509.Certificate],
    expected_personal_id: str | None = None,
    **options: Any,
) -> VerificationReport:
    """Check `signature_data` over `bundle`; `options` and the identity rules as
    :func:`signing.provenance.verify_detached`."""
    try:
        designation = document_identifier(bundle)
    except ValueError:
        designation = "(no Bundle.identifier)"  # the target check fails on it
    return verify_detached(signature_data, designation, lambda: _content(bundle), anchors,
                           expected_personal_id, **options)


def _content(bundle: Any) -> tuple[bytes, str]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValueError("a signed document is a Bundle")
    try:
        content = signed_content(bundle, DOCUMENT_UNSIGNED_ELEMENTS)
    except NotCanonicalisable as error:
        raise ValueError(f"the Bundle cannot be canonicalised (RFC 8785): {error}") from None
    return content, f"{len(content)} bytes of RFC 8785 JSON without id, meta and signature"
