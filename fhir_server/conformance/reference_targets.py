"""The types a Reference may point to (ElementDefinition.type.targetProfile of the base
definitions), and the check that a literal reference names one of them: `Medication/1` as
an Observation's subject, which R4 limits to Patient, Group, Device and Location, is an
error, as the FHIR validator reports it
(http://hl7.org/fhir/R4/references.html#Reference, Reference.type: "the type ... SHALL be
consistent with the reference")."""

import re
from collections.abc import Collection, Mapping

from fhir_server.conformance.code_systems import per_registry
from fhir_server.conformance.definitions import registry
from fhir_server.conformance.primitives import ID_REGEX
from fhir_server.conformance.snapshots import ProfileError
from fhir_server.conformance.type_codes import CORE

# `Type/id`, `Type/id/_history/v`, or the same after a base URL.
_LITERAL = re.compile(rf"(?:.*/)?([A-Z][A-Za-z]+)/({ID_REGEX})(?:/_history/[^/]+)?")
_RELATIVE = re.compile(rf"([A-Z][A-Za-z]+)/{ID_REGEX}(?:/_history/{ID_REGEX})?")
# What a reference is when it is no relative one: a URL or URN (a scheme), a contained
# resource (`#`), or a conditional reference that a write resolves (`Type?criteria`): a
# `?` after anything else (`?identifier=...`, `Patient/1?x=1`) is none, kept as sent.
_NOT_RELATIVE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:|#|[A-Za-z]+\?")


@per_registry
def allowed_targets(element_path: str) -> frozenset[str] | None:
    """The resource types the Reference of a base element may name (`Observation.subject`
    → Patient, Group, Device, Location); None when any may (Resource, or no targetProfile)
    or the element is not found."""
    try:
        elements = registry().snapshot(CORE + element_path.split(".")[0])
    except (KeyError, ProfileError):
        return None
    element = next((e for e in elements if e.get("path") == element_path), None)
    if element is None:
        return None
    targets = [profile for entry in element.get("type", ()) if entry.get("code") == "Reference"
               for profile in entry.get("targetProfile", ())]
    names = {target.rsplit("/", 1)[-1] for target in targets if target.startswith(CORE)}
    if not names or "Resource" in names or len(names) != len(targets):
        return None  # any type, or one named by a profile this check does not read
    return frozenset(names)


def literal_type(reference: object, contained: Mapping[str, object],
                 container: object = None) -> str | None:
    """The resource type a literal reference names: `Type/id`, absolute or not, `#id` of
    a resource `contained` (`contained_types` of the root), or `#` alone the root itself,
    `container` (references.html#contained: how a contained resource refers to its
    container); None when it does not say (urn:uuid:, a search URL)."""
    if not isinstance(reference, str):
        return None
    if reference == "#":
        return container if isinstance(container, str) else None
    if reference.startswith("#"):
        kind = contained.get(reference[1:])
        return kind if isinstance(kind, str) else None
    named = named_resource(reference)
    return named[0] if named else None


def malformed_relative(reference: object, resource_types: Collection[str]) -> bool:
    """Whether a literal reference is relative but no `[type]/[id]` of a resource type
    (references.html#literal): `Practitioner/a b`, `Foo/1`."""
    if not isinstance(reference, str) or _NOT_RELATIVE.match(reference):
        return False
    match = _RELATIVE.fullmatch(reference)
    return match is None or match.group(1) not in resource_types


def named_resource(url: str) -> tuple[str, str] | None:
    """(type, id) of a RESTful reference or fullUrl (`[base/]Type/id[/_history/v]`)."""
    match = _LITERAL.fullmatch(url)
    return (match.group(1), match.group(2)) if match else None


def type_name(declared: object) -> str | None:
    """`Reference.type` (a type name, or the URL of its StructureDefinition) as a type name."""
    return declared.rsplit("/", 1)[-1] if isinstance(declared, str) else None


def contained_types(resource: dict) -> dict[str, object]:
    """id → resourceType of a resource's contained resources: what a local reference `#id`
    may name (looked up once per reference: thousands of them made validation quadratic)."""
    contained = resource.get("contained")
    if not isinstance(contained, list):
        return {}
    types: dict[str, object] = {}
    for item in contained:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            types.setdefault(item["id"], item.get("resourceType"))
    return types
