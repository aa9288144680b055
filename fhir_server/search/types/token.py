"""Token search parameters (http://hl7.org/fhir/R4/search.html#token).

Entries are strings in one `search.<code>` array so that every form is one index lookup:
`c:<code>`, `s:<system>`, `sc:<system>|<code>`, `n:<code>` (code without a system),
`t:<folded text>` (for `:text`) and `ot:<type system>|<type code>|<value>` (`:of-type`).
"""

import re

from fhir_server.conformance.terminology import expand
from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion
from fhir_server.search.types.string import fold
from fhir_server.search.values import split_escaped

MODIFIERS = ("text", "not", "of-type", "in", "not-in", "missing")
NEGATING = frozenset({"not", "not-in"})


def code_keys(system: object, code: object) -> list[str]:
    if not isinstance(code, str) or not code:
        return [f"s:{system}"] if isinstance(system, str) and system else []
    if isinstance(system, str) and system:
        return [f"c:{code}", f"s:{system}", f"sc:{system}|{code}"]
    return [f"c:{code}", f"n:{code}"]


def _text_keys(*texts: object) -> list[str]:
    return [f"t:{fold(text)}" for text in texts if isinstance(text, str) and text.strip()]


def _coding_keys(coding: object) -> list[str]:
    if not isinstance(coding, dict):
        return []
    return code_keys(coding.get("system"), coding.get("code")) + _text_keys(coding.get("display"))


def _concept_keys(concept: dict) -> list[str]:
    keys = _text_keys(concept.get("text"))
    for coding in concept.get("coding") or []:
        keys += _coding_keys(coding)
    return keys


def _identifier_keys(identifier: dict) -> list[str]:
    value = identifier.get("value")
    keys = code_keys(identifier.get("system"), value)
    kind = identifier.get("type")
    if isinstance(kind, dict):
        keys += _text_keys(kind.get("text"))
        for coding in kind.get("coding") or []:
            if isinstance(coding, dict) and isinstance(value, str):
                keys.append(f"ot:{coding.get('system') or ''}|{coding.get('code') or ''}|{value}")
    return keys


def _shape(node: Node) -> str | None:
    """The type of a value the expression could not type, from its JSON shape."""
    value = node.value
    if node.type or not isinstance(value, dict):
        return node.type
    if "coding" in value or "text" in value:
        return "CodeableConcept"
    return "Coding" if "code" in value else "Identifier"


def node_keys(node: Node) -> list[str]:
    value, kind = node.value, _shape(node)
    if isinstance(value, bool):
        return code_keys(None, "true" if value else "false")
    if isinstance(value, str):
        return code_keys(None, value)
    if not isinstance(value, dict):
        return []
    if kind == "CodeableConcept":
        return _concept_keys(value)
    if kind == "Identifier":
        return _identifier_keys(value)
    if kind == "ContactPoint":
        return code_keys(value.get("system"), value.get("value"))
    return _coding_keys(value)


def index(nodes: list[Node]) -> list[str]:
    return sorted({key for node in nodes for key in node_keys(node)})


def sort_range(entries: list[str]) -> tuple[str, str] | None:
    """The values `_sort` orders by, ascending and descending."""
    values = [entry[2:] for entry in entries if entry.startswith("c:")]
    return (min(values), max(values)) if values else None


def value_key(value: str) -> str:
    """The entry a `[system|]code` search value must find."""
    parts = split_escaped(value, "|", 1)
    if len(parts) == 1:
        return f"c:{parts[0]}"
    system, code = parts
    if not code:
        if not system:
            raise ValueError("'|' alone names neither a system nor a code")
        return f"s:{system}"
    return f"sc:{system}|{code}" if system else f"n:{code}"


def _value_set_keys(url: str) -> list[str]:
    expansion = expand(url)
    if expansion is None:
        raise ValueError(f"ValueSet '{url}' is not known to this server or cannot be expanded")
    keys = []
    for system, codes in expansion.items():
        keys += [f"sc:{system}|{code}" for code in codes] + [f"n:{code}" for code in codes]
    return sorted(keys)


def compile_value(criterion: Criterion, value: str) -> dict:
    field, modifier = criterion.field, criterion.modifier
    if modifier == "text":
        return {field: {"$regex": "^t:" + re.escape(fold(value))}}
    if modifier == "of-type":
        if len(split_escaped(value, "|")) != 3:
            raise ValueError("':of-type' takes type-system|type-code|value")
        return {field: "ot:" + "|".join(split_escaped(value, "|"))}
    if modifier in ("in", "not-in"):
        keys = _value_set_keys(value)
        return {field: {"$in" if modifier == "in" else "$nin": keys}}
    key = value_key(value)
    return {field: {"$ne": key}} if modifier == "not" else {field: key}
