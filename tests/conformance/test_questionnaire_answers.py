"""The QuestionnaireResponse-against-Questionnaire check as a function: any JSON shape is
checked without raising, and answers picked from a Questionnaire's own options and limits
are valid while one outside them is one error."""

from decimal import Decimal

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
