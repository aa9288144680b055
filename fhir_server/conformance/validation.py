"""Validation of resource bodies before they are stored: the R4 structure (`fhir.resources`
R4B models) and the required bindings of the base StructureDefinitions
(http://hl7.org/fhir/R4/validation.html, http://hl7.org/fhir/R4/terminologies.html#required)."""

import re

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_server.conformance.terminology import required_bindings
from fhir_server.errors import InvalidResource, Issue

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def _expression(resource_type: str, location: tuple) -> str:
    path = resource_type
    for step in location:
        path += f"[{step}]" if isinstance(step, int) else f".{step}"
    return path


def _structure_issues(resource: dict) -> list[Issue]:
    resource_type = resource["resourceType"]
    try:
        get_fhir_model_class(resource_type).model_validate(resource)
    except ValidationError as failure:
        issues = []
        for error in failure.errors():
            location = tuple(step for step in error["loc"] if step != "__root__")
            expression = _expression(resource_type, location)
            if error["type"] == "extra_forbidden":
                code, message = "structure", f"Unknown element '{location[-1]}' at {expression}"
            elif error["type"] == "missing" or "is required" in error["msg"]:
                code, message = "required", f"Missing required element {expression}"
            else:
                shown = repr(error.get("input"))
                value = f" (value {shown})" if len(shown) <= 80 else ""
                code, message = "value", f"{expression}: {error['msg']}{value}"
            issues.append(Issue(message, code, expression=(expression,)))
        return issues
    return []


def _values_at(node: object, steps: list[str], path: str):
    """(FHIRPath-like location, value) pairs at a StructureDefinition path in an instance."""
    if not steps:
        yield path, node
        return
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _values_at(item, steps, f"{path}[{index}]")
        return
    if isinstance(node, dict) and steps[0] in node:
        yield from _values_at(node[steps[0]], steps[1:], f"{path}.{steps[0]}")


def _binding_issues(resource: dict) -> list[Issue]:
    resource_type = resource["resourceType"]
    issues = []
    for binding in required_bindings(resource_type):
        for location, value in _values_at(resource, binding.steps, resource_type):
            if isinstance(value, list):
                pairs = [(f"{location}[{i}]", v) for i, v in enumerate(value)]
            else:
                pairs = [(location, value)]
            for where, item in pairs:
                for problem in binding.problems(item):
                    issues.append(Issue(f"{where}: {problem}", "code-invalid", expression=(where,)))
    return issues


def validate_resource(resource: dict) -> None:
    """Raise InvalidResource listing every problem of `resource`; return if it is valid."""
    resource_type = resource.get("resourceType")
    issues = []
    if "id" in resource and not (isinstance(resource["id"], str) and _ID.fullmatch(resource["id"])):
        issues.append(
            Issue(
                f"Invalid id {resource['id']!r}: 1-64 of A-Z a-z 0-9 - .",
                "value",
                expression=(f"{resource_type}.id",),
            )
        )
    issues += _structure_issues(resource)
    issues += _binding_issues(resource)
    if issues:
        raise InvalidResource(issues[0].diagnostics, issues=issues)
