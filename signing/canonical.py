"""The bytes a provenance signature covers: RFC 8785 canonical JSON of a resource version.

Signed content is the JSON Canonicalization Scheme (JCS, https://www.rfc-editor.org/rfc/rfc8785)
serialisation, as UTF-8, of the resource **without** ``id``, ``meta`` and ``text``: the server
assigns ``id`` and ``meta`` (versionId, lastUpdated) and may regenerate the narrative, while
the signature header's ``sigD`` names the exact ``<Type>/<id>/_history/<n>`` it covers.

JCS sorts object members by their UTF-16 code units, writes numbers as ECMAScript does
(IEEE 754 doubles: ``4.50`` and ``4.5`` are the same number) and leaves strings as they are —
in particular it does not normalise Unicode, so NFC "Nguyễn" and NFD "Nguyễn" differ.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import rfc8785

#: Top-level elements left out of the signed bytes.
UNSIGNED_ELEMENTS = frozenset({"id", "meta", "text"})
#: ``Signature.targetFormat``: FHIR JSON canonicalised by JCS (RFC 8785) without the unsigned
#: elements; FHIR R4's own canonicalisation URIs name none that omits id, meta and text together.
TARGET_FORMAT = 'application/fhir+json;canonicalization="urn:ietf:rfc:8785";omit="id meta text"'
#: What a document Bundle's own signature leaves out: the signature itself (it is enveloped),
#: and the id and meta a server that stores the document assigns anew.
DOCUMENT_UNSIGNED_ELEMENTS = frozenset({"id", "meta", "signature"})
DOCUMENT_TARGET_FORMAT = (
    'application/fhir+json;canonicalization="urn:ietf:rfc:8785";omit="id meta signature"'
)


#: Integers Python keeps exactly but an IEEE 754 double does not always (I-JSON, RFC 7493 §2.2).
_EXACT_INTEGERS = 2**53 - 1


class NotCanonicalisable(ValueError):
    """The resource is outside the I-JSON data model JCS accepts (RFC 8785 §3.1).

    For example NaN or infinite numbers, numbers beyond the double range, lone surrogates in
    strings or non-string object keys.
    """


def signed_content(
    resource: dict[str, Any], unsigned: frozenset[str] = UNSIGNED_ELEMENTS
) -> bytes:
    """RFC 8785 canonical UTF-8 JSON of `resource` without its `unsigned` top-level elements
    (``id``, ``meta`` and ``text`` unless told otherwise).

    ``Decimal`` values (from ``json.loads(..., parse_float=Decimal)``) and integers beyond
    ±(2**53 − 1) (FHIR's official Observation-decimal example has 10**18) are taken as the
    IEEE 754 double JSON numbers they denote, as RFC 8785 §3.2.2.3 requires and as an
    ECMAScript implementation reads them.
    """
    if not isinstance(resource, dict):
        raise NotCanonicalisable("a resource must be a JSON object")
    content = {key: value for key, value in resource.items() if key not in unsigned}
    try:
        return rfc8785.dumps(_as_json_numbers(content))
    except rfc8785.CanonicalizationError as error:
        raise NotCanonicalisable(str(error)) from error


def _as_json_numbers(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _EXACT_INTEGERS:
        try:
            return float(value)
        except OverflowError:
            raise NotCanonicalisable(f"the number {value} is beyond the double range") from None
    if isinstance(value, dict):
        return {key: _as_json_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json_numbers(item) for item in value]
    return value
