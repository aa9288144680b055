"""Vietnamese identifier systems (http://hl7.org/fhir/R4/datatypes.html#Identifier): one
table of the kinds of identifier, each with the one system URI this server treats as
canonical, the other URIs the two VN Core implementation guides name it by, and the format
rule of its values where it has one.

The guides: the Ministry of Health's (`http://fhir.ehealth.gov.vn/core`, its NamingSystems
and the profiles that fix `identifier.system`) and the community one
(`http://fhir.hl7.org.vn/core`, whose systems this server writes in its own records). The
community URI is canonical where there is one, since records written so far use it (search
entries then need no re-indexing), else the Ministry's. The Ministry's guide spells two
systems differently in the NamingSystem and in the profile that uses it: both spellings are
listed. Its NamingSystem `provider-code` declares the URI of `provider-medical-license-number`
(a copy slip): that URI stays with the licence number, the facility code is the profile's
`sid/provider-code`.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.identifier_formats import (
    BHXH,
    BHYT,
    CMND,
    PERSONAL_ID,
    VIETNAMESE_PASSPORT,
    FormatRule,
    bhxh_problem,
)
from fhir_server.conformance.identifiers import CCCD_SYSTEM, TAX_CODE_SYSTEM
from fhir_server.conformance.messages import issue
from fhir_server.conformance.primitives import shown
from fhir_server.conformance.structure import BACKBONE, COMPLEX, PRIMITIVE, Node, definition_tree
from fhir_server.errors import Issue

MOH = "http://fhir.ehealth.gov.vn/core/sid/"
COMMUNITY = "http://fhir.hl7.org.vn/core/sid/"


@dataclass(frozen=True)
class IdentifierSystem:
    """One kind of identifier: its canonical system URI, the aliases of that URI, and the
    rule its values follow (None: any value)."""

    label: str  # as messages name a value of it: "BHYT number"
    canonical: str
    aliases: tuple[str, ...] = ()
    rule: FormatRule | None = None
    label_vi: str = ""  # as Vietnamese messages name it (those of systems with a rule)


IDENTIFIER_SYSTEMS: tuple[IdentifierSystem, ...] = (
    # Số định danh cá nhân, on the CCCD card. MoH: NamingSystem national-id (thẻ căn cước
    # công dân), Patient slice TheCCCD.
    IdentifierSystem("CCCD number", CCCD_SYSTEM, (MOH + "national_id",), PERSONAL_ID,
                     "số định danh cá nhân (CCCD)"),
    # Chứng minh nhân dân, the old identity card. MoH names it citizen_id: NamingSystem
    # citizen-id ("số CMTND"), Patient slice SoCMT.
    IdentifierSystem("CMND number", MOH + "citizen_id", (), CMND, "số CMND"),
    # Thẻ bảo hiểm y tế. MoH: NamingSystem insurance_number, Patient slice TheBHYT.
    IdentifierSystem("BHYT number", COMMUNITY + "bhyt", (MOH + "insurance_number",), BHYT,
                     "số thẻ BHYT"),
    # Mã số bảo hiểm xã hội: named by neither guide's sources; the community guide's
    # naming (sid/bhyt, sid/cccd, sid/mst) is assumed.
    IdentifierSystem("BHXH code", COMMUNITY + "bhxh", (), BHXH, "mã số BHXH"),
    # Any country's passport (MoH: Patient slice SoHoChieu): the issuer is not known.
    IdentifierSystem("passport number", MOH + "passport_number"),
    # Vietnamese passports (HL7 Terminology, NamingSystem passportNumNS-VNM).
    IdentifierSystem("Vietnamese passport number", "http://hl7.org/fhir/sid/passport-VNM",
                     ("urn:oid:2.16.840.1.113883.4.330.704",), VIETNAMESE_PASSPORT,
                     "số hộ chiếu Việt Nam"),
    # Giấy phép lái xe: NamingSystem `driver-license-number`, Patient slice BangLaiXe
    # `driver_license_number`.
    IdentifierSystem("driving licence number", MOH + "driver-license-number",
                     (MOH + "driver_license_number",)),
    # Mã bệnh nhân of one facility (Patient slice MaBenhNhan; QĐ 4210 MA_BN).
    IdentifierSystem("patient number", MOH + "patient-internal-id"),
    # Mã cơ sở khám, chữa bệnh (QĐ 4210 MA_CSKCB). MoH: Provider profile `provider-code`.
    IdentifierSystem("facility code", COMMUNITY + "ma-cskcb", (MOH + "provider-code",)),
    # Số đăng ký kinh doanh of a facility.
    IdentifierSystem("facility business registration number", MOH + "provider-license-number"),
    # Giấy phép hoạt động khám, chữa bệnh of a facility.
    IdentifierSystem("facility operating licence number",
                     MOH + "provider-medical-license-number"),
    # Mã nhân viên y tế (Practitioner profile).
    IdentifierSystem("health worker number", MOH + "healthworker-employee-number"),
    # Mã số thuế of an organisation.
    IdentifierSystem("tax code", TAX_CODE_SYSTEM),
)

_BY_URI: dict[str, IdentifierSystem] = {
    uri: entry for entry in IDENTIFIER_SYSTEMS for uri in (entry.canonical, *entry.aliases)
}


def canonical_system(system: str) -> str:
    """The canonical URI of an identifier system; a URI the table does not know, unchanged."""
    entry = _BY_URI.get(system)
    return system if entry is None else entry.canonical


_BHYT_SYSTEM, _BHXH_SYSTEM = COMMUNITY + "bhyt", COMMUNITY + "bhxh"
_BHYT_CARD = re.compile(r"[A-Z]{2}[1-5][0-9]{2}([0-9]{10})")


def equivalent_identifiers(system: str, value: str) -> list[tuple[str, str]]:
    """The identifiers one of a canonical `system` also is. Since 2025 the 10-digit BHXH
    code is a BHYT number of its own (Decision 1666/QĐ-BHXH): a BHYT number of 10 digits
    is that BHXH code and the reverse, and a 15-character BHYT card holds its holder's code,
    so that a card is found by that code, and a code by the holder's cards."""
    if system == _BHYT_SYSTEM and (code := card_holder_code(value)):
        return [(_BHYT_SYSTEM, code), (_BHXH_SYSTEM, code)]
    if system in (_BHYT_SYSTEM, _BHXH_SYSTEM) and bhxh_problem(value) is None:
        return [(_BHXH_SYSTEM if system == _BHYT_SYSTEM else _BHYT_SYSTEM, value)]
    return []


def card_holder_code(value: str) -> str | None:
    """The holder's 10-digit BHXH code a 15-character BHYT card ends with; None for a value
    of another form."""
    card = _BHYT_CARD.fullmatch(value)
    return card[1] if card else None


def searched_identifier(system: str, value: str) -> tuple[str, str]:
    """One form of an identifier that a search by any of its spellings finds alike: the
    canonical system, and a BHYT number that holds a BHXH code (a card, a 10-digit number)
    as that code, which finds the same resources (`equivalent_identifiers`)."""
    system = canonical_system(system)
    if system == _BHYT_SYSTEM and (code := card_holder_code(value) or (
            value if bhxh_problem(value) is None else None)):
        return _BHXH_SYSTEM, code
    return system, value


def aliases(system: str) -> tuple[str, ...]:
    """Every URI naming the same identifier system as `system`, the canonical one first;
    `(system,)` for a URI the table does not know."""
    entry = _BY_URI.get(system)
    return (system,) if entry is None else (entry.canonical, *entry.aliases)


def identifier_issues(resource: dict) -> list[Issue]:
    """An error for every Identifier of a resource (nested ones, those of references,
    contained resources and extensions included) whose system is in the table and whose
    value breaks the system's format rule."""
    tree = _resource_tree(resource)
    if tree is None:
        return []
    issues: list[Issue] = []
    pending: list[tuple[dict, Node, str]] = [(resource, tree, resource["resourceType"])]
    while pending:
        value, node, path = pending.pop()
        steps = _steps(node)
        children = []
        for key, item in value.items():
            step = steps.get(key)
            if step is None:
                continue
            many = isinstance(item, list)
            for index, child in enumerate(item if many else (item,)):
                if not isinstance(child, dict):
                    continue
                location = f"{path}.{key}[{index}]" if many else f"{path}.{key}"
                if step.identifier:
                    issues += _value_issues(child, location)
                child_tree = step.tree(child)
                if child_tree is not None:
                    children.append((child, child_tree, location))
        pending += reversed(children)  # document order
    return issues


def _value_issues(identifier: dict, location: str) -> list[Issue]:
    system, value = identifier.get("system"), identifier.get("value")
    entry = _BY_URI.get(system) if isinstance(system, str) else None
    if entry is None or entry.rule is None or not isinstance(value, str):
        return []
    problem = entry.rule.problem(value)
    if problem is None:
        return []
    expression = f"{location}.value"
    return [issue("identifier-format", "value", expression, label=entry.label,
                  value=shown(value), description=entry.rule.description, problem=problem.en,
                  vi={"description": entry.rule.description_vi, "problem": problem.vi,
                      "label": entry.label_vi or entry.label})]


@dataclass(frozen=True, slots=True)
class _Step:
    """A JSON property the walk follows: the tree its objects are walked with."""

    tree: Callable[[dict], Node | None]
    identifier: bool = False  # its objects are Identifiers


@cache
def _resource_types() -> frozenset[str]:
    return frozenset(registry().resource_types)


def _resource_tree(value: dict) -> Node | None:
    kind = value.get("resourceType")
    return definition_tree(kind) if isinstance(kind, str) and kind in _resource_types() else None


def _type_tree(type_code: str) -> Callable[[dict], Node | None]:
    return lambda _value: definition_tree(type_code)


def _backbone_tree(node: Node | None) -> Callable[[dict], Node | None]:
    return lambda _value: node


@cache
def _steps(node: Node) -> dict[str, _Step]:
    """The properties of a node the walk follows: every object-valued one, since any
    element may carry an extension and Extension.value[x] may be an Identifier or a
    Reference (whose `identifier` is one); primitive values themselves are skipped, their
    `_name` objects (id, extensions) are not."""
    steps = {}
    for name, prop in node.properties.items():
        if prop.kind == PRIMITIVE:
            steps["_" + name] = _Step(_type_tree(prop.type))
        elif prop.kind == BACKBONE:
            steps[name] = _Step(_backbone_tree(prop.node))
        elif prop.kind == COMPLEX:
            steps[name] = _Step(_type_tree(prop.type), prop.type == "Identifier")
        else:  # a resource: contained, Bundle.entry.resource, Parameters.parameter.resource
            steps[name] = _Step(_resource_tree)
    return steps
