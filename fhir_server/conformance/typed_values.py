"""The values of given primitive types in a resource, found through its StructureDefinition
(http://hl7.org/fhir/R4/json.html): what a key means depends on the element it is in, so a
`url` may be a uri (Attachment.url) or a string is only a string (Identifier.value)."""

from collections.abc import Iterator

from fhir_server.conformance.structure import PRIMITIVE, RESOURCE, Node, definition_tree

# Where a value is: (the object or array holding it, its key or index).
Place = tuple[dict | list, str | int]


def places_of_types(resource: dict, types: frozenset[str]) -> Iterator[Place]:
    """Each string value of one of `types` (e.g. uri, url) in `resource`, contained resources
    and Bundle entries' resources included; elements the definitions do not know are skipped
    (validation reports them)."""
    root = _tree(resource)
    stack: list[tuple[dict, Node]] = [(resource, root)] if root else []
    while stack:
        value, node = stack.pop()
        for key, item in value.items():
            prop = node.properties.get(key)
            if prop is None:
                continue
            items: list[tuple[dict | list, str | int, object]] = (
                [(item, i, element) for i, element in enumerate(item)]
                if isinstance(item, list) else [(value, key, item)])
            for container, place, element in items:
                if prop.kind == PRIMITIVE:
                    if prop.type in types and isinstance(element, str):
                        yield container, place
                elif isinstance(element, dict):
                    child = _tree(element) if prop.kind == RESOURCE else (
                        prop.node or _tree({"resourceType": prop.type}))
                    if child is not None:
                        stack.append((element, child))


def _tree(value: dict) -> Node | None:
    kind = value.get("resourceType")
    try:
        return definition_tree(kind) if isinstance(kind, str) else None
    except KeyError:
        return None
