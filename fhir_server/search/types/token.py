"""Token search parameters (http://hl7.org/fhir/R4/search.html#token).

Entries are strings in one `search.<code>` array so that every form is one index lookup:
`c:<code>`, `sc:<system>|<code>`, `s:<system>` (a system without a code), `n:<code>` (code
without a system), `t:<folded text>` (for `:text`) and `ot:<type system>|<type code>|<value>`
(`:of-type`). `system|` finds `s:<system>` and, by an anchored prefix (an index range), every
`sc:<system>|...`: no entry per coding for its system alone.
"""

import re
from collections.abc import Mapping

from fhir_server.conformance.code_systems import code_system, per_registry
from fhir_server.conformance.expansion import expand_resource, expansion
from fhir_server.conformance.held_terminology import held_code_system
from fhir_server.conformance.identifier_systems import canonical_system, equivalent_identifiers
from fhir_server.conformance.search_parameters import SearchParameter
from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion
from fhir_server.search.types.string import fold, folded_search_text
from fhir_server.search.values import split_escaped, unescape

MODIFIERS = ("text", "not", "of-type", "in", "not-in", "above", "below", "missing")
NEGATING = frozenset({"not", "not-in"})


def code_keys(system: object, code: object) -> list[str]:
    # Identifier systems are indexed by their canonical URI, so any alias finds them.
    system = canonical_system(system) if isinstance(system, str) else system
    if not isinstance(code, str) or not code:
        return [f"s:{system}"] if isinstance(system, str) and system else []
    if isinstance(system, str) and system:
        same = [(system, code), *equivalent_identifiers(system, code)]
        return list(dict.fromkeys(key for other, value in same
                                  for key in (f"c:{value}", f"sc:{other}|{value}")))
    return [f"c:{code}", f"n:{code}"]


def codes(entries: list[str]) -> list[str]:
    """The codes a token parameter's entries hold (those `code_keys` made)."""
    return [entry[2:] for entry in entries if entry.startswith("c:")]


def _text_keys(*texts: object) -> list[str]:
    return [f"t:{fold(text)}" for text in texts if isinstance(text, str) and text.strip()]


def written_by_system(system: str, code: str) -> str | None:
    """The code as a code system held here writes it, when `code` differs from it by case
    alone and the system does not say its codes are case sensitive: search.html#token,
    "Match is case sensitive unless the underlying semantics for the context indicate that
    the token should be interpreted case-insensitively (see, e.g. CodeSystem.caseSensitive)",
    whose absence means "accept codes in any case" (v2 tables: `lab` is v2-0074's `LAB`)."""
    held = code_system(system)
    if held is None or code in held.concepts or held.resource.get("caseSensitive") is True:
        return None
    concept = held.find(code)
    return None if concept is None else concept.code


def _coding_keys(coding: object) -> list[str]:
    if not isinstance(coding, dict):
        return []
    parts = coding.get("system"), coding.get("code"), coding.get("display")
    if all(part is None or isinstance(part, str) for part in parts):
        # The same few codings come again and again (an AuditEvent's type, action and
        # roles; a lab's codes): their keys took a fifth of indexing an AuditEvent.
        return list(_string_coding_keys(*parts))
    return _keys_of_coding(*parts)


def _keys_of_coding(system: object, code: object, display: object) -> list[str]:
    keys = code_keys(system, code) + _text_keys(display)
    if isinstance(system, str) and isinstance(code, str) and (
            written := written_by_system(system, code)):
        keys.append(f"sc:{system}|{written}")  # found as the code system writes it
    return keys


_string_coding_keys = per_registry(_keys_of_coding)


def _concept_keys(concept: dict) -> list[str]:
    keys = _text_keys(concept.get("text"))
    for coding in concept.get("coding") or []:
        keys += _coding_keys(coding)
    return keys


def _identifier_keys(identifier: dict) -> list[str]:
    system, value = identifier.get("system"), identifier.get("value")
    keys = code_keys(system, value)
    kind = identifier.get("type")
    if isinstance(kind, dict):
        keys += _text_keys(kind.get("text"))
        values = [value] if isinstance(value, str) else []
        if isinstance(value, str) and isinstance(system, str):
            # A BHYT card is also of its type by its holder's code.
            values += [other for _, other in equivalent_identifiers(canonical_system(system),
                                                                     value)]
        for coding in kind.get("coding") or []:
            if isinstance(coding, dict):
                keys += [f"ot:{coding.get('system') or ''}|{coding.get('code') or ''}|{each}"
                         for each in dict.fromkeys(values)]
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
    if isinstance(value, int):
        # An integer the expression selects: the extensions pack's Patient
        # `birthOrderBoolean` over `Patient.multipleBirth[x]`, a boolean or the birth order.
        return code_keys(None, str(value))
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
    values = codes(entries)
    return (min(values), max(values)) if values else None


def value_keys(value: str, prefix: str = "") -> list[str | re.Pattern]:
    """The entries (after `prefix`) a `[system|]code` search value finds, any one of them."""
    parts = split_escaped(value, "|", 1)
    if len(parts) == 1:
        return [f"{prefix}c:{parts[0]}"]
    system, code = canonical_system(parts[0]), parts[1]
    if not code:
        if not system:
            raise ValueError("'|' alone names neither a system nor a code")
        return [f"{prefix}s:{system}", re.compile(f"^{re.escape(f'{prefix}sc:{system}|')}")]
    if not system:
        return [f"{prefix}n:{code}"]
    # A BHYT card finds the records of its holder's code in that system too
    # (`equivalent_identifiers`).
    same = [(system, code), *((other, value) for other, value
                              in equivalent_identifiers(system, code) if other == system)]
    if written := written_by_system(system, code):  # a coding of it in any case
        same.append((system, written))
    return [f"{prefix}sc:{other}|{value}" for other, value in same]


def matching(field: str, keys: list[str | re.Pattern], negated: bool = False) -> dict:
    """The filter on `field` for any of `keys` (for none of them when `negated`)."""
    if len(keys) == 1:
        return {field: {"$ne": keys[0]}} if negated else {field: keys[0]}
    return {field: {"$nin" if negated else "$in": keys}}


def _value_set_keys(url: str, stored: Mapping[str, dict], bare_codes: bool) -> list[str]:
    """`:in`/`:not-in`: the codes of the ValueSet's expansion (abstract ones too), one of
    the server's definitions or else one stored through the API; with `bare_codes`, also
    each code without a system."""
    result = expand_resource(stored[url]) if url in stored else expansion(url)
    concepts = result.concepts
    if concepts is None:
        raise ValueError(f"ValueSet '{url}' cannot be expanded here: {result.reason}")
    keys = []
    for concept in concepts:
        keys += [f"sc:{concept.system}|{concept.code}"]
        if bare_codes:
            keys.append(f"n:{concept.code}")
    return sorted(set(keys))


def _subsumed_keys(value: str, modifier: str) -> list[str]:
    """`:below` (the code and its descendants) or `:above` (the code and its ancestors) in
    the hierarchy of a code system the server holds, or one stored through the API that the
    request uses (http://hl7.org/fhir/R4/search.html#token)."""
    parts = split_escaped(value, "|", 1)
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"':{modifier}' takes system|code (or, on a MIME type, the type)")
    system, code = parts
    index = held_code_system(system)
    if index is None:
        raise ValueError(f"the code system {system} is not known to this server")
    if (refusal := index.refused_as_system()) is not None:
        raise ValueError(refusal)
    code = concept.code if (concept := index.find(code)) is not None else code
    if code not in index.concepts:
        if index.content != "complete":  # SNOMED CT, LOINC, ...: held without their codes
            raise ValueError(f"':{modifier}' cannot be answered here: the code system {system} "
                             f"is held with content '{index.content}', without its hierarchy")
        raise ValueError(f"'{code}' is not a code of {system}")
    related = index.descendants(code) if modifier == "below" else index.ancestors(code)
    return sorted(f"sc:{system}|{c}" for c in related | {code})


def is_mime_type(parameter: SearchParameter) -> bool:
    """Whether a parameter searches MIME types: R4's `Attachment.contentType` and
    `Binary.contentType`, codes of BCP 13."""
    return parameter.expression.endswith(".contentType")


def _mime_types_below(value: str) -> str:
    """`contenttype:below=text/xml` (search.html#mimetypes): that type with any parameters
    (`text/xml; charset=UTF-8`); `text` (or `text/`): every text type. An anchored prefix,
    which the parameter's index serves."""
    kind = value.rstrip("/")
    if "/" in kind:
        return "^c:" + re.escape(kind) + r"(\s*;|$)"
    return "^c:" + re.escape(kind) + "/"


def compile_value(criterion: Criterion, value: str) -> dict:
    field, modifier = criterion.field, criterion.modifier
    if modifier == "text":
        return {field: {"$regex": "^t:" + re.escape(folded_search_text(value))}}
    if modifier == "of-type":
        parts = split_escaped(value, "|")
        # "All 3 parts must be present" (search.html#token); a type coding without a system
        # is searched by an empty one (`|MR|value`), but a type needs its code and the
        # identifier its value: `MR|` named none and found nothing.
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise ValueError("':of-type' takes type-system|type-code|value, the type's code "
                             "and the value both given")
        return {field: "ot:" + "|".join(parts)}
    if modifier in ("in", "not-in"):
        keys = _value_set_keys(unescape(value), criterion.value_sets, criterion.bare_codes)
        return {field: {"$in" if modifier == "in" else "$nin": keys}}
    if modifier == "below" and is_mime_type(criterion.parameter) and "|" not in value:
        return {field: {"$regex": _mime_types_below(unescape(value))}}
    if modifier in ("above", "below"):
        return {field: {"$in": _subsumed_keys(value, modifier)}}
    return matching(field, value_keys(value), negated=modifier == "not")
