"""Code systems that are grammars rather than lists: UCUM units, BCP-47 language tags and
MIME types (http://hl7.org/fhir/R4/terminologies-systems.html). No CodeSystem lists their
codes: a code is one of them when it parses, and its display is the code itself."""

import re

from fhir_server.conformance.units import UCUM, is_ucum

BCP_47 = "urn:ietf:bcp:47"
BCP_13 = "urn:ietf:bcp:13"

# RFC 5646 §2.1 langtag (language, script, region, variants, extensions, private use), or a
# private-use or grandfathered-irregular-free tag; case does not count.
_LANGUAGE_TAG = re.compile(
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})"
    r"(?:-[a-z]{4})?(?:-(?:[a-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"
    r"(?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*(?:-x(?:-[a-z0-9]{1,8})+)?"
    r"|x(?:-[a-z0-9]{1,8})+", re.IGNORECASE)
# RFC 6838 §4.2: type "/" subtype, restricted names; parameters are no part of the code.
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(rf"{_NAME}/{_NAME}")

NAMES = {UCUM: "UCUM", BCP_47: "IETF BCP-47 language tags", BCP_13: "IETF BCP-13 media types"}


def grammar_code(system: str, code: str) -> bool | None:
    """Whether `code` is a code of the grammar `system`; None for a system that is none of
    them. A UCUM expression whose units are not converted here is taken."""
    if system == UCUM:
        return is_ucum(code) is not False
    if system == BCP_47:
        return _LANGUAGE_TAG.fullmatch(code) is not None
    if system == BCP_13:
        return _MEDIA_TYPE.fullmatch(code) is not None
    return None


def includes_whole(value_set: dict, system: str) -> bool:
    """Whether a value set takes every code of `system` (an include of it with no concepts,
    filters or value sets, and no exclude of it): `ucum-units`, `all-languages`,
    `mimetypes`."""
    compose = value_set.get("compose")
    if not isinstance(compose, dict):
        return False
    def of_system(key: str) -> list[dict]:
        return [part for part in compose.get(key) or () if isinstance(part, dict)
                and part.get("system") == system]
    return not of_system("exclude") and any(
        not any(part.get(key) for key in ("concept", "filter", "valueSet"))
        for part in of_system("include"))
