"""Operation input (http://hl7.org/fhir/R4/operations.html#request): a query string, or a
`Parameters` resource POSTed, read as the same (name, value) pairs."""

import functools
from collections.abc import Collection, Mapping

from fhir_server.conformance.primitives import is_digits
from fhir_server.conformance.structure import definition_tree
from fhir_server.errors import BadRequest

# Parameters.parameter.value[x] of the primitive types an operation's input is given in.
_STRING_VALUES = (
    "valueString", "valueCode", "valueUri", "valueUrl", "valueCanonical", "valueId",
    "valueInstant", "valueDateTime", "valueDate", "valueTime", "valueOid", "valueUuid",
    "valueMarkdown",
)
_OTHER_VALUES = ("valueBoolean", "valueInteger", "valuePositiveInt", "valueUnsignedInt",
                 "valueDecimal")


def check_parameters_shape(body: object) -> None:
    """400 unless a `Parameters` body's `parameter` (and every `part`) is an array of objects
    each with a string `name`: what every operation reads it as (R4 parameters.html)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return
    _check_elements(body, _PARAMETERS_ELEMENTS, "Parameters")
    stack: list[tuple[str, object]] = [("Parameters.parameter", body.get("parameter", []))]
    while stack:
        where, items = stack.pop()
        if not isinstance(items, list):
            raise BadRequest(f"{where} must be an array of parameters", expression=where)
        for index, item in enumerate(items):
            place = f"{where}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise BadRequest(f"{place} must be an object with a name", expression=place)
            _check_elements(item, _PARAMETER_ELEMENTS, place)
            held = [key for key in item if key in ("resource", "part") or _is_value(key)]
            if len(held) > 1:
                raise BadRequest(f"{place} has {' and '.join(held)}: a parameter has one and "
                                 "only one of value[x], resource and part (inv-1)",
                                 expression=place)
            if "part" in item:
                stack.append((f"{place}.part", item["part"]))


_PARAMETERS_ELEMENTS = frozenset({"resourceType", "id", "meta", "implicitRules", "language",
                                  "parameter"})
_PARAMETER_ELEMENTS = frozenset({"id", "extension", "modifierExtension", "name", "resource",
                                 "part"})


def _is_value(key: str) -> bool:
    """Whether `key` is one of R4's Parameters.parameter.value[x]: `valueBackboneElement`
    is not (a value no data type describes is given as parts)."""
    return key in _value_names()


@functools.cache
def _value_names() -> frozenset[str]:
    parameter = definition_tree("Parameters").properties["parameter"].node
    assert parameter is not None, "Parameters.parameter is a BackboneElement"
    return frozenset(parameter.choices["value"][1])


def _check_elements(element: dict, known: frozenset[str], where: str) -> None:
    """400 for an element R4 does not define there (a primitive's `_name` companion aside)."""
    for key in element:
        if key not in known and not _is_value(key) and not (
                key.startswith("_") and (key[1:] in known or _is_value(key[1:]))):
            hint = (": a type Parameters.parameter.value[x] does not take (R4); give a value "
                    "no data type describes as parts") if key[:5] == "value" else ""
            raise BadRequest(f"Unknown element '{key}' in {where}{hint}",
                             expression=f"{where}.{key}")


def parameter_pairs(body: object, operation: str, resources: tuple[str, ...] = (),
                    declared: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The (name, value) pairs of a `Parameters` body, as if given in a query string:
    references as their `reference`, other primitives as their JSON string form; the
    resource-valued parameters named in `resources` left out (see `resource_parameter`). A
    parameter of a primitive type `declared` (name → type, from its OperationDefinition) must
    come as that type's value[x]: `start` (a date) as valueInteger is 400."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest(f"The body of a POST {operation} must be a Parameters resource")
    pairs = []
    for index, parameter in enumerate(body.get("parameter") or []):
        where = f"Parameters.parameter[{index}]"
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{where} has no name", expression=where)
        if name in resources:
            continue
        _check_declared_type(parameter, name, (declared or {}).get(name), where)
        value = next((parameter[k] for k in _STRING_VALUES if k in parameter), None)
        if value is None:
            other = next((parameter[k] for k in _OTHER_VALUES if k in parameter), None)
            value = str(other).lower() if isinstance(other, bool) else other
            value = None if value is None else str(value)
        if value is None and isinstance(parameter.get("valueReference"), dict):
            value = parameter["valueReference"].get("reference")
        if not isinstance(value, str):
            raise BadRequest(
                f"{where} ({name}) needs a primitive value or a valueReference",
                expression=where,
            )
        pairs.append((name, value))
    return pairs


# Primitive types whose values stand for each other's: a type and those it specialises or
# that specialise it (R4 datatypes.html: `canonical` is a `uri`, `code` a `string`), read
# from the same JSON kind. A client sending `profile` as valueCanonical (R5's type) or `url`
# as valueString means the same value.
_KINDRED_TYPES = (
    frozenset({"string", "code", "id", "markdown", "uri", "url", "canonical", "oid", "uuid"}),
    frozenset({"integer", "positiveInt", "unsignedInt", "decimal"}),
    frozenset({"date", "dateTime", "instant"}),
)


def _value_key(type_name: str) -> str:
    return f"value{type_name[:1].upper()}{type_name[1:]}"


def _check_declared_type(parameter: dict, name: str, declared: str | None, where: str) -> None:
    # Parts or a resource for a primitive are as wrong as another value[x] (inv-1: one).
    given = next((key for key in parameter if _is_value(key) or key in ("part", "resource")),
                 None)
    if not declared or not given:
        return
    kindred = next((family for family in _KINDRED_TYPES if declared in family), {declared})
    if given not in {_value_key(type_name) for type_name in kindred}:
        article = "an" if declared[:1] in "aeiouAEIOU" else "a"
        raise BadRequest(f"{where} ({name}) is {article} {declared}: it takes "
                         f"{_value_key(declared)}, not {given}", expression=where)


def refuse_repeated(pairs: list[tuple[str, str]], operation: str,
                    single: Collection[str]) -> None:
    """400 for a parameter its OperationDefinition allows once (`max` 1) given again, in the
    URL, in a POSTed `Parameters` or in both: answering with one would leave the other
    unread."""
    seen: set[str] = set()
    for name, _ in pairs:
        if name in single and name in seen:
            raise BadRequest(f"{operation} takes one {name}", expression=name)
        seen.add(name)


def positive_integer(value: str, name: str) -> int:
    """An operation's count-like parameter (`_count`, `max`); 400 unless a positive integer."""
    if not is_digits(value) or int(value) == 0:
        raise BadRequest(f"{name} must be a positive integer, not '{value}'", expression=name)
    return int(value)


def resource_parameter(body: dict, name: str, operation: str) -> dict | None:
    """The resource of a `Parameters` body's one parameter `name` (`parameter.resource`)."""
    found = [(index, parameter) for index, parameter in enumerate(body.get("parameter") or [])
             if isinstance(parameter, dict) and parameter.get("name") == name]
    if not found:
        return None
    index, parameter = found[-1]
    if len(found) > 1 or not isinstance(parameter.get("resource"), dict):
        where = f"Parameters.parameter[{index}]"
        raise BadRequest(f"{where}: {operation} takes one {name}, in parameter.resource",
                         expression=where)
    return parameter["resource"]
