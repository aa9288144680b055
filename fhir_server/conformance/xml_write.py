"""FHIR JSON to FHIR XML (http://hl7.org/fhir/R4/xml.html), driven by the StructureDefinitions
of the registry: elements in the order of the definition, `id`/`url`/`value` as attributes,
`x` and `_x` merged into one element, resources wrapped by the element that holds them, and
the narrative `div` written exactly as its JSON string."""

from collections.abc import Collection

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.narrative import xhtml_problem
from fhir_server.conformance.structure import BACKBONE, PRIMITIVE, RESOURCE, Node, Property
from fhir_server.conformance.structure import definition_tree as _tree
from fhir_server.conformance.xml_rules import (
    FHIR_NS,
    element_order,
    is_xhtml,
    xml_attributes,
    xml_value,
)
from fhir_server.errors import InvalidResource


def resource_to_xml(resource: dict, pretty: bool = False) -> bytes:
    """The FHIR XML of a FHIR JSON resource, UTF-8 (http://hl7.org/fhir/R4/xml.html);
    InvalidResource, naming the element, for what FHIR XML cannot carry (an unknown element,
    a value of the wrong JSON type, a div that is not well-formed XHTML)."""
    writer = _Writer(pretty)
    writer.resource(resource, "", 0)
    return "".join(writer.parts).encode("utf-8")


def _invalid(message: str, location: str) -> InvalidResource:
    return InvalidResource(message, expression=location)


class _Writer:
    def __init__(self, pretty: bool):
        self.parts: list[str] = []
        self.pretty = pretty

    def _margin(self, depth: int) -> str:
        return "\n" + "  " * depth if self.pretty and depth else ""

    def resource(self, resource: object, location: str, depth: int) -> None:
        """A resource element; the root one declares the FHIR namespace."""
        resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(resource, dict) or resource_type not in registry().resource_types:
            where = location or "The body"
            raise _invalid(f"{where} is not a resource of a known type", location)
        location = location or str(resource_type)
        margin = self._margin(depth)
        namespace = "" if depth else f' xmlns="{FHIR_NS}"'
        self.parts.append(f"{margin}<{resource_type}{namespace}>")
        self.children(resource, _tree(str(resource_type)), location, depth + 1, ("resourceType",))
        # the root's end tag on a line of its own too, as each element's below it
        closing = margin or ("\n" if self.pretty else "")
        self.parts.append(f"{closing}</{resource_type}>")

    def element(
        self,
        name: str,
        content: object,
        node: Node,
        location: str,
        depth: int,
        value: str | None = None,
    ) -> None:
        """An element with the attributes of its definition, a primitive's `value`, and
        its children; `<x/>` when it has none."""
        if content is not None and not isinstance(content, dict):
            raise _invalid(f"{location} must be a JSON object", location)
        attributes = xml_attributes(node)
        text = ""
        for attribute in attributes:
            if content and attribute in content:
                prop = node.properties[attribute]
                written = xml_value(content[attribute], prop.type, f"{location}.{attribute}")
                text += f' {attribute}="{written}"'
        if value is not None:
            text += f' value="{value}"'
        margin = self._margin(depth)
        first = len(self.parts)
        self.parts.append(f"{margin}<{name}{text}>")
        if content:
            self.children(content, node, location, depth + 1, attributes)
        if len(self.parts) == first + 1:
            self.parts[first] = f"{margin}<{name}{text}/>"
        else:
            self.parts.append(f"{margin}</{name}>")

    def children(
        self, content: dict, node: Node, location: str, depth: int, skip: Collection[str]
    ) -> None:
        """The child elements of an object, in the order of the definition."""
        properties = node.properties
        names = set()
        for key in content:
            if key in skip:
                continue
            name = key[1:] if key.startswith("_") else key
            prop = properties.get(name)
            if prop is None or name in skip or (name != key and prop.kind != PRIMITIVE):
                raise _invalid(f"Unknown element {key!r} in {location}", f"{location}.{key}")
            names.add(name)
        for name in sorted(names, key=element_order(node).__getitem__):
            prop = properties[name]
            if prop.kind == PRIMITIVE:
                self.primitives(content, name, prop, location, depth)
                continue
            for item_location, item in _items(content[name], prop, f"{location}.{name}"):
                if prop.kind == RESOURCE:
                    margin = self._margin(depth)
                    self.parts.append(f"{margin}<{name}>")
                    self.resource(item, item_location, depth + 1)
                    self.parts.append(f"{margin}</{name}>")
                else:
                    child = prop.node if prop.kind == BACKBONE and prop.node else _tree(prop.type)
                    self.element(name, item, child, item_location, depth)

    def primitives(
        self, content: dict, name: str, prop: Property, location: str, depth: int
    ) -> None:
        """`x` and `_x` as one element each (http://hl7.org/fhir/R4/json.html#primitive)."""
        values, extras = content.get(name), content.get("_" + name)
        location = f"{location}.{name}"
        if not prop.element.repeats:
            self.primitive(name, prop, values, extras, location, depth)
            return
        for array in (values, extras):
            if array is not None and not isinstance(array, list):
                raise _invalid(f"{location} must be an array", location)
        count = len(values) if values is not None else len(extras or ())
        if values is not None and extras is not None and len(extras) != count:
            raise _invalid(f"{location} and its _{name} differ in length", location)
        for index in range(count):
            self.primitive(
                name,
                prop,
                None if values is None else values[index],
                None if extras is None else extras[index],
                f"{location}[{index}]",
                depth,
            )

    def primitive(
        self, name: str, prop: Property, value: object, extra: object, location: str, depth: int
    ) -> None:
        if is_xhtml(prop.type):
            if not isinstance(value, str) or extra is not None:
                raise _invalid(f"{location} must be an XHTML string", location)
            if (problem := xhtml_problem(value, location)) is not None:
                raise _invalid(str(problem), location)
            self.parts.append(self._margin(depth) + value)
            return
        if value is None and extra is None:
            raise _invalid(f"{location} has neither a value nor extensions", location)
        written = None if value is None else xml_value(value, prop.type, location)
        self.element(name, extra, _tree(prop.type), location, depth, written)


def _items(value: object, prop: Property, location: str) -> list[tuple[str, object]]:
    """The values of a property with their locations: an array exactly where it repeats."""
    if not prop.element.repeats:
        if isinstance(value, list):
            raise _invalid(f"{location} must not be an array", location)
        return [(location, value)]
    if not isinstance(value, list):
        raise _invalid(f"{location} must be an array", location)
    return [(f"{location}[{index}]", item) for index, item in enumerate(value)]
