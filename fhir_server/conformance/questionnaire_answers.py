"""A QuestionnaireResponse's answers against its Questionnaire
(http://hl7.org/fhir/R4/questionnaireresponse.html: "the QuestionnaireResponse SHALL conform
to the Questionnaire"), as the HL7 validator and HAPI's QuestionnaireResponseValidator check
them: each item's linkId among its Questionnaire item's children, one item per linkId unless
it repeats, answers of the item's type, within its answerOptions, required items answered,
no answers to items that are not enabled (enableWhen), an exclusive option alone, and the
limits of the extensions minValue, maxValue, minLength, maxDecimalPlaces, minOccurs and
maxOccurs and of maxLength.
The checks that depend on an answer's data type are in `questionnaire_values`. Not checked:
answerValueSet membership, a quantity's unit value set, and the `regex` extension (a
pattern from the data could take the process for minutes).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from fhir_server.conformance.issue_lists import MOST_KEPT
from fhir_server.conformance.messages import issue
from fhir_server.conformance.questionnaire_conditions import (
    Answers,
    TooCostlyToEvaluate,
    all_items,
    dicts,
)
from fhir_server.conformance.questionnaire_values import (
    QUESTIONNAIRE_EXTENSION,
    attachment_issues,
    canonical_text,
    compare_values,
    extension_values,
    integer,
    quantity_issues,
    reference_issues,
)
from fhir_server.conformance.structure import choice_type
from fhir_server.conformance.type_codes import CORE
from fhir_server.errors import Issue

_HASHABLE = (str, int, float, Decimal, bool, type(None))

# The answer[x] each item type takes; a choice's answerOptions may add theirs.
_ANSWERS = {
    "boolean": ("valueBoolean",), "decimal": ("valueDecimal",), "integer": ("valueInteger",),
    "date": ("valueDate",), "dateTime": ("valueDateTime",), "time": ("valueTime",),
    "string": ("valueString",), "text": ("valueString",), "url": ("valueUri",),
    # R4's answerOption types: the HL7 validator takes any of them for a choice.
    "choice": ("valueCoding", "valueDate", "valueTime", "valueInteger", "valueString"),
    "open-choice": ("valueCoding", "valueDate", "valueTime", "valueInteger", "valueString"),
    "attachment": ("valueAttachment",), "reference": ("valueReference",),
    "quantity": ("valueQuantity",),
}
_WITHOUT_ANSWERS = ("group", "display", "question")
# QuestionnaireResponse.item.answer.value[x]: another name is the structure's error, not this.
_VALUES = frozenset(name for names in _ANSWERS.values() for name in names) | {
    "valueAttachment", "valueReference", "valueQuantity"}
_ORDERED = ("valueInteger", "valueDecimal", "valueDate", "valueDateTime", "valueTime")


def answer_issues(response: Mapping, questionnaire: Mapping) -> list[Issue]:
    """The errors of `response` against `questionnaire` (both FHIR JSON): at most
    MOST_KEPT, then a note that the check stopped there."""
    found = _Found()
    try:
        _check_items(dicts(questionnaire.get("item")), dicts(response.get("item")),
                     "QuestionnaireResponse", Answers(response.get("item")), found)
    except TooCostlyToEvaluate:
        # Past MOST_KEPT too: this note is not one of them.
        list.append(found, issue("qr-too-costly", "too-costly", "QuestionnaireResponse",
                                 severity="warning"))
    except _Full:
        return [*found[:MOST_KEPT], issue("validation-stopped", "too-costly",
                                          "QuestionnaireResponse", severity="information",
                                          count=MOST_KEPT)]
    return list(found)


class _Full(Exception):
    """MOST_KEPT were found: the check stops."""


@dataclass(frozen=True, slots=True)
class _Options:
    """A question's answerOptions, indexed once (an answer compared with each of 8,000
    options, for each of 8,000 answers, took 37 s)."""

    given: bool  # whether it has options at all
    offered: dict[str, set]  # value[x] name → `_value_key` of each value offered
    exclusive: frozenset[tuple[str, object]]  # (value[x] name, key) of optionExclusive ones

    @classmethod
    def of(cls, question: dict) -> "_Options":
        offered: dict[str, set] = {}
        exclusive = set()
        options = dicts(question.get("answerOption"))
        for option in options:
            alone = _extension(option, QUESTIONNAIRE_EXTENSION + "optionExclusive",
                               "valueBoolean") is True
            for name, value in option.items():
                if name.startswith("value"):
                    offered.setdefault(name, set()).add(_value_key(name, value))
                    if alone:
                        exclusive.add((name, _value_key(name, value)))
        return cls(bool(options), offered, frozenset(exclusive))

    def offers(self, key: str, value: object) -> bool:
        return _value_key(key, value) in self.offered.get(key, ())

    def excludes_others(self, key: str, value: object) -> bool:
        return (key, _value_key(key, value)) in self.exclusive


def _value_key(key: str, value: object) -> object:
    """What makes an answer the same as an option: a Coding's system and code (not its
    display), a Reference's `reference` (as the HL7 validator compares them), a primitive's
    value (a string's `canonical_text`); any other JSON by its repr."""
    if key == "valueCoding" and isinstance(value, dict):
        return ("coding", repr(value.get("system")), repr(value.get("code")))
    if key == "valueReference" and isinstance(value, dict) and "reference" in value:
        return ("reference", repr(value.get("reference")))
    if isinstance(value, str):
        return canonical_text(value)
    return value if isinstance(value, _HASHABLE) else ("json", repr(value))


class _Found(list[Issue]):
    """The issues found so far (200,000 of a 4 MB response made a 64 MB answer), and the
    options of the questions met, indexed once."""

    def __init__(self) -> None:
        super().__init__()
        self.options: dict[int, _Options] = {}

    def options_of(self, question: dict) -> _Options:
        if (indexed := self.options.get(id(question))) is None:
            indexed = self.options[id(question)] = _Options.of(question)
        return indexed

    def append(self, found: Issue) -> None:
        super().append(found)
        if len(self) > MOST_KEPT:
            raise _Full

    def extend(self, more: Iterable[Issue], /) -> None:
        for found in more:
            self.append(found)


def _check_items(questions: list[dict], items: list[dict], where: str, answers: Answers,
                 found: "_Found") -> None:
    given: dict[str, list[tuple[int, dict]]] = {}
    for index, item in enumerate(items):
        given.setdefault(_link(item), []).append((index, item))
    linked = {_link(question) for question in questions}
    for link in given:
        if link not in linked:
            found.append(issue("qr-unknown-link", "structure", where, link=link))
    for question in questions:
        link = _link(question)
        these = given.get(link, [])
        enabled = answers.enable(question)
        if not these:
            if enabled and question.get("required") is True and question.get("type") != "display":
                found.append(issue("qr-required-missing", "required", where, link=link))
            continue
        if len(these) > 1 and question.get("repeats") is not True:
            found.append(issue("qr-one-item", "structure", f"{where}.item[{these[1][0]}]",
                               link=link))
        for index, item in these:
            _check_item(question, item, f"{where}.item[{index}]", enabled,
                        answers.within(item) if dicts(item.get("item")) or any(
                            dicts(answer.get("item")) for answer in dicts(item.get("answer")))
                        else answers, found)


def _link(element: dict) -> str:
    """A linkId as text: another JSON type is the structure's error, not a key here."""
    link = element.get("linkId")
    return link if isinstance(link, str) else repr(link)


def _check_item(question: dict, item: dict, where: str, enabled: bool, answers: Answers,
                found: "_Found") -> None:
    kind, link = question.get("type"), _link(question)
    given = dicts(item.get("answer"))
    if not enabled:
        if given or any(dicts(child.get("answer")) for child in all_items(item.get("item"))):
            found.append(issue("qr-not-enabled", "business-rule", where, link=link))
        return
    if kind in _WITHOUT_ANSWERS:
        if given:
            found.append(issue("qr-no-answers", "structure", where, kind=kind))
        if kind == "group":
            if question.get("required") is True and not dicts(item.get("item")):
                found.append(issue("qr-required-group", "required", where, link=link))
            _check_items(dicts(question.get("item")), dicts(item.get("item")), where,
                         answers, found)
        return
    if question.get("required") is True and not given:
        found.append(issue("qr-required-missing", "required", where, link=link))
    _check_occurrences(question, len(given), where, found)
    for index, answer in enumerate(given):
        at = f"{where}.answer[{index}]"
        _check_answer(question, answer, given, at, found)
        _check_items(dicts(question.get("item")), dicts(answer.get("item")), at, answers,
                     found)


def _check_occurrences(question: dict, count: int, where: str, found: list[Issue]) -> None:
    least = integer(_extension(question, QUESTIONNAIRE_EXTENSION + "minOccurs", "valueInteger"))
    most = integer(_extension(question, QUESTIONNAIRE_EXTENSION + "maxOccurs", "valueInteger"))
    if most is None and question.get("repeats") is not True:
        most = 1
    if least is not None and count < least:
        found.append(issue("qr-too-few", "structure", where, least=least, count=count))
    if most is not None and count > most:
        found.append(issue("qr-too-many", "structure", where, most=most, count=count))


def _check_answer(question: dict, answer: dict, answers: list[dict], where: str,
                  found: "_Found") -> None:
    key = next((name for name in answer if name in _VALUES), None)
    if key is None:
        return
    options = found.options_of(question)
    allowed = _ANSWERS.get(str(question.get("type")), ())
    if question.get("type") in ("choice", "open-choice"):
        allowed += tuple(name for name in options.offered if name not in allowed)
    value, at = answer[key], f"{where}.value.ofType({_type_name(key)})"
    if allowed and key not in allowed:
        found.append(issue("qr-answer-type", "structure", at, expected=_type_name(allowed[0]),
                           given=_type_name(key)))
        return
    offered = key in options.offered
    free_text = key == "valueString" and question.get("type") == "open-choice"
    if options.given and not offered and not free_text:
        found.append(issue("qr-no-option-of-type", "code-invalid", where, kind=_type_name(key)))
        return
    if len(answers) > 1 and options.excludes_others(key, value):
        shown = (f"{_field(value, 'system')}#{_field(value, 'code')}" if key == "valueCoding"
                 else value)
        found.append(issue("qr-exclusive", "business-rule", where, code=shown))
    if offered and not free_text and not options.offers(key, value):
        if key == "valueCoding":
            found.append(issue("qr-code-not-offered", "code-invalid", where,
                               code=f"{_field(value, 'system')}::{_field(value, 'code')}"))
        else:
            found.append(issue("qr-value-not-offered", "code-invalid", at,
                               kind=_type_name(key), value=value))
    _check_limits(question, key, value, at, found)
    if key == "valueAttachment" and isinstance(value, dict):
        found.extend(attachment_issues(question, value, where))
    elif key == "valueReference" and isinstance(value, dict):
        found.extend(reference_issues(question, value, at))
    elif key == "valueQuantity" and isinstance(value, dict):
        found.extend(quantity_issues(question, value, at))


def _check_limits(question: dict, key: str, value: object, at: str, found: list[Issue]) -> None:
    if key in _ORDERED:
        for url, message, beyond in (("minValue", "qr-below-minimum", -1),
                                     ("maxValue", "qr-above-maximum", 1)):
            limit = _extension(question, CORE + url, key)
            if limit is not None and compare_values(value, limit) == beyond:
                found.append(issue(message, "business-rule", at, value=value, limit=limit))
    number = value.get("value") if key == "valueQuantity" and isinstance(value, dict) else (
        value if key == "valueDecimal" else None)
    places = integer(_extension(question, CORE + "maxDecimalPlaces", "valueInteger"))
    if isinstance(number, Decimal | int | float) and places is not None:
        exponent = Decimal(str(number)).as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            found.append(issue("qr-decimal-places", "business-rule", at, value=number,
                               limit=places))
    if key in ("valueString", "valueUri") and isinstance(value, str):
        longest = integer(question.get("maxLength"))
        shortest = integer(_extension(question, CORE + "minLength", "valueInteger"))
        length = len(canonical_text(value))
        if shortest is not None and length < shortest:
            found.append(issue("qr-too-short", "business-rule", at, value=value,
                               limit=shortest))
        if longest is not None and length > longest:
            found.append(issue("qr-too-long", "business-rule", at, value=value, limit=longest))


def _extension(element: dict, url: str, key: str) -> object:
    return next(iter(extension_values(element, url, key)), None)


def _type_name(key: str) -> str:
    return choice_type(key[len("value"):])


def _field(coding: object, name: str) -> object:
    return coding.get(name) if isinstance(coding, dict) else None
