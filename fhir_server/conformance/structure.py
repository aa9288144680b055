"""StructureDefinition snapshots compiled, once each, into trees of the JSON properties an
instance may have (http://hl7.org/fhir/R4/elementdefinition.html,
http://hl7.org/fhir/R4/json.html).

A `Node` is an element whose children the snapshot lists: the root of a resource or data
type, or a BackboneElement. Its `properties` map each JSON name (`valueQuantity` for
`Observation.value[x]`) to a `Property` that says how the values look. Data types are
compiled from their own StructureDefinitions when first met, so recursive types
(Extension.extension, Identifier.assigner) cost nothing until an instance uses them.
"""

from dataclasses import dataclass, field
from functools import cache

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.invariants import Invariant, element_invariants
from fhir_server.conformance.terminology import RequiredBinding, expand
from fhir_server.conformance.type_codes import choice_name, type_code_of

# Element types whose values a required binding constrains here.
_CODED_TYPES = frozenset({"code", "Coding", "CodeableConcept"})
# The kinds of value a property holds.
PRIMITIVE, COMPLEX, RESOURCE, BACKBONE = "primitive", "complex", "resource", "backbone"


@dataclass(eq=False, slots=True)
class Element:
    """One ElementDefinition as validation uses it (the JSON names of a choice share it)."""

    path: str  # Observation.value[x]
    name: str  # value[x]
    min: int
    max: int | None  # None for *
    repeats: bool  # a JSON array: the base definition's max is not 1 (json.html#arrays)
    invariants: tuple[Invariant, ...]
    # Defined as "An absolute URI ..." (ValueSet.url, compose.include.system, and 37 others).
    absolute: bool = False
    # An XML attribute (Element.id, Extension.url) or the XHTML div: no `_name` object (id,
    # extensions) in JSON, which FHIR XML could not carry.
    bare: bool = False


@dataclass(eq=False, slots=True)
class Property:
    """A JSON property of an element: its ElementDefinition and the type of its values."""

    element: Element
    type: str  # a FHIR type: date, Quantity, Resource, BackboneElement
    kind: str  # PRIMITIVE, COMPLEX, RESOURCE or BACKBONE
    node: "Node | None" = None  # the children of a BackboneElement (or a contentReference)
    binding: RequiredBinding | None = None
    contained: bool = False  # DomainResource.contained


@dataclass(eq=False, slots=True)
class Node:
    """An element with children: the JSON properties its objects may have."""

    path: str  # Observation, Observation.referenceRange, Quantity
    invariants: tuple[Invariant, ...]
    properties: dict[str, Property] = field(default_factory=dict)
    required: list[Element] = field(default_factory=list)  # min > 0
    # value → (Observation.value[x], its JSON names: valueQuantity, valueString, ...)
    choices: dict[str, tuple[Element, tuple[str, ...]]] = field(default_factory=dict)


@cache
def type_kind(type_code: str) -> str:
    """PRIMITIVE, COMPLEX or RESOURCE for a type of the registry (KeyError for others)."""
    definition = registry().structure_definition(type_code)
    if definition is None:
        raise KeyError(type_code)
    return {"primitive-type": PRIMITIVE, "resource": RESOURCE}.get(definition["kind"], COMPLEX)


def choice_type(suffix: str) -> str:
    """The type a choice element's JSON name ends in (`valueString` → string, `valueQuantity`
    → Quantity): a primitive's code is lower case."""
    lowered = suffix[:1].lower() + suffix[1:]
    try:
        return lowered if type_kind(lowered) == PRIMITIVE else suffix
    except KeyError:
        return suffix


def _binding(element: dict, type_code: str) -> RequiredBinding | None:
    """The element's required binding to a locally expandable ValueSet, if any
    (http://hl7.org/fhir/R4/terminologies.html#required)."""
    binding = element.get("binding", {})
    if (
        binding.get("strength") != "required"
        or "valueSet" not in binding
        or type_code not in _CODED_TYPES
    ):
        return None
    allowed = expand(binding["valueSet"])
    if not allowed:
        return None
    return RequiredBinding(
        steps=tuple(element["path"].split(".")[1:]),
        element_type=type_code,
        value_set=binding["valueSet"].split("|")[0],
        allowed=allowed,
        codes=frozenset().union(*allowed.values()),
    )


def _type_profile_invariants(element: dict) -> tuple[Invariant, ...]:
    """The invariants of the data-type profiles an element's types name (SimpleQuantity's
    sqty-1, no comparator, on `Observation.referenceRange.low` and 89 others: the snapshot
    repeats it on three only)."""
    found: list[Invariant] = []
    for entry in element.get("type", ()):
        for url in entry.get("profile", ()):
            profile = registry().structure_definition(url)
            if profile is not None and profile.get("type") == entry.get("code") != "Extension":
                found += element_invariants(profile["snapshot"]["element"][0])
    return tuple(found)


def max_of(element: dict) -> int | None:
    """An ElementDefinition's `max` as a number; None for `*` (or none given): unbounded."""
    most = element.get("max", "*")
    return None if most is None or most == "*" else int(most)


def _add_element(parent: Node, element: dict, nodes: dict[str, Node]) -> None:
    """Add the JSON properties of one ElementDefinition to its parent node."""
    name = element["path"].rsplit(".", 1)[1]
    choice = name.endswith("[x]")
    codes = [type_code_of(entry, element) for entry in element.get("type", ())]
    target = element.get("contentReference", "").lstrip("#")
    # The invariants of a BackboneElement are those of its node.
    node = nodes.get(target or element["path"])
    compiled = Element(
        path=element["path"],
        name=name,
        min=element.get("min", 0),
        max=max_of(element),
        repeats=element.get("base", element).get("max", "*") != "1",
        invariants=() if node else tuple(dict.fromkeys(
            element_invariants(element) + _type_profile_invariants(element))),
        absolute=element.get("definition", "").startswith("An absolute URI"),
        bare="xmlAttr" in element.get("representation", ()) or codes == ["xhtml"],
    )
    if compiled.min > 0:
        parent.required.append(compiled)
    if node is not None:
        parent.properties[name] = Property(compiled, "BackboneElement", BACKBONE, node=node)
        return
    json_names = [choice_name(name[:-3], code) if choice else name for code in codes]
    if choice:
        parent.choices[name[:-3]] = (compiled, tuple(json_names))
    for code, json_name in zip(codes, json_names, strict=True):
        parent.properties[json_name] = Property(
            compiled,
            code,
            type_kind(code),
            binding=_binding(element, code),
            contained=element.get("base", {}).get("path") == "DomainResource.contained",
        )


def _compile(definition: dict) -> Node:
    # Slices (ids with ':') belong to profiles; the base definitions have none.
    elements = [e for e in definition["snapshot"]["element"] if ":" not in e["id"]]
    parents = {e["path"].rsplit(".", 1)[0] for e in elements[1:]}
    nodes = {
        e["path"]: Node(e["path"], element_invariants(e))
        for e in elements
        if e["path"] in parents or e is elements[0]
    }
    for element in elements[1:]:
        parent = nodes[element["path"].rsplit(".", 1)[0]]
        _add_element(parent, element, nodes)
    return nodes[elements[0]["path"]]


@cache
def definition_tree(type_code: str) -> Node:
    """The compiled tree of a type's StructureDefinition (KeyError for a type the registry
    does not define); the `value` of a primitive type is its JSON value itself, so its tree
    keeps id and extension, what the `_element` object may hold (json.html#primitive)."""
    definition = registry().structure_definition(type_code)
    if definition is None or "snapshot" not in definition:
        raise KeyError(type_code)
    tree = _compile(definition)
    if definition["kind"] == "primitive-type":
        tree.properties.pop("value", None)
        tree.required = [e for e in tree.required if e.name != "value"]
    return tree
