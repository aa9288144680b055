"""Vietnamese administrative addresses (VN Core's `extension-administrative-address`): the
units an address names must nest, a commune within its province (and district, before the
1 July 2025 reorganisation). The profile binds each part to the value set on its own, so a
ward of Hà Nội under province 79 (Hồ Chí Minh City) conforms to it; the code system holds
the hierarchy, and the mismatch is reported as a warning."""

from dataclasses import replace

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
    return [found for extension, path, _ in _administrative_addresses(resource)
            for found in _nesting_issues(extension, path)]


def as_of_the_reorganisation(resource: dict, issues: list[Issue]) -> list[Issue]:
    """`issues` with the errors of units of the pre-2025 version (abolished on 1 July 2025:
    "use the current unit") made warnings in an address the resource marks as no longer in
    use (`use: old`, or a period ended before then): a past address is kept as it was, and
    rewriting it into today's units would falsify it; the binding is extensible. In a
    current address, a district's successor is a province: the advice is to leave it out."""
    historical: list[str] = []
    districts: list[str] = []
    for extension, path, address in _administrative_addresses(resource):
        if _historical(address):
            historical.append(f"{path}.")
        else:
            districts += [f"{path}.extension[{index}]"
                          for index, part in enumerate(extension.get("extension") or [])
                          if isinstance(part, dict) and part.get("url") == "district"]
    if not historical and not districts:
        return issues
    changed = []
    for found in issues:
        if found.message_id in _MAPPED and found.severity == "error" and any(
                e.startswith(tuple(historical)) for e in found.expression):
            found = replace(found, severity="warning", diagnostics=found.diagnostics + _KEPT[0],
                            diagnostics_vi=(found.diagnostics_vi or found.diagnostics)
                            + _KEPT[1])
        elif found.message_id in _MAPPED and any(
                e.startswith(tuple(districts)) for e in found.expression):
            found = replace(found, diagnostics=_NO_DISTRICT[0].format(*found.expression[:1]),
                            diagnostics_vi=_NO_DISTRICT[1].format(*found.expression[:1]))
        changed.append(found)
    return changed


_KEPT = ("; kept, as the address is marked as no longer in use (use: old, or its period "
         "ended before 1 July 2025)",
         "; vẫn được giữ vì địa chỉ đã đánh dấu không còn dùng (use: old, hoặc period kết "
         "thúc trước 01/07/2025)")
_REORGANISED = "2025-07-01"
# A unit of the list before 1 July 2025 (every one maps to current units): named as of
# that version, or without one. A code of no list is no unit, past or present.
_MAPPED = ("coding-of-another-version-mapped", "extensible-code-mapped")
_NO_DISTRICT = (
    "{}: districts were abolished on 1 July 2025 (local government has two levels, province "
    "and commune): leave the district part out of a current address",
    "{}: cấp huyện đã bãi bỏ từ 01/07/2025 (chính quyền địa phương hai cấp, tỉnh và xã): bỏ "
    "phần district (quận/huyện) khỏi địa chỉ hiện tại")


def _historical(address: dict) -> bool:
    period = address.get("period")
    end = period.get("end") if isinstance(period, dict) else None
    return address.get("use") == "old" or (isinstance(end, str) and end[:10] < _REORGANISED)


def _administrative_addresses(resource: dict) -> list[tuple[dict, str, dict]]:
    """(the extension, its path, the element holding it: an Address) of each administrative
    address of a resource."""
    found = []
    pending: list[tuple[object, str, dict]] = [(resource, str(resource.get("resourceType")),
                                                resource)]
    while pending:
        value, path, holder = pending.pop()
        if isinstance(value, list):
            pending += [(item, f"{path}[{index}]", holder) for index, item in enumerate(value)]
        elif isinstance(value, dict):
            if value.get("url") == ADMINISTRATIVE_ADDRESS:
                found.append((value, path, holder))
            pending += [(item, f"{path}.{key}", value) for key, item in value.items()
                        if isinstance(item, dict | list)]
    return found


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
