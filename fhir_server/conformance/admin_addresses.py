"""Vietnamese administrative addresses (VN Core's `extension-administrative-address`): the
units an address names must nest, a commune within its province (and district, before the
1 July 2025 reorganisation). The profile binds each part to the value set on its own, so a
ward of Hà Nội under province 79 (Hồ Chí Minh City) conforms to it; the code system holds
the hierarchy, and the mismatch is reported as a warning."""

from fhir_server.conformance.code_systems import CodeSystemIndex, code_system
from fhir_server.conformance.messages import issue
from fhir_server.errors import Issue

ADMINISTRATIVE_ADDRESS = (
    "http://fhir.ehealth.gov.vn/core/StructureDefinition/extension-administrative-address")
UNITS = "http://fhir.ehealth.gov.vn/core/CodeSystem/vn-core-administrative-address"
# The parts of the extension from the largest unit down (a city is a province-level one).
_LEVELS = (("state", "city"), ("district",), ("ward",))


def address_issues(resource: dict) -> list[Issue]:
    """A warning for every administrative address of a resource (wherever an Address is)
    that names a unit outside the larger unit it also names."""
    issues: list[Issue] = []
    pending: list[tuple[object, str]] = [(resource, str(resource.get("resourceType")))]
    while pending:
        value, path = pending.pop()
        if isinstance(value, list):
            pending += [(item, f"{path}[{index}]") for index, item in enumerate(value)]
        elif isinstance(value, dict):
            if value.get("url") == ADMINISTRATIVE_ADDRESS:
                issues += _nesting_issues(value, path)
            pending += [(item, f"{path}.{key}") for key, item in value.items()
                        if isinstance(item, dict | list)]
    return issues


def _nesting_issues(extension: dict, path: str) -> list[Issue]:
    named: list[tuple[str, str, CodeSystemIndex]] = []  # (part, code, its code system)
    for parts in _LEVELS:
        for index, part in enumerate(extension.get("extension") or []):
            coding = _coding(part) if isinstance(part, dict) and part.get("url") in parts else None
            if coding is not None:
                named.append((f"{path}.extension[{index}]", *coding))
                break
    issues = []
    for (_, larger, _), (where, smaller, units) in zip(named, named[1:], strict=False):
        if smaller in units.concepts and larger not in _ancestors(units, smaller):
            issues.append(issue(
                "address-unit-outside", "business-rule", where, severity="warning",
                unit=_shown(units, smaller), larger=_shown(units, larger)))
    return issues


def _coding(part: dict) -> tuple[str, CodeSystemIndex] | None:
    """The code of one part (a CodeableConcept or Coding of the units' code system), with
    the version of the code system it names (else the current one)."""
    value = part.get("valueCodeableConcept") or {}
    codings = value.get("coding") if isinstance(value, dict) else None
    candidates = [*(codings if isinstance(codings, list) else []), part.get("valueCoding")]
    for coding in candidates:
        if (isinstance(coding, dict) and coding.get("system") == UNITS
                and isinstance(coding.get("code"), str)):
            version = coding.get("version")
            units = code_system(f"{UNITS}|{version}" if isinstance(version, str) else UNITS)
            return (coding["code"], units) if units is not None else None
    return None


def _ancestors(units: CodeSystemIndex, code: str) -> set[str]:
    found: set[str] = set()
    pending = list(units.parents.get(code, ()))
    while pending:
        parent = pending.pop()
        if parent not in found:
            found.add(parent)
            pending += units.parents.get(parent, ())
    return found


def _shown(units: CodeSystemIndex, code: str) -> str:
    concept = units.concepts.get(code)
    return f"{code} ({concept.display})" if concept is not None and concept.display else code
