"""The rules a profile puts on one value (http://hl7.org/fhir/R4/elementdefinition.html):
fixed[x] (exactly that value), pattern[x] (at least what the pattern has), maxLength,
minValue[x]/maxValue[x], the types of a choice, the target types of a Reference
(http://hl7.org/fhir/R4/references.html), and membership of a value in a value set, which
slicing uses too."""

import re
from collections.abc import Iterator
from decimal import Decimal

from fhir_server.conformance import json_format
from fhir_server.conformance.primitives import ID_REGEX, shown
from fhir_server.conformance.profile_bindings import binding, is_member

# A literal reference: [base/]Type/id[/_history/vid] (http://hl7.org/fhir/R4/references.html#literal).
_LITERAL = re.compile(rf"(?:^|/)([A-Z][A-Za-z]+)/{ID_REGEX}(?:/_history/[^/]+)?$")


def contains(value: object, pattern: object) -> bool:
    """Whether `value` has everything `pattern` has (elementdefinition.html#pattern): objects
    key by key, arrays when each pattern item matches some item of the value."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and contains(value[key], item) for key, item in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(contains(item, wanted) for item in items) for wanted in pattern)
    return _same(value, pattern)


def _same(value: object, expected: object) -> bool:
    """Equality of JSON primitives: a boolean is not the number 1."""
    if type(value) is type(expected) and value == expected:
        return True
    number, wanted = _number(value), _number(expected)
    return number is not None and number == wanted


def equals(value: object, fixed: object) -> bool:
    """fixed[x]: exactly the value, nothing more (elementdefinition.html#fixed)."""
    if isinstance(fixed, dict):
        return isinstance(value, dict) and value.keys() == fixed.keys() and all(
            equals(value[key], item) for key, item in fixed.items()
        )
    if isinstance(fixed, list):
        return isinstance(value, list) and len(value) == len(fixed) and all(
            equals(a, b) for a, b in zip(value, fixed, strict=True)
        )
    return _same(value, fixed)


def _coded(value: object) -> Iterator[tuple[str | None, object]]:
    """(system, code) of a code, Coding, Quantity or CodeableConcept, told by its shape."""
    if not isinstance(value, dict):
        yield None, value
    elif isinstance(value.get("coding"), list):
        for coding in value["coding"]:
            if isinstance(coding, dict):
                yield coding.get("system"), coding.get("code")
    else:
        yield value.get("system"), value.get("code")


def member_of_binding(value: object, _: str, value_set: str) -> bool:
    """Whether a value has a code of a value set that can be expanded here."""
    allowed = binding("required", value_set).allowed
    return bool(allowed) and any(
        isinstance(code, str) and (system is None or isinstance(system, str))
        and is_member(allowed, system, code)  # type: ignore[arg-type]
        for system, code in _coded(value)
    )


def shown_value(value: object) -> str:
    """A value in a message: short JSON for objects (the pattern a user must match)."""
    if isinstance(value, dict | list):
        text = json_format.dumps(value).decode()
        return text if len(text) <= 160 else text[:156] + "...}"
    return shown(value)


def length_problem(value: object, max_length: int) -> int | None:
    """The length of a string longer than maxLength, else None."""
    return len(value) if isinstance(value, str) and len(value) > max_length else None


def _comparable(value: object, type_code: str) -> object | None:
    """What minValue/maxValue compare: numbers, date/time strings (of the same precision),
    Quantity.value."""
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, str):
        return value if type_code != "Quantity" else None
    return _number(value)


def _number(value: object) -> Decimal | None:
    """A JSON number as a Decimal, so that `0.10` sent equals `0.1` in a profile."""
    return json_format.as_decimal(value) if json_format.is_number(value) else None


def out_of_range(value: object, limit: tuple[str, object], below: bool) -> bool:
    """Whether a value is below a minValue[x] (`below`) or above a maxValue[x]; values of a
    different kind or date precision are not compared."""
    type_code, bound = limit
    mine, theirs = _comparable(value, type_code), _comparable(bound, type_code)
    if mine is None or theirs is None or isinstance(mine, str) != isinstance(theirs, str):
        return False
    if isinstance(mine, str) and len(mine) != len(theirs):  # type: ignore[arg-type]
        return False
    return mine < theirs if below else mine > theirs  # type: ignore[operator]


def reference_types(reference: object, contained: dict[str, str],
                    bundled: dict[str, str]) -> tuple[str, ...]:
    """The resource types a Reference says it points to: that of its literal reference
    (`Type/id`, `#id` of a contained resource, a `urn:` naming the fullUrl of an entry of
    the Bundle validated, `bundled`), then `Reference.type` when it names another; none for
    other urn: and logical ones. Each must be a target the element allows: `type: Patient`
    beside `Group/1` does not make a Group one."""
    if not isinstance(reference, dict):
        return ()
    named = reference.get("type")
    found = _literal_type(reference.get("reference"), contained, bundled)
    return tuple(dict.fromkeys(kind for kind in (found, named) if isinstance(kind, str)))


def _literal_type(literal: object, contained: dict[str, str],
                  bundled: dict[str, str]) -> str | None:
    if not isinstance(literal, str):
        return None
    if literal.startswith("#"):
        return contained.get(literal[1:])
    if literal.startswith("urn:"):
        return bundled.get(literal)
    found = _LITERAL.search(literal)
    return found.group(1) if found else None
