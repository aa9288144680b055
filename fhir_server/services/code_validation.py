"""`$validate-code` on a CodeSystem and on a ValueSet
(http://hl7.org/fhir/R4/codesystem-operation-validate-code.html,
http://hl7.org/fhir/R4/valueset-operation-validate-code.html): whether a code, Coding or
CodeableConcept is valid, with a `message` for errors and warnings (a display that is not
the code's makes it invalid) and the code's `display`. Abstract (notSelectable) concepts are
not valid unless `abstract=true` or the value set picks them as notSelectable; inactive
ones are valid with a warning, unless the ValueSet leaves them out (`compose.inactive:
false`)."""

from dataclasses import dataclass, replace

from fhir_server.conformance.code_syntax import syntax_refutes
from fhir_server.conformance.code_systems import (
    CodeSystemIndex,
    Concept,
    accepted_languages,
    is_display_of,
)
from fhir_server.conformance.expansion import (
    ExpandedConcept,
    Expansion,
    NotHeld,
    UnknownImport,
    decided_by_system,
    expand_for_system,
    expanded_concept,
)
from fhir_server.conformance.grammar_systems import NAMES as GRAMMARS
from fhir_server.conformance.grammar_systems import grammar_code, includes_whole
from fhir_server.conformance.held_terminology import held_code_system
from fhir_server.conformance.units import UCUM, is_ucum
from fhir_server.errors import BadRequest
from fhir_server.services.terminology import (
    code_system_index,
    expanded,
    unknown_code,
    value_set_expansion,
)
from fhir_server.services.terminology_input import TerminologyInput


@dataclass(frozen=True)
class Verdict:
    valid: bool
    message: str | None = None
    display: str | None = None


def _codings(given: TerminologyInput, system: str | None, version: str | None) -> list[dict]:
    """What to validate: `code` (with the system and version given), `coding` or the codings
    of `codeableConcept`: exactly one of them."""
    code, coding, concept = given.one_coded()
    if code is not None:
        return [{"system": system, "code": code, "version": version,
                 "display": given.one("display")}]
    if coding is not None:
        return [{**coding, "display": given.one("display") or coding.get("display")}]
    return list((concept or {}).get("coding", []))


@dataclass(frozen=True)
class _Options:
    """`displayLanguage` (its languages, best first; None or `*`: any) and `abstract` of an
    invocation, read (and checked) once."""

    languages: tuple[str, ...] | None
    abstract: bool

    @classmethod
    def of(cls, given: TerminologyInput) -> "_Options":
        languages = tuple(accepted_languages(given.one("displayLanguage") or ""))
        return cls(languages or None, given.flag("abstract"))


def _judge(concept: ExpandedConcept, display: str | None, options: _Options,
           where: str) -> Verdict:
    """A concept that was found: abstract, inactive and display checks."""
    best = concept.display_in(options.languages[0] if options.languages else None)
    if concept.abstract and not options.abstract:
        return Verdict(False, f"The code '{concept.code}' is abstract in {concept.system}: "
                              "not for use in data (abstract=true allows it)", best)
    if display and not _is_display(display, concept, options.languages):
        # Invalid, as tx.fhir.org and the HL7 validator judge it: "True if the concept
        # details supplied are valid", and the display is one of them.
        return Verdict(False, f"The display '{display}' is not a display of the code "
                              f"'{concept.code}' of {concept.system}{where} (it is '{best}')",
                       best)
    if concept.inactive:
        return Verdict(True, f"The code '{concept.code}' is inactive in {concept.system}", best)
    return Verdict(True, None, best)


def _selected_as_abstract(value_set: dict, concept: ExpandedConcept) -> bool:
    """Whether the value set picks an abstract concept by its being notSelectable (`filter
    notSelectable = true`, or `in` true): it chose them, so they are its codes without
    `abstract=true`, as its expansion lists them and tx.fhir.org judges them."""
    index = held_code_system(concept.system, concept.version) if concept.abstract else None
    if index is None:
        return False
    includes = (value_set.get("compose") or {}).get("include") or []
    return any(isinstance(rule, dict) and rule.get("op") in ("=", "in")
               and index.role(str(rule.get("property"))) == "notSelectable"
               and "true" in str(rule.get("value")).replace(" ", "").split(",")
               for include in includes
               if isinstance(include, dict) and include.get("system") == concept.system
               for rule in include.get("filter") or [])


def _is_display(display: str, concept: ExpandedConcept,
                languages: tuple[str, ...] | None) -> bool:
    """One of the concept's displays in `languages` (None: in any): its own (which a value
    set may override), its designations, or its code system's display ("the language to be
    used for description when validating the display property", displayLanguage)."""
    listed = Concept(concept.code, concept.display, designations=concept.designations)
    shown = listed.in_languages(languages, concept.language)
    if is_display_of(display, shown.display, shown.designations):
        return True
    index = held_code_system(concept.system)
    held = index.find(concept.code) if index is not None else None
    if held is None or index is None:
        return False
    shown = held.in_languages(languages, index.language)
    return is_display_of(display, shown.display, shown.designations)


def _answer(verdicts: list[Verdict]) -> dict:
    """Parameters `result`, `message`, `display`: true when any coding is valid."""
    if not verdicts:
        verdicts = [Verdict(False, "The codeableConcept has text only: no code to check")]
    valid = [v for v in verdicts if v.valid]
    shown = valid or verdicts
    messages = [v.message for v in shown if v.message]
    display = next((v.display for v in shown if v.display), None)
    parameters: list[dict] = [{"name": "result", "valueBoolean": bool(valid)}]
    if messages:
        parameters.append({"name": "message", "valueString": "; ".join(messages)})
    if display:
        parameters.append({"name": "display", "valueString": display})
    return {"resourceType": "Parameters", "parameter": parameters}


def validate_in_code_system(given: TerminologyInput, instance: dict | None = None) -> dict:
    """CodeSystem/$validate-code: is the code a (selectable) concept of the code system?"""
    url, version = given.one("url"), given.one("version")
    codings = _codings(given, url or (instance or {}).get("url"), version)
    # Without a url, the codings' system this server holds, with its codes if one is ("true
    # if one of the coding values is in the code system"): a codeableConcept may list a
    # foreign one first, or one of LOINC, known here but not its codes.
    systems = [c["system"] for c in codings if isinstance(c.get("system"), str)]
    system = url or (min(systems, key=_held_rank) if systems else None)
    if system in GRAMMARS and instance is None and held_code_system(system) is None:
        return _answer([_grammar_verdict(coding, system) for coding in codings])
    if (refuted := _refuted_by_syntax(given, instance, system, codings)) is not None:
        return _answer(refuted)
    index = code_system_index(given, instance, system, version, "$validate-code")
    if (refusal := index.refused_as_system()) is not None:
        return _answer([Verdict(False, refusal)])  # as tx.fhir.org answers
    options = _Options.of(given)
    verdicts = []
    for coding in codings:
        if coding.get("system") not in (None, index.url):
            verdicts.append(Verdict(False, f"The coding of {coding['system']} is not of the "
                                           f"code system {index.url}"))
            continue
        named = _version_named(index, coding.get("version"))
        if named is None:
            verdicts.append(Verdict(False, f"The coding names version {coding['version']} of "
                                           f"{index.url}, which is not held here"))
            continue
        concept = named.find(coding["code"])
        if concept is None:
            verdicts.append(Verdict(False, unknown_code(named, coding["code"])))
        else:
            verdicts.append(_judge(expanded_concept(named, concept), coding.get("display"),
                                   options, ""))
    return _answer(verdicts)


def _refuted_by_syntax(given: TerminologyInput, instance: dict | None, system: str | None,
                       codings: list[dict]) -> list[Verdict] | None:
    """Codes of an external code system not held here (ICD-10) that cannot be of it, as they
    lack its syntax; None unless every coding is one (another may be a code of it)."""
    if (system is None or instance is not None or held_code_system(system) is not None
            or given.resource("codeSystem", "CodeSystem") is not None):
        return None
    reasons = [syntax_refutes(system, coding["code"])
               if coding.get("system") in (None, system) else None for coding in codings]
    if not reasons or None in reasons:
        return None
    return [Verdict(False, str(reason)) for reason in reasons]


def _held_rank(system: str) -> int:
    """0 for a code system held with its codes, 1 without them (SNOMED CT), 2 not held."""
    index = held_code_system(system)
    return 2 if index is None else 0 if index.content == "complete" else 1


def _version_named(index: CodeSystemIndex, version: str | None) -> CodeSystemIndex | None:
    """The code system in the version a coding names (none named: the one given)."""
    if version in (None, index.version):
        return index
    return held_code_system(index.url, version)


def _grammar_verdict(coding: dict, system: str) -> Verdict:
    """UCUM, BCP-47 and MIME types are grammars, not lists: a code is valid when it parses
    (its display is the code itself)."""
    code = coding["code"]
    if coding.get("system") not in (None, system):
        return Verdict(False, f"The coding of {coding['system']} is not of the code system "
                              f"{system}")
    if system == UCUM and is_ucum(code) is None:
        return Verdict(True, f"'{code}' is a UCUM expression whose units are not converted "
                             "here", code)
    return Verdict(True, None, code) if grammar_code(system, code) else Verdict(
        False, f"'{code}' is not a valid code of {GRAMMARS[system]} ({system})", None)


def _not_in_value_set(coding: dict, url: str) -> Verdict:
    """Why a code is not in the value set: unknown in the version of its code system it
    names (the held one without a version), or not among the value set's codes."""
    system, code, version = coding["system"], coding["code"], coding.get("version")
    named = f"{system} version {version}" if version else system
    index = held_code_system(system, version)
    if index is not None and index.content == "complete" and index.find(code) is None:
        return Verdict(False, f"Unknown code '{code}' in the code system {named}")
    return Verdict(False, f"The code '{code}' of {named} is not in the value set {url}")


def _unchecked(coding: dict, url: str, value_set: dict, blocking: Expansion) -> Verdict:
    """A code the value set's expansion (its part of the code's system, when that part is
    decided alone) cannot be checked against: false, saying why, where what it needs is not
    held here or a value set it imports is unknown, as CodeSystem/$validate-code answers of
    such a code system (and tx.fhir.org); 400 for a value set in error or too costly."""
    if blocking.issue_code not in (NotHeld.issue_code, UnknownImport.issue_code):
        expanded(value_set, blocking)  # 400, saying why
    return Verdict(False, f"The code '{coding['code']}' of {coding['system']} cannot be "
                          f"checked against the value set {url} here: {blocking.reason}")


def _refused_as_system(system: str) -> str | None:
    index = held_code_system(system)
    return index.refused_as_system() if index is not None else None


def _as_held(system: str, code: str) -> str:
    """The code as its code system writes it (`abc` is `ABC` where case does not count)."""
    index = held_code_system(system)
    concept = index.find(code) if index is not None else None
    return concept.code if concept is not None else code


def validate_in_value_set(given: TerminologyInput, instance: dict | None = None) -> dict:
    """ValueSet/$validate-code: is the code in the value set's expansion?"""
    codings = _codings(given, given.one("system"), given.one("systemVersion"))
    if given.one("code") is not None and not given.one("system"):
        raise BadRequest("$validate-code needs the 'system' of the 'code'", expression="system")
    value_set, result = value_set_expansion(given, instance, "$validate-code")
    url = value_set.get("url", "(the value set given)")
    options = _Options.of(given)
    verdicts = []
    for coding in codings:
        if not coding.get("system"):
            verdicts.append(Verdict(False, f"The coding '{coding['code']}' has no system"))
            continue
        if (refusal := _refused_as_system(coding["system"])) is not None:
            verdicts.append(Verdict(False, refusal))
            continue
        # Not expandable as a whole here (a SNOMED CT filter beside a list of CVX codes), its
        # part of the coding's system may be: that decides.
        part = result if result.concepts is not None else expand_for_system(
            value_set, coding["system"])
        whole = part.concepts is None and includes_whole(value_set, coding["system"])
        if whole and coding["system"] in GRAMMARS:
            verdicts.append(_grammar_verdict(coding, coding["system"]))
            continue
        if whole and (reason := syntax_refutes(coding["system"], coding["code"])) is not None:
            verdicts.append(Verdict(False, f"{reason}, so it is not in the value set {url}"))
            continue
        if part.concepts is None:
            verdicts.append(_unchecked(coding, url, value_set, part if decided_by_system(
                value_set) else result))
            continue
        if not part.concepts and result.concepts is None:
            verdicts.append(Verdict(False, f"The value set {url} includes no code of "
                                           f"{coding['system']}"))
            continue
        concept = part.get(coding["system"], _as_held(coding["system"], coding["code"]))
        if concept is None:
            verdicts.append(_not_in_value_set(coding, url))
        elif coding.get("version") and concept.version not in (None, coding["version"]):
            verdicts.append(Verdict(False, f"The value set {url} has version "
                                           f"{concept.version} of {concept.system}, not "
                                           f"{coding['version']}"))
        else:
            chosen = (replace(options, abstract=True)
                      if _selected_as_abstract(value_set, concept) else options)
            verdicts.append(_judge(concept, coding.get("display"), chosen,
                                   f" in the value set {url}"))
    return _answer(verdicts)
