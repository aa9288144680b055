"""Which elements of a resource are summary elements and which are mandatory, read from the
StructureDefinition snapshots of the registry (`ElementDefinition.isSummary` and `min`,
http://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.isSummary), for
`_summary` and `_elements` (http://hl7.org/fhir/R4/search.html#summary)."""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.type_codes import choice_name

# Types whose elements are defined in the snapshot itself, so their children are listed there.
BACKBONE_TYPES = frozenset({"BackboneElement", "Element"})


@dataclass(frozen=True)
class ElementInfo:
    """One element of a resource definition, e.g. `Patient.deceased[x]`."""

    path: str
    # JSON property → its data type: {"deceasedBoolean": "boolean", "deceasedDateTime": ...};
    # a primitive's `_name` companion (its id and extensions) is listed with `name`'s type.
    keys: dict[str, str]
    summary: bool
    mandatory: bool
    modifier: bool
    # For a backbone element, the path whose child definitions describe its content (its own
    # path, or the target of a `contentReference` such as `#Provenance.agent`).
    backbone: str | None

    @property
    def name(self) -> str:
        """The element name without the `[x]` of a choice element: `deceased`."""
        return self.path.rsplit(".", 1)[-1].removesuffix("[x]")


def _json_keys(name: str, type_codes: list[str]) -> dict[str, str]:
    """The JSON property names of an element (http://hl7.org/fhir/R4/formats.html#choice)."""
    if name.endswith("[x]"):
        base = name.removesuffix("[x]")
        keys = {choice_name(base, code): code for code in type_codes}
    else:
        keys = {name: type_codes[0] if type_codes else ""}
    # Primitive type codes start lower-case (http://hl7.org/fhir/R4/datatypes.html#primitive);
    # `id` is typed by its FHIRPath system type.
    primitive = {key: code for key, code in keys.items() if code[:1].islower() or "System." in code}
    return keys | {"_" + key: code for key, code in primitive.items()}


def _element_info(definition: dict, parents: set[str]) -> ElementInfo:
    path = definition["path"]
    type_codes = [t["code"] for t in definition.get("type", [])]
    reference = definition.get("contentReference", "").removeprefix("#") or None
    backbone = path if path in parents and BACKBONE_TYPES.intersection(type_codes) else reference
    return ElementInfo(
        path=path,
        keys=_json_keys(path.rsplit(".", 1)[-1], type_codes),
        summary=definition.get("isSummary", False),
        mandatory=definition.get("min", 0) >= 1,
        modifier=definition.get("isModifier", False),
        backbone=backbone,
    )


@cache
def _children_by_parent(resource_type: str) -> dict[str, dict[str, ElementInfo]]:
    """Parent path → JSON property → the child element it belongs to."""
    definition = registry().structure_definition(resource_type)
    snapshot = definition["snapshot"]["element"] if definition else []
    definitions = [d for d in snapshot if "." in d["path"]]
    parents = {d["path"].rsplit(".", 1)[0] for d in definitions}
    children: dict[str, dict[str, ElementInfo]] = {}
    for definition in definitions:
        info = _element_info(definition, parents)
        parent = info.path.rsplit(".", 1)[0]
        children.setdefault(parent, {}).update(dict.fromkeys(info.keys, info))
    return children


def children(resource_type: str, parent_path: str | None = None) -> Mapping[str, ElementInfo]:
    """JSON property → element, for the children of `parent_path` (default: the top level)."""
    found = _children_by_parent(resource_type).get(parent_path or resource_type, {})
    return MappingProxyType(found)


def mandatory_keys(resource_type: str) -> frozenset[str]:
    """The JSON properties of the top-level elements with `min >= 1`."""
    return frozenset(key for key, info in children(resource_type).items() if info.mandatory)


@cache
def attachment_urls(resource_type: str) -> tuple[str, ...]:
    """The dotted JSON paths of the `url` of every Attachment element of a type, where its
    content may be held elsewhere (`content.attachment.url` of DocumentReference,
    `presentedForm.url` of DiagnosticReport, `photo.url` of Patient)."""
    found: list[str] = []
    pending: list[tuple[str | None, str, int]] = [(None, "", 0)]
    while pending:
        parent, prefix, depth = pending.pop()
        for key, info in children(resource_type, parent).items():
            if info.keys[key] == "Attachment" and not key.startswith("_"):
                found.append(f"{prefix}{key}.url")
            elif info.backbone and depth < _ATTACHMENT_DEPTH and info.keys[key] in BACKBONE_TYPES:
                pending.append((info.backbone, f"{prefix}{key}.", depth + 1))
    return tuple(sorted(found))


# Nesting followed (a `contentReference` such as Questionnaire.item.item recurses for ever).
_ATTACHMENT_DEPTH = 4
