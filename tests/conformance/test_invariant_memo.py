"""Invariants are evaluated once per distinct reading in one validation (`is_violated`'s
memo): each element that breaks one is still reported, elements that differ only in what an
invariant reads are told apart, and like elements cost one evaluation."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from validation_helpers import found_of

from fhir_server.conformance import invariants
from fhir_server.conformance.validation import validate_resource


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["display", "string", "boolean"]),
                          st.sampled_from([None, True, False])), min_size=1, max_size=30))
def test_an_invariant_names_each_element_that_breaks_it_among_like_ones(items):
    """que-9 (no readOnly on a display item) read once per distinct (type, readOnly) pair
    of a validation, still reported at every item that breaks it, and only there."""
    questionnaire = {"resourceType": "Questionnaire", "status": "active", "item": [
        {"linkId": f"i{k}", "type": kind, **({} if read_only is None else {
            "readOnly": read_only})} for k, (kind, read_only) in enumerate(items)]}
    breaking = {("invariant", f"Questionnaire.item[{k}]")
                for k, (kind, read_only) in enumerate(items)
                if kind == "display" and read_only is not None}
    if breaking:
        assert found_of(questionnaire) == breaking
    else:
        validate_resource(questionnaire)


def test_like_elements_cost_one_evaluation_per_distinct_reading(monkeypatch):
    """fhirpathpy takes 0.1-1 ms per evaluation: 9,000 like Questionnaire items took 5 s."""
    evaluated = []
    evaluate = invariants._evaluates_false

    def counted(*args):
        evaluated.append(args[0].key)
        return evaluate(*args)

    monkeypatch.setattr(invariants, "_evaluates_false", counted)
    validate_resource({"resourceType": "Questionnaire", "status": "active", "item": [
        {"linkId": f"i{k}", "type": "string", "text": f"Question {k}"} for k in range(2000)]})
    assert 0 < len(evaluated) < 50, sorted(set(evaluated))


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_like_elements_that_differ_in_a_choice_are_told_apart(order):
    """eld-15 reads `defaultValue`, a choice (`defaultValueBoolean` in JSON): two elements that
    differ only there are judged each on its own, whichever comes first."""
    elements = [{"id": "Patient.gender", "path": "Patient.gender",
                 "meaningWhenMissing": "unknown if missing"},
                {"id": "Patient.active", "path": "Patient.active", "defaultValueBoolean": True,
                 "meaningWhenMissing": "unknown if missing"}]
    definition = {"resourceType": "StructureDefinition", "url": "http://example.org/sd/p",
                  "name": "P", "status": "draft", "kind": "resource", "abstract": False,
                  "type": "Patient", "derivation": "constraint",
                  "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
                  "differential": {"element": [elements[i] for i in order]}}
    breaking = order.index(1)
    assert {found for found in found_of(definition) if "differential" in found[1]} == {
        ("invariant", f"StructureDefinition.differential.element[{breaking}]")}
