"""Every official R4 example (shared/fhir-r4/examples-all: every resource type's examples,
Bundles whose entries are validated as their own types) passes validate_resource and is
left unchanged; the few the specification itself makes invalid are listed with the rule."""

import copy
import json
from pathlib import Path

import pytest

from fhir_server.conformance.validation import validate_resource
from fhir_server.errors import InvalidResource

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples-all"

# Examples that break a rule of R4 itself: file → (the rule, (code, last step of each issue)).
REFUSED = {
    "Questionnaire-qs1.json": (
        "Questionnaire.item.linkId is 1..1 "
        "(http://hl7.org/fhir/R4/questionnaire-definitions.html#Questionnaire.item.linkId), "
        "and the display items nested in this generated example have no linkId",
        ("required", "linkId"),
    ),
    "List-example-double-cousin-relationship.json": (
        "An Age SHALL be an expression of time (age-1; maxValueSet all-time-units), and the "
        "third contained FamilyMemberHistory's ageAge, 74 'yr', has the UCUM code 'b' (barn, "
        "an area) where its siblings have 'a'",
        ("code-invalid", "code"),
    ),
}


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.json"))


def test_all_examples_are_there():
    assert len(_examples()) == 721
    assert set(REFUSED) <= {path.name for path in _examples()}


@pytest.mark.parametrize("path", _examples(), ids=lambda path: path.name)
def test_official_example_is_valid(path: Path):
    resource = json.loads(path.read_text(encoding="utf-8"))
    original = copy.deepcopy(resource)
    if path.name in REFUSED:
        with pytest.raises(InvalidResource) as raised:
            validate_resource(resource)
        _, expected = REFUSED[path.name]
        assert {(i.code, i.expression[0].rsplit(".", 1)[1]) for i in raised.value.issues
                if i.severity == "error"} == {expected}
    else:
        validate_resource(resource)
    assert resource == original
