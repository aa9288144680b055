"""Composite search parameters (http://hl7.org/fhir/R4/search.html#composite): values like
`code$value` match when one element (one Observation.component, one Group.characteristic)
has all of them. Entries are one object per such element, `{"c0": [...], "c1": [...]}`: the
entries each component's own type module makes, so `$elemMatch` applies every component's
own comparison (token keys, quantity and date ranges, ...) to the same element."""

from dataclasses import replace
from functools import cache

from fhir_server.conformance.search_parameters import SearchParameter
from fhir_server.search.fhirpath import compile_path
from fhir_server.search.types import Criterion, date, number, quantity, reference, string, token
from fhir_server.search.types import uri as uri_type
from fhir_server.search.values import split_escaped

MODIFIERS = ("missing",)
# Token entries for `:text` and `:of-type` only (see token.py).
_MODIFIER_ENTRIES = {"token": ("t:", "ot:")}
_COMPONENT_MODULES = {
    "token": token,
    "reference": reference,
    "quantity": quantity,
    "date": date,
    "number": number,
    "string": string,
    "uri": uri_type,
}


def _contexts(parameter: SearchParameter, resource_type: str) -> list[str]:
    """The element paths a composite's expression selects on this type: `Observation |
    Observation.component` is two contexts, each with the same components."""
    branches = [branch.strip() for branch in parameter.expression.split("|")]
    return [b for b in branches if b.split(".")[0] in (resource_type, "Resource")]


@cache
def _component_parameters(parameter: SearchParameter) -> tuple[SearchParameter, ...]:
    return tuple(
        replace(parameter, code=f"{parameter.code}.{i}", type=c.type, expression=c.expression,
                components=())
        for i, c in enumerate(parameter.components)
    )


def index(parameter: SearchParameter, resource_type: str, resource: dict) -> list[dict]:
    entries = []
    for context in _contexts(parameter, resource_type):
        components = [
            (c.type, c.expression, compile_path(c.expression, context))
            for c in parameter.components
        ]
        for node in compile_path(context, resource_type)(resource):
            parts = [_component_entries(kind, expression, extract(node.value, resource))
                     for kind, expression, extract in components]
            if all(parts):
                entries.append({f"c{i}": _searched(kind, part)
                                for i, ((kind, _, _), part) in enumerate(zip(components, parts,
                                                                             strict=True))})
    return entries


def _component_entries(kind: str, expression: str, nodes: list) -> list:
    if kind == "quantity":
        return quantity.index(nodes, quantity.takes_ranges(expression))
    return _COMPONENT_MODULES[kind].index(nodes) if kind in _COMPONENT_MODULES else []


def _searched(kind: str, entries: list) -> list:
    """A component's entries less those only a modifier looks for: a composite takes none."""
    prefixes = _MODIFIER_ENTRIES.get(kind)
    if prefixes is None:
        return entries
    return [entry for entry in entries if not entry.startswith(prefixes)]


def index_key(field: str) -> list[tuple[str, int | str]]:
    return [(f"{field}.c0", 1)]


def compile_value(criterion: Criterion, value: str) -> dict:
    components = _component_parameters(criterion.parameter)
    values = split_escaped(value, "$", keep_escapes=True)  # each component unescapes its own
    if len(values) != len(components):
        raise ValueError(f"expected {len(components)} values joined by '$'")
    conditions = []
    for position, (component, text) in enumerate(zip(components, values, strict=True)):
        if component.type not in _COMPONENT_MODULES:
            raise ValueError(f"composite components of type {component.type} are not supported")
        part = Criterion(f"c{position}", component, None, criterion.base_url)
        conditions.append(_COMPONENT_MODULES[component.type].compile_value(part, text))
    return {criterion.field: {"$elemMatch": {"$and": conditions}}}
