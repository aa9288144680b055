"""`$validate` of a QuestionnaireResponse checks its answers against its Questionnaire, stored
here or contained, as the HL7 validator does (questionnaireresponse.html); a write stores
the answers as given."""

import uuid
from unicodedata import normalize

import pytest
from helpers import created

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-"
EXT = "http://hl7.org/fhir/StructureDefinition/"
UCUM = "http://unitsofmeasure.org"


def _ext(name: str, **value) -> dict:
    return {"url": name if name.startswith("http") else EXT + name, **value}


def _questionnaire(url: str) -> dict:
    coding = {"system": "http://example.org/yn", "code": "y"}
    return {"resourceType": "Questionnaire", "url": url, "status": "active", "item": [
        {"linkId": "smoker", "type": "boolean", "required": True},
        {"linkId": "packs", "type": "integer", "enableWhen": [
            {"question": "smoker", "operator": "=", "answerBoolean": True}],
         "extension": [_ext("minValue", valueInteger=1), _ext("maxValue", valueInteger=10)]},
        {"linkId": "name", "type": "string", "maxLength": 5,
         "extension": [_ext("minLength", valueInteger=2)]},
        {"linkId": "weight", "type": "quantity", "extension": [
            _ext(SDC + "maxQuantity", valueQuantity={"value": 200, "system": UCUM,
                                                     "code": "kg"})]},
        {"linkId": "height", "type": "decimal",
         "extension": [_ext("maxDecimalPlaces", valueInteger=2)]},
        {"linkId": "choice", "type": "choice", "repeats": True, "answerOption": [
            {"valueCoding": coding},
            {"valueCoding": {"system": "http://example.org/yn", "code": "none"},
             "extension": [_ext("questionnaire-optionExclusive", valueBoolean=True)]}]},
        {"linkId": "doctor", "type": "reference",
         "extension": [_ext("questionnaire-referenceResource", valueCode="Practitioner")]},
        {"linkId": "group", "type": "group", "required": True, "item": [
            {"linkId": "inner", "type": "date", "required": True}]},
        {"linkId": "note", "type": "display"},
    ]}


def _response(canonical: str, items: list[dict], **extra) -> dict:
    return {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": canonical, "item": items, **extra}


VALID = [
    {"linkId": "smoker", "answer": [{"valueBoolean": True}]},
    {"linkId": "packs", "answer": [{"valueInteger": 3}]},
    {"linkId": "name", "answer": [{"valueString": "Lan"}]},
    {"linkId": "weight", "answer": [{"valueQuantity": {"value": 150000, "system": UCUM,
                                                       "code": "g"}}]},
    {"linkId": "height", "answer": [{"valueDecimal": 1.65}]},
    {"linkId": "choice", "answer": [{"valueCoding": {"system": "http://example.org/yn",
                                                     "code": "y"}}]},
    {"linkId": "doctor", "answer": [{"valueReference": {"reference": "Practitioner/p1"}}]},
    {"linkId": "group", "item": [{"linkId": "inner", "answer": [{"valueDate": "2026-12-01"}]}]},
]
INVALID = [
    {"linkId": "smoker", "answer": [{"valueBoolean": False}]},
    {"linkId": "packs", "answer": [{"valueInteger": 3}]},  # not enabled
    {"linkId": "name", "answer": [{"valueString": "Nguyễn"}]},  # too long
    {"linkId": "weight", "answer": [{"valueQuantity": {"value": 250, "system": UCUM,
                                                       "code": "kg"}}]},
    {"linkId": "height", "answer": [{"valueDecimal": 1.655}]},
    {"linkId": "choice", "answer": [
        {"valueCoding": {"system": "http://example.org/yn", "code": "y"}},
        {"valueCoding": {"system": "http://example.org/yn", "code": "none"}},
        {"valueCoding": {"system": "http://example.org/yn", "code": "maybe"}}]},
    {"linkId": "doctor", "answer": [{"valueReference": {"reference": "Organization/o1"}}]},
    {"linkId": "group", "item": [{"linkId": "inner"}]},  # required, no answer
    {"linkId": "note", "answer": [{"valueString": "x"}]},
    {"linkId": "unknown", "answer": [{"valueString": "x"}]},
]
EXPECTED = [
    "LinkId 'unknown' not found in questionnaire",
    "Item has answer, even though it is not enabled (item id = 'packs')",
    "The answer 'Nguyễn' is longer than the allowed maximum length of 5",
    "The quantity 250 kg is greater than the allowed maximum of 200 kg",
    "The value 1.655 has too many decimal places (limit = 2)",
    "Selected answer http://example.org/yn#none is an exclusive option",
    "The code http://example.org/yn::maybe is not in the set of permitted values",
    "The resource type 'Organization' in the reference Organization/o1 is not allowed",
    "No response answer found for required item 'inner'",
    "Items of type display cannot have answers",
]


@pytest.fixture(scope="module")
def canonical(client) -> str:
    url = f"http://example.org/Questionnaire/{uuid.uuid4().hex}"
    created(client, _questionnaire(url))
    return url


def _errors(client, response: dict) -> list[str]:
    answer = client.post("/QuestionnaireResponse/$validate", json=response)
    assert answer.status_code == 200, answer.text
    return [issue["diagnostics"] for issue in answer.json()["issue"]
            if issue["severity"] == "error"]


def test_answers_that_keep_to_the_stored_questionnaire_are_valid(client, canonical):
    assert _errors(client, _response(canonical, VALID)) == []


def test_each_rule_the_answers_break_is_an_error(client, canonical):
    errors = _errors(client, _response(canonical, INVALID))
    for expected in EXPECTED:
        assert sum(expected in error for error in errors) == 1, (expected, errors)
    assert len(errors) == len(EXPECTED), errors


def test_a_contained_questionnaire_is_used_and_types_are_checked(client):
    contained = {**_questionnaire("http://example.org/q/contained"), "id": "q"}
    response = _response("#q", [{"linkId": "smoker", "answer": [{"valueString": "yes"}]},
                                *VALID[2:]], contained=[contained])
    errors = _errors(client, response)
    assert len(errors) == 1
    assert "Answer value must be of the type boolean not string" in errors[0]
    assert "item[0].answer[0].value.ofType(string)" in errors[0]


def test_an_unknown_questionnaire_is_a_warning_and_a_write_stores_the_answers(client,
                                                                              canonical):
    answer = client.post("/QuestionnaireResponse/$validate",
                         json=_response("http://example.org/Questionnaire/nowhere", VALID),
                         headers={"Accept-Language": "vi"})
    issues = answer.json()["issue"]
    assert [(issue["severity"], issue["code"]) for issue in issues] == [("warning", "not-found")]
    assert "Không tìm thấy bảng câu hỏi" in issues[0]["diagnostics"]
    stored = client.post("/QuestionnaireResponse", json=_response(canonical, INVALID))
    assert stored.status_code == 201, stored.text


def test_thousands_of_errors_are_listed_as_the_limits_say(client, canonical):
    """At most 100 issues in the OperationOutcome, then one counting the rest; the check
    itself stops after 1,000 errors (200,000 unknown linkIds made a 64 MB answer)."""
    unknown = [{"linkId": f"x{k}", "answer": [{"valueString": "?"}]} for k in range(3000)]
    answer = client.post("/QuestionnaireResponse/$validate",
                         json=_response(canonical, [*VALID, *unknown]))
    assert answer.status_code == 200, answer.text
    issues = answer.json()["issue"]
    assert [i["severity"] for i in issues] == ["error"] * 100 + ["information"] * 2, issues[-3:]
    assert issues[100]["code"] == "too-costly"
    assert "Validation stopped after 1000 errors" in issues[101]["diagnostics"]


def test_answers_among_thousands_of_options(client):
    options = [{"valueCoding": {"system": "urn:o", "code": f"c{k}"}} for k in range(3000)]
    url = f"http://example.org/Questionnaire/{uuid.uuid4().hex}"
    created(client, {"resourceType": "Questionnaire", "url": url, "status": "active",
                     "item": [{"linkId": "pick", "type": "choice", "repeats": True,
                               "answerOption": options}]})
    picked = [{"valueCoding": {"system": "urn:o", "code": f"c{k}"}} for k in range(0, 3000, 2)]
    stray = {"valueCoding": {"system": "urn:other", "code": "c1"}}
    errors = _errors(client, _response(url, [{"linkId": "pick", "answer": [*picked, stray]}]))
    assert len(errors) == 1 and "urn:other::c1" in errors[0], errors


def test_answers_are_compared_and_counted_in_composed_form(client):
    """A string answer typed with combining marks (NFD, as Vietnamese input methods set to
    composite Unicode write it) is the option, the enableWhen answer and the length its
    composed form (NFC) is: canonically equivalent texts are one text (Unicode C6). `Có`
    decomposed was 'not in the set of permitted values', the question it enables was 'not
    enabled', and `Mười điếu`, nine characters, was longer than 10."""
    url = f"http://example.org/Questionnaire/{uuid.uuid4().hex}"
    created(client, {"resourceType": "Questionnaire", "url": url, "status": "active", "item": [
        {"linkId": "smokes", "type": "choice",
         "answerOption": [{"valueString": "Có"}, {"valueString": "Không"}]},
        {"linkId": "how-many", "type": "string", "maxLength": 10,
         "extension": [_ext("minLength", valueInteger=9)],
         "enableWhen": [{"question": "smokes", "operator": "=", "answerString": "Có"}]}]})
    for form in ("NFC", "NFD"):
        answers = [{"linkId": "smokes", "answer": [{"valueString": normalize(form, "Có")}]},
                   {"linkId": "how-many",
                    "answer": [{"valueString": normalize(form, "Mười điếu")}]}]
        assert _errors(client, _response(url, answers)) == [], form
    too_long = [{"linkId": "smokes", "answer": [{"valueString": normalize("NFD", "Có")}]},
                {"linkId": "how-many", "answer": [{"valueString": "Mười một điếu"}]}]
    errors = _errors(client, _response(url, too_long))
    assert len(errors) == 1 and "longer than the allowed maximum length of 10" in errors[0]
