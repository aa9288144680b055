"""Extensions: the ext-1 rule, and the value type and context of extensions the registry
defines (http://hl7.org/fhir/R4/extensibility.html#extension,
http://hl7.org/fhir/R4/defining-extensions.html#context)."""

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.messages import issue, phrase
from fhir_server.conformance.packages import repeated_extensions, undefined_extension_parts
from fhir_server.conformance.primitives import ABSOLUTE_URI
from fhir_server.conformance.profile_bindings import binding, binding_issues
from fhir_server.conformance.structure import max_of
from fhir_server.conformance.type_codes import CORE, choice_name
from fhir_server.errors import Issue

_CORE = "hl7.fhir.r4.core#"  # the package of R4's own definitions
# The namespace of the extensions R4 and the HL7 extensions pack define.
# An extension within an extension (a complex extension's part, named relatively).
_NESTED = re.compile(r"(?:^|\.)(?:modifierE|e)xtension\[\d+\]\.(?:modifierE|e)xtension\[\d+\]$")
# Contexts every element matches.
_ANY_ELEMENT = frozenset({"Element", "Base"})


@dataclass(frozen=True, slots=True)
class Part:
    """One nested extension a complex extension defines (`Extension.extension:code`): its
    value[x] types (JSON names) and how many it may hold."""

    values: dict[str, str]
    most: int | None  # None: unbounded
    least: int


@dataclass(frozen=True, slots=True)
class ExtensionDefinition:
    """What an extension StructureDefinition allows: its value[x] types (JSON names),
    whether it nests extensions, and where it may be used."""

    url: str
    values: dict[str, str]  # JSON name → type code (valueAddress: Address); {}: complex
    nested: bool
    contexts: tuple[tuple[str, str], ...]  # (type, expression)
    modifier: bool  # a modifier extension (Extension.isModifier): sent as modifierExtension
    # Defined by an implementation guide, not by R4: a guide whose definitions and profiles
    # disagree (VN Core's ethnicity is a modifier by its definition, a plain extension by its
    # Patient profile) does not get writes refused for it
    by_guide: bool
    # The value's binding, when one that is checked (required: data-absent-reason's codes;
    # extensible: VN Core's ethnicity): (strength, value set)
    value_binding: tuple[str, str] | None
    parts: dict[str, Part]  # a complex extension's nested ones, by their url
    # The severity of a repeat on one element ("only allowed once on any element on which it
    # appears" with a root max of 1); None where it may repeat
    repeated: str | None
    # The severity of a part it does not define (a warning where HL7's own examples hold one)
    undefined_part: str


def _element(definition: dict, element_id: str) -> dict | None:
    return next((e for e in definition["snapshot"]["element"] if e["id"] == element_id), None)


def _value_types(value: dict) -> dict[str, str]:
    """The JSON names of an element `value[x]`'s types (valueAddress: Address)."""
    return {choice_name("value", entry["code"]): entry["code"]
            for entry in value.get("type", ()) if value.get("max") != "0"}


def _parts(definition: dict) -> dict[str, Part]:
    """The slices of `Extension.extension` (a complex extension's parts), by the url each
    fixes."""
    parts = {}
    for element in definition["snapshot"]["element"]:
        head, _, name = element["id"].partition(":")
        if head != "Extension.extension" or not name or "." in name:
            continue
        url = (_element(definition, f"{element['id']}.url") or {}).get("fixedUri", name)
        value = _element(definition, f"{element['id']}.value[x]") or {}
        parts[url] = Part(_value_types(value), max_of(element), int(element.get("min", 0)))
    return parts


@cache  # keyed by canonical URLs of the registry only
def _compiled(url: str) -> ExtensionDefinition:
    definition = registry().by_url[url]
    value = _element(definition, "Extension.value[x]") or {}
    nested = _element(definition, "Extension.extension") or {}
    values = _value_types(value)
    bound = value.get("binding") or {}
    root = _element(definition, "Extension") or {}  # isModifier is said of the whole
    package = registry().package_of(definition) or _CORE  # name#version
    return ExtensionDefinition(
        url=url,
        values=values,
        nested=nested.get("max") != "0",
        contexts=tuple((c["type"], c["expression"]) for c in definition.get("context", ())),
        modifier=bool(root.get("isModifier")),
        by_guide=not package.startswith(_CORE),
        value_binding=((bound["strength"], bound["valueSet"])
                       if bound.get("strength") in ("required", "extensible")
                       and isinstance(bound.get("valueSet"), str) else None),
        parts=_parts(definition),
        repeated=(_severity(package, url, repeated_extensions())
                  if root.get("max") == "1" else None),
        undefined_part=_severity(package, url, undefined_extension_parts()),
    )


def _severity(package: str, url: str, known: dict[tuple[str, str], str]) -> str:
    """Of breaking the extension's definition: an error, a warning where known-issues.json
    names it (HL7's own packages or examples break it)."""
    return "warning" if (package.partition("#")[0], url) in known else "error"


def _held(url: object) -> dict | None:
    """The registry's extension StructureDefinition of a url, usable or not."""
    if not isinstance(url, str):
        return None
    found = registry().structure_definition(url) if "/" in url else None
    return found if found is not None and found["type"] == "Extension" else None


def extension_definition(url: object) -> ExtensionDefinition | None:
    """The definition of an extension url, if the registry has one it can use (one whose
    snapshot cannot be generated is as unknown: `_unusable` says why)."""
    found = _held(url)
    if found is None or "snapshot" not in found:
        return None
    return _compiled(found["url"])


def _unusable(url: object, path: str) -> list[Issue]:
    """A warning where the registry holds the extension's definition but cannot generate its
    snapshot: the extension is checked as an unknown one, as a profile the server cannot use
    is only claimed, and the resource not refused for the definition's fault."""
    found = _held(url)
    if found is None or "snapshot" in found:
        return []
    reason = registry().profile_errors.get(found["url"], phrase("profile.depends-on-itself"))
    return [issue("extension-definition-unusable", "processing", path, severity="warning",
                  url=found["url"], path=path, reason=reason)]


@cache  # keyed by type names of the definitions
def _type_and_ancestors(type_code: str) -> frozenset[str]:
    names = set()
    definition = registry().structure_definition(type_code)
    while definition is not None and definition["type"] not in names:
        names.add(definition["type"])
        definition = registry().resolve(definition.get("baseDefinition", ""))
    return frozenset(names | {type_code})


def _context_matches(definition: ExtensionDefinition, element_path: str, type_code: str) -> bool:
    """Whether an element (its definition path and type) is a context of the extension;
    True when unsure (contexts of type fhirpath or extension)."""
    types = _type_and_ancestors(type_code)
    for kind, expression in definition.contexts:
        if kind != "element" or expression in _ANY_ELEMENT:
            return True
        if expression == element_path or expression in types:
            return True
    return not definition.contexts


def extension_issues(extension: dict, path: str, element_path: str,
                     type_code: str) -> list[Issue]:
    """Problems of one extension object at `path`, on an element of `type_code` defined at
    `element_path` (the value itself is walked like any other element)."""
    values = [key for key in extension if key.startswith("value")]
    nested = "extension" in extension
    if values and nested:
        return [issue("extension-value-and-nested", "invariant", path, path=path)]
    if not values and not nested:
        return [issue("extension-empty", "invariant", path, path=path)]
    url = extension.get("url")
    if isinstance(url, str) and not ABSOLUTE_URI.match(url) and not _NESTED.search(path):
        # Extension.url: "SHALL be a URI for the Structure Definition"; only the parts of a
        # complex extension have names relative to it.
        return [issue("extension-url-relative", "value", f"{path}.url", url=url, path=path)]
    definition = extension_definition(url)
    as_modifier = path.rpartition(".")[2].startswith("modifierExtension")
    if definition is None:
        return _unusable(url, path) + _unknown(url, path, as_modifier)
    issues = []
    where: dict[str, Any] = {"url": definition.url, "path": path}
    if as_modifier != definition.modifier:
        # extensibility.html#modifierExtension: a modifier is one "if and only if" defined so.
        placement: dict[str, Any] = {
            "defined": phrase("extension.defined-modifier" if definition.modifier
                              else "extension.defined-not-modifier"),
            "sent": phrase("extension.sent-modifier" if as_modifier else "extension.sent-plain")}
        issues.append(
            issue("extension-modifier-flawed", "processing", path, severity="warning",
                  **placement, **where) if definition.by_guide else
            issue("extension-modifier-mismatch", "structure", path, **placement, **where))
    if values and values[0] not in definition.values:
        issues.append(
            issue("extension-value-type", "structure", f"{path}.{values[0]}", value=values[0],
                  allowed=", ".join(sorted(definition.values)), **where)
            if definition.values else
            issue("extension-no-value", "structure", f"{path}.{values[0]}", value=values[0],
                  **where)
        )
    elif values and definition.value_binding is not None:
        # The extension's own binding, which the element Extension.value[x] does not have.
        issues += binding_issues(binding(*definition.value_binding),
                                 extension[values[0]], definition.values[values[0]],
                                 f"{path}.{values[0]}")
    if nested and not definition.nested:
        issues.append(issue("extension-not-nested", "structure", f"{path}.extension", **where))
    elif nested:  # a relative url names a part of it, so of a simple one none
        issues += _part_issues(definition, extension["extension"], path)
    if not _context_matches(definition, element_path, type_code):
        contexts = ", ".join(expression for _, expression in definition.contexts)
        issues.append(issue("extension-context", "structure", path, severity="warning",
                            contexts=contexts, element=element_path, type=type_code, **where))
    return issues


def _unknown(url: object, path: str, as_modifier: bool) -> list[Issue]:
    """Of an extension whose definition the registry has not (or cannot use): a warning, not
    an error, as R4's own examples (Basic/referral) carry such ones."""
    if as_modifier:
        return [issue("extension-modifier-unknown", "extension", path, severity="warning",
                      url=url, path=path)]
    if str(url).startswith(CORE) and _held(url) is None:
        # Every extension of that namespace is held here (R4's, the extensions pack's): one
        # not found is most likely misspelled, and its data would be lost on readers.
        return [issue("extension-unknown-core", "extension", f"{path}.url",
                      severity="warning", url=url, path=path)]
    return []


def repeated_extension_issues(extensions: list, expression: str) -> list[Issue]:
    """The extensions of one element (its `extension` or `modifierExtension` array at
    `expression`) given again where their definition allows them once: "If the Extension
    maximum cardinality is 1, then the extension is only allowed once on any element on which
    it appears" (http://hl7.org/fhir/R4/defining-extensions.html#cardinality)."""
    first: dict[str, str] = {}  # url → where it is given first
    issues = []
    for index, extension in enumerate(extensions):
        url = extension.get("url") if isinstance(extension, dict) else None
        definition = extension_definition(url)
        if definition is None or definition.repeated is None:
            continue
        path = f"{expression}[{index}]"
        if definition.url in first:
            issues.append(issue("extension-repeated", "structure", path,
                                severity=definition.repeated, url=definition.url, path=path,
                                first=first[definition.url]))
        first.setdefault(definition.url, path)
    return issues


def _part_issues(definition: ExtensionDefinition, nested: object, path: str) -> list[Issue]:
    """The parts of a complex extension against its definition: each one's value type, and
    how many of each. A relative url it does not define names nothing: its parts are
    "local/relative to the reference to the extension definition" (extensibility.html), an
    error whether its slicing is open or closed, as HL7's validator has it; an absolute one
    is an extension defined elsewhere, checked against its own definition."""
    if not isinstance(nested, list):
        return []  # the array's own shape is the structure check's
    issues = []
    seen: dict[str, int] = {}
    for index, part in enumerate(nested):
        url = part.get("url") if isinstance(part, dict) else None
        where = f"{path}.extension[{index}]"
        if isinstance(url, str) and url not in definition.parts and not ABSOLUTE_URI.match(url):
            issues.append(issue("extension-part-unknown", "structure", f"{where}.url",
                                severity=definition.undefined_part, url=definition.url,
                                part=url, path=path))
        if not isinstance(url, str) or url not in definition.parts:
            continue
        seen[url] = seen.get(url, 0) + 1
        allowed = definition.parts[url].values
        values = [key for key in part if key.startswith("value")]
        if values and values[0] not in allowed:
            part_url = f"{definition.url}#{url}"
            issues.append(
                issue("extension-value-type", "structure", f"{where}.{values[0]}",
                      value=values[0], allowed=", ".join(sorted(allowed)), url=part_url,
                      path=where)
                if allowed else
                issue("extension-no-value", "structure", f"{where}.{values[0]}",
                      value=values[0], url=part_url, path=where))
    for url, part_definition in definition.parts.items():
        count = seen.get(url, 0)
        if count < part_definition.least or (
                part_definition.most is not None and count > part_definition.most):
            most = "*" if part_definition.most is None else part_definition.most
            issues.append(issue("extension-part-count", "structure", f"{path}.extension",
                                url=definition.url, part=url, count=count,
                                least=part_definition.least, most=most, path=path))
    return issues
