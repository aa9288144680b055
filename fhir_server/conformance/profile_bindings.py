"""Bindings of coded elements to value sets, by strength
(http://hl7.org/fhir/R4/terminologies.html#strength): the check the base validation makes of
the required bindings of R4, and the profile engine of every binding a profile adds.

required: a code from a system of the value set must be one of its codes, and (for a
profile) the value must have a code of the value set; extensible: a code of the value set,
or else one of a system it does not include (a code of an included system that is not in
it is an error; another system, or text only, a warning); preferred and example: nothing.
A value set this server cannot expand is a warning, never an error."""

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_server.conformance.concept_maps import mapped_into
from fhir_server.conformance.messages import issue
from fhir_server.conformance.terminology import expand
from fhir_server.errors import Issue

# Strengths that are checked.
CHECKED = frozenset({"required", "extensible"})
# Types of the values a binding constrains here (elementdefinition.html#ElementDefinition.binding).
BINDABLE = frozenset({"code", "Coding", "CodeableConcept", "Quantity", "string", "uri"})


@dataclass(frozen=True, slots=True)
class Binding:
    """A binding with its value set expanded: system → codes, None when not expandable."""

    strength: str
    value_set: str  # canonical URL without |version
    allowed: dict[str, frozenset[str]] | None

    @property
    def codes(self) -> frozenset[str]:
        return frozenset().union(*self.allowed.values()) if self.allowed else frozenset()


@cache  # keyed by definitions only
def binding(strength: str, value_set: str) -> Binding:
    """The compiled binding of a strength and a value set canonical."""
    return Binding(strength, value_set.split("|")[0], expand(value_set))


def _codings(value: object, type_code: str) -> Iterator[tuple[int | None, object, object]]:
    """(index in CodeableConcept.coding or None, system, code) of each coded value: the
    system of a bare code (code, string, uri) is None, the value set's own."""
    if type_code in ("code", "string", "uri"):
        yield None, None, value
    elif isinstance(value, dict) and type_code in ("Coding", "Quantity"):
        if "code" in value:
            yield None, value.get("system"), value["code"]
    elif isinstance(value, dict) and isinstance(value.get("coding"), list):
        for index, coding in enumerate(value["coding"]):
            if isinstance(coding, dict) and "code" in coding:
                yield index, coding.get("system"), coding["code"]


def binding_issues(bound: Binding, value: object, type_code: str, expression: str, *,
                   profile: str | None = None, element_id: str | None = None) -> list[Issue]:
    """What is wrong with one value of an element bound to `bound`: a required binding
    needs a code of the value set, besides no wrong code of its systems."""
    rule: dict[str, Any] = {"profile": profile, "element_id": element_id,
                            "value_set": bound.value_set}
    if bound.strength not in CHECKED:
        return []
    if bound.allowed is None:
        return [issue("value-set-not-expandable", "not-supported", expression,
                      severity="warning", strength=bound.strength, **rule)]
    allowed, codes = bound.allowed, bound.codes
    found = [
        (system, code) for _, system, code in _codings(value, type_code)
        if isinstance(code, str) and (system is None or isinstance(system, str))
    ]
    if bound.strength == "required":
        issues = [
            issue("code-not-in-value-set", "code-invalid", expression, code=code, **rule)
            if system is None else
            issue("coding-not-in-value-set", "code-invalid", expression, code=code,
                  system=system, **rule)
            for system, code in found
            if (code not in codes if system is None
                else system in allowed and code not in allowed[system])
        ]
        if not issues and not any(is_member(allowed, s, c) for s, c in found):
            issues.append(issue("no-code-in-value-set", "code-invalid", expression, **rule))
        return issues
    if any(is_member(allowed, system, code) for system, code in found):
        return []
    # A bare code stands for a code of the value set's only system, if it has one.
    only = next(iter(allowed)) if len(allowed) == 1 else None
    wrong = [(system or only, code) for system, code in found
             if system in allowed or (system is None and only)]
    if wrong:
        system, code = wrong[0]
        if system and (mapped := mapped_into(system, code, allowed)):
            # A code of another version of the system (an old province): name its successor.
            return [issue("extensible-code-mapped", "code-invalid", expression, code=code,
                          system=system, mapped=", ".join(sorted({m.code for m in mapped})),
                          concept_map=mapped[0].concept_map, **rule)]
        return [issue("extensible-code-of-included-system", "code-invalid", expression,
                      code=code, system=system, **rule)]
    return [issue("extensible-no-code", "code-invalid", expression, severity="warning",
                  **rule)]


def is_member(allowed: dict[str, frozenset[str]], system: str | None, code: str) -> bool:
    """Whether a code (of `system`, or bare) is in an expansion."""
    if system is None:
        return any(code in codes for codes in allowed.values())
    return code in allowed.get(system, ())
