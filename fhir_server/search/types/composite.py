"""Composite search parameters (http://hl7.org/fhir/R4/search.html#composite): values like
`code$value` match when one element (e.g. one Group.characteristic) has both. Entries are
the component entries of each element joined with `$`."""

import itertools

from fhir_server.conformance.search_parameters import SearchParameter
from fhir_server.search.fhirpath import Node, compile_path
from fhir_server.search.types import Criterion, reference, token
from fhir_server.search.values import split_escaped

MODIFIERS = ("missing",)


def _component_keys(kind: str, nodes: list[Node]) -> list[str]:
    if kind == "token":
        return token.index(nodes)
    if kind == "reference":
        return reference.index(nodes)
    return []


def index(parameter: SearchParameter, nodes: list[Node]) -> list[str]:
    entries: set[str] = set()
    for node in nodes:
        parts = [
            _component_keys(
                component.type,
                compile_path(component.expression, parameter.expression)(node.value),
            )
            for component in parameter.components
        ]
        entries |= {"$".join(keys) for keys in itertools.product(*parts)}
    return sorted(entries)


def _value_keys(kind: str, criterion: Criterion, value: str) -> list[str]:
    if kind == "token":
        return [token.value_key(value)]
    if kind == "reference":
        return reference.references_to(criterion, value)
    raise ValueError(f"composite components of type {kind} are not supported")


def compile_value(criterion: Criterion, value: str) -> dict:
    components = criterion.parameter.components
    values = split_escaped(value, "$")
    if len(values) != len(components):
        raise ValueError(f"expected {len(components)} values joined by '$'")
    keys = [_value_keys(c.type, criterion, v) for c, v in zip(components, values, strict=True)]
    return {criterion.field: {"$in": ["$".join(p) for p in itertools.product(*keys)]}}
