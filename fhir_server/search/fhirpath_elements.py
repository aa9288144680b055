"""What a FHIRPath step leads to in R4's element definitions: the JSON key, FHIR type and
scope of the elements a member name selects (one per type of a choice element), for
`search.fhirpath`'s compiler."""

import functools
from decimal import Decimal

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.type_codes import choice_name, type_code_of

BACKBONE_TYPES = frozenset({"BackboneElement", "Element"})
# Specialisations, which `as T` keeps too (http://hl7.org/fhir/R4/datatypes.html).
SUBTYPES = {"string": {"code", "id", "markdown"}, "uri": {"url", "canonical", "oid", "uuid"},
            "integer": {"positiveInt", "unsignedInt"},
            "Quantity": {"Age", "Count", "Distance", "Duration"}}
# FHIRPath system types (http://hl7.org/fhirpath/#types) → the FHIR primitives they map to.
SYSTEM_TYPES = {"Boolean": "boolean", "String": "string", "Integer": "integer",
                "Decimal": "decimal", "Date": "date", "DateTime": "dateTime", "Time": "time"}
# JSON classes of the non-string primitives (http://hl7.org/fhir/R4/json.html); other
# primitives are strings, other types objects.
JSON_CLASSES: dict[str, tuple[type, ...]] = {
    "integer": (int,), "positiveInt": (int,), "unsignedInt": (int,), "boolean": (bool,),
    "decimal": (int, float, Decimal)}


class UnsupportedExpression(ValueError):
    """The expression is outside the supported subset or names an unknown element."""


@functools.cache
def _definitions(type_name: str) -> dict[str, dict]:
    """Snapshot elements of a resource's or data type's StructureDefinition by path ({} if
    there is none)."""
    definition = registry().structure_definition(type_name)
    elements = definition["snapshot"]["element"] if definition else []
    return {element["path"]: element for element in elements}


def _single(definitions: dict[str, dict], path: str, key: str) -> tuple[str, str, str]:
    """The element at a non-choice `path`, following a `contentReference`, with its FHIR type
    as validation reads it (`type_code_of`: a resource's `id` is an `id`)."""
    definition = definitions[path]
    if "contentReference" in definition:
        return _single(definitions, definition["contentReference"].lstrip("#"), key)
    (entry,) = definition["type"]
    fhir_type = type_code_of(entry, definition)
    return key, fhir_type, path if fhir_type in BACKBONE_TYPES else fhir_type


def children(scope: str | None, name: str) -> list[tuple[str, str, str]]:
    """Where a step `name` from `scope` leads: (JSON key, FHIR type, scope of its children: the
    path of a backbone element, else the type), one per type for a choice element
    (http://hl7.org/fhir/R4/formats.html#choice)."""
    if scope and scope[0].islower():
        # A primitive is a JSON string, number or boolean here: it has no members to step to.
        raise UnsupportedExpression(f"a step .{name} from the primitive type {scope}")
    definitions = _definitions(scope.split(".")[0]) if scope else {}
    path = f"{scope}.{name}"
    if path in definitions:
        return [_single(definitions, path, name)]
    if f"{path}[x]" in definitions:
        types = [entry["code"] for entry in definitions[f"{path}[x]"]["type"]]
        return [(choice_name(name, t), t, t) for t in types]
    raise UnsupportedExpression(f"unknown element {path}")
