"""The QuestionnaireResponse-against-Questionnaire check as a function: any JSON shape is
checked without raising, and answers picked from a Questionnaire's own options and limits
are valid while one outside them is one error."""

import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.conformance.questionnaire_answers import answer_issues

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False) | st.text(max_size=5)
    | st.sampled_from(["group", "choice", "integer", "=", "exists", "q1", "valueCoding"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["item", "answer", "linkId", "type", "required", "repeats",
                         "enableWhen", "question", "operator", "answerBoolean", "answerOption",
                         "valueInteger", "valueCoding", "valueString", "valueQuantity",
                         "valueAttachment", "valueReference", "extension", "url", "maxLength",
                         "enableBehavior", "code", "system", "value", "reference", "data"]),
        inner, max_size=4),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(response=JSON, questionnaire=JSON)
def test_any_json_is_checked_without_raising(response, questionnaire):
    if isinstance(response, dict) and isinstance(questionnaire, dict):
        assert isinstance(answer_issues(response, questionnaire), list)


def _questionnaire(codes: list[str], low: int, high: int) -> dict:
    return {"item": [
        {"linkId": "pick", "type": "choice", "repeats": True,
         "answerOption": [{"valueCoding": {"system": "urn:s", "code": code}} for code in codes]},
        {"linkId": "count", "type": "integer", "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": low},
            {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": high}]},
        {"linkId": "size", "type": "decimal", "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces",
             "valueInteger": 2}]},
    ]}


@given(codes=st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=5, unique=True),
       data=st.data())
def test_answers_within_the_options_and_limits_are_valid(codes, data):
    low = data.draw(st.integers(-100, 100))
    high = data.draw(st.integers(low, low + 100))
    picked = data.draw(st.lists(st.sampled_from(codes), min_size=1, unique=True))
    count = data.draw(st.integers(low, high))
    size = data.draw(st.decimals(-1000, 1000, places=2, allow_nan=False))
    response = {"item": [
        {"linkId": "pick", "answer": [{"valueCoding": {"system": "urn:s", "code": code}}
                                      for code in picked]},
        {"linkId": "count", "answer": [{"valueInteger": count}]},
        {"linkId": "size", "answer": [{"valueDecimal": size}]},
    ]}
    questionnaire = _questionnaire(codes, low, high)
    assert answer_issues(response, questionnaire) == []
    outside = data.draw(st.sampled_from(["code", "low", "high", "places"]))
    if outside == "code":
        response["item"][0]["answer"].append(
            {"valueCoding": {"system": "urn:s", "code": "".join(codes) + "x"}})
    elif outside == "places":
        response["item"][2]["answer"] = [{"valueDecimal": size + Decimal("0.001")}]
    else:
        response["item"][1]["answer"] = [{"valueInteger": low - 1 if outside == "low"
                                          else high + 1}]
    assert len(answer_issues(response, questionnaire)) == 1


def _errors(response: dict, questionnaire: dict) -> list[str]:
    return [found.diagnostics for found in answer_issues(response, questionnaire)]


def _gated(condition: dict, then: str = "then") -> dict:
    """A Questionnaire whose item `then` is enabled by `condition` on item `first`."""
    kind = condition.pop("type")
    return {"item": [{"linkId": "first", "type": kind},
                     {"linkId": then, "type": "string",
                      "enableWhen": [{"question": "first", **condition}]}]}


def _answered(first: dict, then: bool = True) -> dict:
    return {"item": [{"linkId": "first", "answer": [first]}]
            + ([{"linkId": "then", "answer": [{"valueString": "x"}]}] if then else [])}


KG = {"system": "http://unitsofmeasure.org", "code": "kg"}


@pytest.mark.parametrize(("condition", "first", "enabled"), [
    ({"type": "quantity", "operator": ">", "answerQuantity": {"value": 50, **KG}},
     {"valueQuantity": {"value": 60, **KG}}, True),
    ({"type": "quantity", "operator": ">", "answerQuantity": {"value": 50, **KG}},
     {"valueQuantity": {"value": 40000, "system": KG["system"], "code": "g"}}, False),
    ({"type": "quantity", "operator": "=", "answerQuantity": {"value": 50, **KG}},
     {"valueQuantity": {"value": 51, **KG}}, False),
    ({"type": "dateTime", "operator": "<", "answerDateTime": "2026-01-01T08:00:00+07:00"},
     {"valueDateTime": "2026-01-01T00:30:00Z"}, True),  # 07:30 in Hà Nội
    ({"type": "dateTime", "operator": ">", "answerDateTime": "2026-01-01T08:00:00+07:00"},
     {"valueDateTime": "2026-01-01T00:30:00Z"}, False),
    ({"type": "choice", "operator": "=", "answerCoding": {"code": "y"}},
     {"valueCoding": {"system": "urn:s", "code": "y"}}, True),  # no system: any system
    ({"type": "choice", "operator": "=", "answerCoding": {"system": "urn:t", "code": "y"}},
     {"valueCoding": {"system": "urn:s", "code": "y"}}, False),
])
def test_enable_when_compares_by_the_values_type(condition, first, enabled):
    errors = _errors(_answered(first), _gated(condition))
    assert errors == ([] if enabled else [
        "Item has answer, even though it is not enabled (item id = 'then'): "
        "QuestionnaireResponse.item[1]"])


def test_enable_when_in_a_repeating_group_reads_its_own_repetition():
    questionnaire = {"item": [{"linkId": "g", "type": "group", "repeats": True, "item": [
        {"linkId": "smokes", "type": "boolean"},
        {"linkId": "packs", "type": "integer", "required": True, "enableWhen": [
            {"question": "smokes", "operator": "=", "answerBoolean": True}]}]}]}

    def repetition(smokes: bool, packs: int | None) -> dict:
        return {"linkId": "g", "item": [{"linkId": "smokes", "answer": [{"valueBoolean": smokes}]}]
                + ([{"linkId": "packs", "answer": [{"valueInteger": packs}]}] if packs else [])}

    valid = {"item": [repetition(True, 2), repetition(False, None)]}
    assert _errors(valid, questionnaire) == []
    invalid = {"item": [repetition(False, 3), repetition(True, None)]}
    assert _errors(invalid, questionnaire) == [
        "Item has answer, even though it is not enabled (item id = 'packs'): "
        "QuestionnaireResponse.item[0].item[1]",
        "No response answer found for required item 'packs' at QuestionnaireResponse.item[1]"]


def test_a_choice_answer_of_a_type_no_option_has_is_an_error():
    questionnaire = {"item": [{"linkId": "c", "type": "choice", "answerOption": [
        {"valueCoding": {"system": "urn:s", "code": "a"}}]}]}
    response = {"item": [{"linkId": "c", "answer": [{"valueString": "a"}]}]}
    assert _errors(response, questionnaire) == [
        "Option list has no option values of type string: QuestionnaireResponse.item[0].answer[0]"]


def test_link_ids_of_other_json_types_are_checked_without_raising():
    questionnaire = {"item": [{"linkId": ["a"], "type": "string"}, {"linkId": "b", "type": "group",
                                                                   "item": [{"linkId": {}}]}]}
    response = {"item": [{"linkId": ["a"]}, {"linkId": {"x": 1}}, {"linkId": "b", "item": [
        {"linkId": [{}]}]}]}
    assert len(_errors(response, questionnaire)) == 2  # two linkIds the Questionnaire lacks


def test_thousands_of_conditions_on_thousands_of_answers_stop_early():
    conditions = [{"question": "first", "operator": "=", "answerInteger": n} for n in range(9000)]
    questionnaire = {"item": [{"linkId": "first", "type": "integer", "repeats": True},
                              {"linkId": "then", "type": "string", "enableWhen": conditions,
                               "enableBehavior": "any"}]}
    response = {"item": [{"linkId": "first", "answer": [{"valueInteger": -n}
                                                        for n in range(1, 2700)]}]}
    started = time.perf_counter()
    found = answer_issues(response, questionnaire)
    assert time.perf_counter() - started < 2
    assert [(issue.severity, issue.code) for issue in found] == [("warning", "too-costly")]


_ABOVE = ("The quantity 1E+308 {} is greater than the allowed maximum of 200 kg: "
          "QuestionnaireResponse.item[0].answer[0].value.ofType(Quantity)")


@pytest.mark.parametrize(("value", "code", "errors"), [
    (Decimal("1e308"), "kg", [_ABOVE.format("kg")]),
    (Decimal("1e308"), "mg", [_ABOVE.format("mg")]),
    (Decimal("-1e308"), "mg", []),
])
def test_a_quantity_beyond_floats_range_is_still_ordered(value, code, errors):
    # 1e308 kg is 1e311 g in base units, past a float's range: still more than 200 kg.
    limit = {"value": 200, "system": KG["system"], "code": "kg", "unit": "kg"}
    questionnaire = {"item": [{"linkId": "w", "type": "quantity", "extension": [
        {"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-maxQuantity",
         "valueQuantity": limit}]}]}
    answer = {"value": value, "system": KG["system"], "code": code, "unit": code}
    response = {"item": [{"linkId": "w", "answer": [{"valueQuantity": answer}]}]}
    assert _errors(response, questionnaire) == errors


def test_a_boolean_is_no_limit():
    """`maxLength: true` is a structure error of the Questionnaire, not a maximum of 1."""
    questionnaire = {"item": [{"linkId": "s", "type": "string", "maxLength": True, "extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/minLength", "valueInteger": True}]}]}
    response = {"item": [{"linkId": "s", "answer": [{"valueString": "abc"}]}]}
    assert _errors(response, questionnaire) == []


def test_too_costly_conditions_after_a_thousand_errors_are_one_more_note(monkeypatch):
    """The check stops after 1,000 errors; conditions found too costly just then are noted
    beside them (that note was the 1,001st error, and a 500)."""
    from fhir_server.conformance import questionnaire_answers as answers
    from fhir_server.conformance.messages import issue

    def thousand_errors_then_too_costly(questions, items, where, given, found):
        for index in range(answers.MOST_KEPT):
            found.append(issue("qr-unknown-link", "structure", where, link=f"x{index}"))
        raise answers.TooCostlyToEvaluate

    monkeypatch.setattr(answers, "_check_items", thousand_errors_then_too_costly)
    found = answers.answer_issues({"item": []}, {"item": []})
    assert len(found) == answers.MOST_KEPT + 1
    assert found[-1].code == "too-costly" and found[-1].severity == "warning"


def test_a_reference_answer_is_an_option_by_its_reference_and_any_option_may_be_exclusive():
    exclusive = {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive",
                 "valueBoolean": True}
    questionnaire = {"item": [
        {"linkId": "who", "type": "reference",
         "answerOption": [{"valueReference": {"reference": "Practitioner/p1"}}]},
        {"linkId": "pick", "type": "choice", "repeats": True, "answerOption": [
            {"valueString": "none", "extension": [exclusive]}, {"valueString": "tea"},
            {"valueString": "coffee"}]}]}
    answered = {"item": [
        {"linkId": "who", "answer": [{"valueReference": {"reference": "Practitioner/p1",
                                                         "display": "BS. Lan"}}]},
        {"linkId": "pick", "answer": [{"valueString": "tea"}, {"valueString": "coffee"}]}]}
    assert _errors(answered, questionnaire) == []
    answered["item"][1]["answer"].append({"valueString": "none"})
    assert _errors(answered, questionnaire) == [
        "Selected answer none is an exclusive option: nothing else may be selected with it "
        "(QuestionnaireResponse.item[1].answer[2])"]
