"""What the validation tests share: a resource's issues as validate_resource refuses it."""

import pytest

from fhir_server.conformance.validation import validate_resource
from fhir_server.errors import InvalidResource, Issue

OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "Hb"}}
EXTENSION = "http://example.org/fhir/StructureDefinition/x"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"


def issues_of(resource: dict) -> list[Issue]:
    """The issues of a resource validate_resource refuses (it must refuse it)."""
    with pytest.raises(InvalidResource) as raised:
        validate_resource(resource)
    return raised.value.issues


def found_of(resource: dict) -> set[tuple[str, str]]:
    """(code, expression) of every issue."""
    return {(issue.code, issue.expression[0]) for issue in issues_of(resource)}
