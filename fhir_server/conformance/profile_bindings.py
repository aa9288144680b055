"""Bindings of coded elements to value sets, by strength
(http://hl7.org/fhir/R4/terminologies.html#strength): the check the base validation makes of
the required bindings of R4, and the profile engine of every binding a profile adds.

required: a code from a system of the value set must be one of its codes, and (for a
profile) the value must have a code of the value set; extensible: a code of the value set,
or else one of a system it does not include (a code of an included system that is not in
it is an error; another system, or text only, a warning); preferred and example: nothing.
A value set this server cannot expand is a warning, unless a code of a system it takes whole
cannot be of that system (`code_syntax.py`: `XYZ` is no ICD-10 code)."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhir_server.conformance.code_syntax import SYNTAXES, syntax_refutes
from fhir_server.conformance.code_systems import find_value_set
from fhir_server.conformance.concept_maps import mapped_into
from fhir_server.conformance.expansion import expand_for_system, expansion
from fhir_server.conformance.grammar_systems import includes_whole
from fhir_server.conformance.held_terminology import held_code_system
from fhir_server.conformance.messages import issue, phrase
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
    # system → the versions of it the expansion takes its codes from (those it knows)
    versions: dict[str, frozenset[str]] = field(default_factory=dict)
    # Not expandable as a whole: system → its codes in the value set, for each system whose
    # part can be expanded (`expand_for_system`)
    parts: dict[str, frozenset[str]] = field(default_factory=dict)
    # Not expandable as a whole: the only systems its codes can be of (its compose includes
    # each by system, none by value set alone); None when that is not known.
    systems: frozenset[str] | None = None
    # Not expandable as a whole: the systems it takes whole whose part cannot be expanded
    # but whose codes have a syntax known here (ICD-10)
    syntax_checked: frozenset[str] = frozenset()

    @property
    def codes(self) -> frozenset[str]:
        return frozenset().union(*self.allowed.values()) if self.allowed else frozenset()


@cache  # keyed by definitions only
def binding(strength: str, value_set: str) -> Binding:
    """The compiled binding of a strength and a value set canonical."""
    expanded = expansion(value_set)
    versions: dict[str, set[str]] = {}
    for concept in expanded.concepts or ():
        if concept.version:
            versions.setdefault(concept.system, set()).add(concept.version)
    whole = expanded.concepts is not None
    parts = {} if whole else _parts(value_set)
    return Binding(strength, value_set.split("|")[0], expanded.codes() or None,
                   {system: frozenset(held) for system, held in versions.items()},
                   parts, None if whole else _systems(value_set),
                   frozenset() if whole else _syntax_checked(value_set, parts))


def _includes(canonical: str) -> tuple[dict, list]:
    value_set = find_value_set(canonical) or {}
    compose = value_set.get("compose")
    includes = compose.get("include") if isinstance(compose, dict) else None
    return value_set, [i for i in includes or () if isinstance(i, dict)]


def _systems(canonical: str) -> frozenset[str] | None:
    _, includes = _includes(canonical)
    systems = [include.get("system") for include in includes]
    if not includes or not all(isinstance(system, str) for system in systems):
        return None
    return frozenset(str(system) for system in systems)


def _syntax_checked(canonical: str, parts: dict[str, frozenset[str]]) -> frozenset[str]:
    value_set, _ = _includes(canonical)
    return frozenset(system for system in SYNTAXES
                     if system not in parts and includes_whole(value_set, system))


def _parts(canonical: str) -> dict[str, frozenset[str]]:
    value_set, includes = _includes(canonical)
    systems = {include["system"] for include in includes
               if isinstance(include.get("system"), str)}
    parts = {system: expand_for_system(value_set, system) for system in sorted(systems)}
    return {system: frozenset(part.codes().get(system, ())) for system, part in parts.items()
            if part.concepts is not None}


def _codings(value: object, type_code: str) -> Iterator[tuple[object, object, object]]:
    """(system, code, version) of each coded value: the system of a bare code (code,
    string, uri) is None, the value set's own."""
    if type_code in ("code", "string", "uri"):
        yield None, value, None
    elif isinstance(value, dict) and type_code in ("Coding", "Quantity"):
        if "code" in value:
            yield value.get("system"), value["code"], value.get("version")
    elif isinstance(value, dict) and isinstance(value.get("coding"), list):
        for coding in value["coding"]:
            if isinstance(coding, dict) and "code" in coding:
                yield coding.get("system"), coding["code"], coding.get("version")


def _of_another_version(bound: Binding, system: str, version: str) -> bool:
    """Whether a coding names a version of its system, held here with its codes, other than
    the one the value set uses: `80` of the pre-2025 administrative units (Long An) is not
    `80` of the current ones (Tây Ninh). A version held without codes (a guide's stub of a
    code system) says nothing of them."""
    if system not in bound.versions or version in bound.versions[system]:
        return False
    held = held_code_system(system, version)
    return held is not None and bool(held.concepts)


def binding_issues(bound: Binding, value: object, type_code: str, expression: str, *,
                   profile: str | None = None, element_id: str | None = None) -> list[Issue]:
    """What is wrong with one value of an element bound to `bound`: a required binding
    needs a code of the value set, besides no wrong code of its systems."""
    rule: dict[str, Any] = {"profile": profile, "element_id": element_id,
                            "value_set": bound.value_set}
    if bound.strength not in CHECKED:
        return []
    if bound.allowed is None:
        return _partly_expandable(bound, value, type_code, expression, rule)
    allowed, codes = bound.allowed, bound.codes
    found: list[tuple[str | None, str]] = []
    stale: list[tuple[str, str, str]] = []  # codes of another version than the value set's
    for system, code, version in _codings(value, type_code):
        if isinstance(code, str) and (system is None or isinstance(system, str)):
            if system is not None and isinstance(version, str) and _of_another_version(
                    bound, system, version):
                stale.append((system, code, version))
            else:
                found.append((system, code))
    if stale and not any(is_member(allowed, s, c) for s, c in found):
        return [_stale_issue(bound, *stale[0], expression, rule)]
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
    # A bare code (a `code` element) stands for a code of the value set's only system, if it
    # has one; a Coding without a system means nothing defined (Coding.system is 0..1), so it
    # is only not in the value set, which an extensible binding allows (a warning).
    bare = type_code in ("code", "string", "uri")
    only = next(iter(allowed)) if len(allowed) == 1 and bare else None
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


def _partly_expandable(bound: Binding, value: object, type_code: str, expression: str,
                       rule: dict[str, Any]) -> list[Issue]:
    """A value set not expandable as a whole: a coding of a system whose part of it is known
    is decided by that part (an unknown occupation code of VN Core's 4069 list beside a
    system held without codes), one of a system it takes whole by that system's syntax when
    it lacks it; else a warning that the code is not checked."""
    codings = [(system, code) for system, code, _ in _codings(value, type_code)
               if isinstance(code, str)]
    refuted = {(system, code): reason for system, code in codings
               if isinstance(system, str) and system in bound.syntax_checked
               and (reason := syntax_refutes(system, code)) is not None}
    decided = [(system, code) for system, code in codings
               if isinstance(system, str) and (system in bound.parts
                                               or (system, code) in refuted)]
    # Codes of systems the value set cannot hold, whatever they are; in a Coding or a
    # CodeableConcept, also no code at all, or one of no system (a bare code of a `code`
    # element is of the value set's own system).
    foreign = bool(codings) and all(isinstance(s, str) and s not in (bound.systems or ())
                                    for s, _ in codings)
    without = type_code in ("Coding", "CodeableConcept") and all(
        s not in (bound.systems or ()) for s, _ in codings)
    if not decided and bound.systems is not None and (foreign or without):
        # A required binding "SHALL be from the specified value set".
        if bound.strength == "extensible":
            return [issue("extensible-no-code", "code-invalid", expression, severity="warning",
                          **rule)]
        if not codings:
            return [issue("no-code-in-value-set", "code-invalid", expression, **rule)]
        return [issue("system-not-in-value-set", "code-invalid", expression,
                      system=codings[0][0] or phrase("binding.no-system"),
                      systems=", ".join(sorted(bound.systems)), **rule)]
    if not decided:
        return [issue("value-set-not-expandable", "not-supported", expression,
                      severity="warning", strength=bound.strength, **rule)]
    if any(code in bound.parts.get(system, ()) for system, code in decided):
        return []
    system, code = decided[0]
    if (system, code) in refuted:
        return [issue("coding-lacks-syntax", "code-invalid", expression,
                      reason=refuted[system, code], strength=bound.strength, **rule)]
    message = ("coding-not-in-value-set" if bound.strength == "required"
               else "extensible-code-of-included-system")
    return [issue(message, "code-invalid", expression, code=code, system=system, **rule)]


def _stale_issue(bound: Binding, system: str, code: str, version: str, expression: str,
                 rule: dict[str, Any]) -> Issue:
    """A code of another version of a system the value set uses, with its successor if a
    ConceptMap held here names one."""
    assert bound.allowed is not None, "only an expanded binding has members"
    details = {"code": code, "system": system, "version": version,
               "current": ", ".join(sorted(bound.versions[system])), **rule}
    if mapped := mapped_into(system, code, bound.allowed):
        return issue("coding-of-another-version-mapped", "code-invalid", expression,
                     mapped=", ".join(sorted({m.code for m in mapped})),
                     concept_map=mapped[0].concept_map, **details)
    return issue("coding-of-another-version", "code-invalid", expression, **details)


def is_member(allowed: dict[str, frozenset[str]], system: str | None, code: str) -> bool:
    """Whether a code (of `system`, or bare) is in an expansion."""
    if system is None:
        return any(code in codes for codes in allowed.values())
    return code in allowed.get(system, ())
