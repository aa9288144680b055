"""Whether a Questionnaire item is enabled for a QuestionnaireResponse (`enableWhen`,
http://hl7.org/fhir/R4/questionnaire-definitions.html#Questionnaire.item.enableWhen): all
its conditions hold, or one with `enableBehavior` `any`. A condition reads the answers of
the question it names nearest to the item: within the same repetition of a repeating group
first, then further out, as R4 and the HL7 validator have it.

The comparisons a response may ask for are bounded: a Questionnaire of thousands of
conditions on a question of thousands of answers took seconds of CPU.
"""

from collections.abc import Iterator

from fhir_server.conformance.questionnaire_values import compare_values

# Answer values compared with conditions for one response.
_MOST_COMPARISONS = 200_000
_WANTED = {"=": (0,), ">": (1,), "<": (-1,), ">=": (0, 1), "<=": (-1, 0)}


class TooCostlyToEvaluate(Exception):
    """The conditions needed more than _MOST_COMPARISONS comparisons."""


class Answers:
    """The answers of a part of a response by linkId, inside the answers of what holds it."""

    def __init__(self, items: object, outer: "Answers | None" = None):
        self._outer = outer
        self._left: list[int] = outer._left if outer is not None else [_MOST_COMPARISONS]
        self._by_link: dict[str, list[dict]] = {}
        for item in all_items(items):
            if isinstance(link := item.get("linkId"), str):
                self._by_link.setdefault(link, []).extend(dicts(item.get("answer")))

    def within(self, item: dict) -> "Answers":
        """The answers of one item (a group's repetition) first, then these."""
        return Answers([item], self)

    def of(self, link: str) -> list[dict]:
        scope: Answers | None = self
        while scope is not None:
            if link in scope._by_link:
                return scope._by_link[link]
            scope = scope._outer
        return []

    def enable(self, question: dict) -> bool:
        conditions = dicts(question.get("enableWhen"))
        if not conditions:
            return True
        held = [self._holds(condition) for condition in conditions]
        return any(held) if question.get("enableBehavior") == "any" else all(held)

    def _holds(self, condition: dict) -> bool:
        link, operator = condition.get("question"), condition.get("operator")
        key = next((name for name in condition if name.startswith("answer")), None)
        if not isinstance(link, str) or key is None:
            return False
        given, expected = self.of(link), condition[key]
        if operator == "exists":
            return bool(given) == (expected is True)
        value_key = "value" + key[len("answer"):]
        values = [answer[value_key] for answer in given if value_key in answer]
        self._left[0] -= len(values)
        if self._left[0] < 0:
            raise TooCostlyToEvaluate
        if operator == "!=":
            return bool(values) and all(compare_values(value, expected) != 0 for value in values)
        wanted = _WANTED.get(str(operator), ())
        return any(compare_values(value, expected) in wanted for value in values)


def dicts(value: object) -> list[dict]:
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def all_items(items: object) -> Iterator[dict]:
    """Every item at any depth: under items and under answers."""
    for item in dicts(items):
        yield item
        yield from all_items(item.get("item"))
        for answer in dicts(item.get("answer")):
            yield from all_items(answer.get("item"))
