"""Validation of resource bodies before they are stored: the R4 structure (`fhir.resources`
R4B models), the id rule and the required bindings of the base StructureDefinitions
(http://hl7.org/fhir/R4/validation.html, http://hl7.org/fhir/R4/terminologies.html#required)."""

import datetime
import decimal
import re
import types
import typing
import uuid
from collections.abc import Iterator
from functools import cache, lru_cache

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase
from pydantic import ValidationError

from fhir_server.conformance.terminology import required_bindings
from fhir_server.errors import InvalidResource, Issue

# http://hl7.org/fhir/R4/datatypes.html#id
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_SHOWN_VALUE_LENGTH = 60
# JSON representation of the primitive types (http://hl7.org/fhir/R4/json.html#primitive):
# the models are lax ("yes" is a boolean, "2" an integer), the JSON format is not.
_JSON_KINDS: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    decimal.Decimal: "number",
    **dict.fromkeys(
        (str, bytes, datetime.date, datetime.datetime, datetime.time, uuid.UUID), "string"
    ),
}
_JSON_TYPES = {
    "boolean": bool,
    "integer": int,
    "number": (int, float, decimal.Decimal),
    "string": str,
    "object": dict,
}


@lru_cache(maxsize=512)  # bounded: the argument comes from client input
def _model_class(resource_type: str) -> type[Resource] | None:
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    return model if issubclass(model, Resource) else None


def _expression(path: str, location: tuple) -> str:
    """FHIRPath-like location: ('name', 0, 'family') under Patient → Patient.name[0].family."""
    for step in location:
        path += f"[{step}]" if isinstance(step, int) else f".{step}"
    return path


def _error_issue(path: str, error: dict) -> Issue:
    """An Issue from one pydantic error of the structure."""
    location = error["loc"]
    expression = _expression(path, location)
    kind = error["type"]
    if kind == "extra_forbidden":
        return Issue(f"Unknown element '{location[-1]}' at {expression}", "structure",
                     expression=(expression,))
    if kind.endswith("missing"):
        return Issue(f"Missing required element {expression}", "required",
                     expression=(expression,))
    message = error["msg"].removeprefix("Value error, ")
    if not location:
        return Issue(f"{expression}: {message}", "structure", expression=(expression,))
    shown = repr(error.get("input"))
    if len(shown) <= _SHOWN_VALUE_LENGTH:
        return Issue(f"Invalid value {shown} at {expression}: {message}", "value",
                     expression=(expression,))
    return Issue(f"Invalid value at {expression}: {message}", "value", expression=(expression,))


def _id_issues(resource: dict, path: str) -> list[Issue]:
    """The id rule (http://hl7.org/fhir/R4/resource.html#id)."""
    if "id" not in resource:
        return []
    value = resource["id"]
    if isinstance(value, str) and _ID.fullmatch(value):
        return []
    shown = repr(value) if len(repr(value)) <= _SHOWN_VALUE_LENGTH else "value"
    return [
        Issue(
            f"Invalid id {shown}: an id is 1 to 64 of the characters A-Z a-z 0-9 - .",
            "value",
            expression=(f"{path}.id",),
        )
    ]


def _element_type(annotation: object) -> object:
    """The element type of a field annotation: Optional, List and Annotated unwrapped."""
    while True:
        origin = typing.get_origin(annotation)
        arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = origin in (typing.Union, types.UnionType) and len(arguments) == 1
        if not (optional or origin in (list, typing.Annotated)):
            return annotation
        annotation = arguments[0]


@cache
def _json_fields(model: type[FHIRAbstractModel]) -> dict[str, tuple[str, type | None]]:
    """JSON name → (JSON kind, model of an object) of the fields whose JSON type is checked;
    resources (contained) have their own pass."""
    fields = {}
    for name, field in model.model_fields.items():
        element = _element_type(field.annotation)
        if isinstance(element, type) and issubclass(element, FhirBase):
            child = element.get_model_klass()
            if not issubclass(child, Resource):
                fields[field.alias or name] = ("object", child)
        elif element in _JSON_KINDS:
            fields[field.alias or name] = (_JSON_KINDS[element], None)
    return fields


def _json_type_issues(node: dict, model: type[FHIRAbstractModel], path: str) -> Iterator[Issue]:
    """Values of the wrong JSON type (a string for a boolean, ...) at known elements."""
    fields = _json_fields(model)
    for key, value in node.items():
        if key not in fields:
            continue
        kind, child = fields[key]
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            where = f"{path}.{key}" if index is None else f"{path}.{key}[{index}]"
            if item is None:
                continue
            if not isinstance(item, _JSON_TYPES[kind]) or (
                isinstance(item, bool) and kind != "boolean"
            ):
                shown = repr(item) if len(repr(item)) <= _SHOWN_VALUE_LENGTH else "value"
                yield Issue(f"Invalid value {shown} at {where}: expected a JSON {kind}", "value",
                            expression=(where,))
            elif child is not None:
                yield from _json_type_issues(item, child, where)


def _structure_issues(resource: object, path: str) -> list[Issue]:
    """Structure, cardinality and primitive formats of one resource and its contained ones."""
    if not isinstance(resource, dict):
        return [Issue(f"{path} must be a JSON object", "structure", expression=(path,))]
    resource_type = resource.get("resourceType")
    model = _model_class(resource_type) if isinstance(resource_type, str) else None
    if model is None:
        return [
            Issue(f"Unknown resourceType {resource_type!r} at {path}", "structure",
                  expression=(f"{path}.resourceType",))
        ]
    id_issues = _id_issues(resource, path)
    issues = list(id_issues)
    body = resource
    contained = resource.get("contained")
    if "contained" in model.model_fields and isinstance(contained, list):
        # Each contained resource is checked on its own, so that an unknown type there
        # is one issue rather than an exception of the model.
        body = {key: value for key, value in resource.items() if key != "contained"}
        for index, item in enumerate(contained):
            issues += _structure_issues(item, f"{path}.contained[{index}]")
    try:
        model.model_validate(body)
    except ValidationError as failure:
        issues += [
            _error_issue(path, error)
            for error in failure.errors()
            if not (id_issues and error["loc"] == ("id",))
        ]
    reported = {issue.expression for issue in issues}
    issues += [
        issue for issue in _json_type_issues(body, model, path) if issue.expression not in reported
    ]
    return issues


def _values_at(node: object, steps: tuple[str, ...], path: str) -> Iterator[tuple[str, object]]:
    """(FHIRPath-like location, value) pairs at a StructureDefinition path in an instance;
    repeating elements are unrolled with their indexes."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _values_at(item, steps, f"{path}[{index}]")
    elif not steps:
        yield path, node
    elif isinstance(node, dict) and steps[0] in node:
        yield from _values_at(node[steps[0]], steps[1:], f"{path}.{steps[0]}")


def _binding_issues(resource: dict, path: str) -> list[Issue]:
    """Codes outside the required ValueSets, in the resource and its contained ones."""
    issues = []
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or _model_class(resource_type) is None:
        return issues
    for binding in required_bindings(resource_type):
        for location, value in _values_at(resource, binding.steps, path):
            issues += [
                Issue(f"{location}: {problem}", "code-invalid", expression=(location,))
                for problem in binding.problems(value)
            ]
    contained = resource.get("contained")
    if isinstance(contained, list):
        for index, item in enumerate(contained):
            if isinstance(item, dict):
                issues += _binding_issues(item, f"{path}.contained[{index}]")
    return issues


def validate_resource(resource: dict) -> None:
    """Raise InvalidResource listing every problem of `resource`; return if it is valid
    (http://hl7.org/fhir/R4/validation.html)."""
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(resource_type, str) or _model_class(resource_type) is None:
        message = f"Not a FHIR resource: unknown resourceType {resource_type!r}"
        raise InvalidResource(
            message, issues=[Issue(message, "structure", expression=("resourceType",))]
        )
    issues = _structure_issues(resource, resource_type)
    issues += _binding_issues(resource, resource_type)
    if issues:
        raise InvalidResource(issues[0].diagnostics, issues=issues)
