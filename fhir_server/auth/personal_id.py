"""The Vietnamese 12-digit personal identification number (số định danh cá nhân, the number
on the CCCD card and the VNeID subject) as authentication uses it: the format rule lives in
`fhir_server.conformance.identifier_formats`, shared with identifier validation; this module
adds masking for logs."""

import re

from fhir_server.conformance.identifier_formats import validate_personal_id

__all__ = ["mask_personal_ids", "validate_personal_id"]

_TWELVE_DIGITS = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")


def _mask(match: re.Match[str]) -> str:
    digits = match.group()
    return f"{digits[:3]}*******{digits[-2:]}"


def mask_personal_ids(text: str) -> str:
    """Replace every run of exactly 12 digits with its first 3 and last 2 digits around
    `*******`, so that logs never hold a whole personal identification number."""
    return _TWELVE_DIGITS.sub(_mask, text)
