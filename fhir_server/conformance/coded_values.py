"""The checks of coded values besides their structure: a required binding, the system of a
Coding or Identifier, a Coding's code and display in a code system held in full, a UCUM
Quantity's unit (http://hl7.org/fhir/R4/terminologies.html, datatypes.html#Coding)."""

import re

from fhir_server.conformance.code_systems import code_system, find, is_display_of, versions
from fhir_server.conformance.messages import issue
from fhir_server.conformance.profile_bindings import Binding, binding_issues
from fhir_server.conformance.terminology import RequiredBinding
from fhir_server.conformance.units import QUANTITY_TYPES, UCUM, base_form, is_ucum
from fhir_server.errors import Issue

# A URI with a scheme (RFC 3986 §3.1): `http://loinc.org`, `urn:oid:2.16.840.1.113883`.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def coded_value_issues(type_code: str, required: RequiredBinding | None, value: dict,
                       expression: str) -> list[Issue]:
    """The problems of one value of a complex type at `expression` (its element bound
    `required`ly or not)."""
    issues = required_binding_issues(required, value, expression) if required else []
    if type_code in ("Coding", "Identifier"):
        issues += _system_issues(value.get("system"), expression)
    if type_code == "Coding":
        issues += _value_set_as_system(value.get("system"), expression)
        issues += _supplement_as_system(value.get("system"), expression)
        issues += _coding_issues(value, expression)
    elif type_code in QUANTITY_TYPES and value.get("system") == UCUM:
        issues += _ucum_issues(value.get("code"), expression)
        if type_code in _DIMENSIONS:
            issues += _dimension_issues(type_code, value.get("code"), expression)
    return issues


def required_binding_issues(required: RequiredBinding, value: object,
                            expression: str) -> list[Issue]:
    """A value of an element bound `required`ly, a code or a coded type
    (http://hl7.org/fhir/R4/terminologies.html#required)."""
    compiled = Binding("required", required.value_set, required.allowed)
    return binding_issues(compiled, value, required.element_type, expression)


def _system_issues(system: object, expression: str) -> list[Issue]:
    """A Coding's or Identifier's system is an absolute URI: `loinc` names nothing anyone
    else can resolve (the HL7 validator's TERMINOLOGY_TX_SYSTEM_RELATIVE, an error)."""
    if isinstance(system, str) and system and not _ABSOLUTE_URI.match(system):
        return [issue("relative-system", "value", f"{expression}.system",
                      expression=f"{expression}.system", system=system)]
    return []


def _held_in_full(system: str) -> bool:
    """Whether the code system is held here with all its codes, in some version (of SNOMED
    CT or LOINC no version is checked, so one naming a version is not judged either)."""
    index = code_system(system)
    return index is not None and index.content == "complete"


def _value_set_as_system(system: object, expression: str) -> list[Issue]:
    """A ValueSet's URL as a Coding's system, a common mistake (the HL7 validator's
    Terminology_TX_System_ValueSet). A warning, not its error: VN Core's Observation
    profiles fix `category` to such a system, and their instances must be stored."""
    if (isinstance(system, str) and code_system(system) is None
            and find("ValueSet", system) is not None):
        return [issue("system-is-value-set", "value", f"{expression}.system",
                      severity="warning", expression=f"{expression}.system", system=system)]
    return []


def _supplement_as_system(system: object, expression: str) -> list[Issue]:
    """A supplement's URL as a Coding's system: it defines no code (codesystem.html
    #supplements); an error, as the HL7 validator and tx.fhir.org give it."""
    index = code_system(system) if isinstance(system, str) else None
    if index is not None and index.refused_as_system() is not None:
        return [issue("system-is-supplement", "invalid", f"{expression}.system",
                      expression=f"{expression}.system", system=system)]
    return []


def _coding_issues(coding: dict, expression: str) -> list[Issue]:
    """A Coding of a code system held in full: its code is one of the system's, and its
    display one of the code's displays (warnings, as the HL7 validator gives: a code the
    system does not define, a wrong name for a right code)."""
    system, code, display = (coding.get(key) for key in ("system", "code", "display"))
    if not (isinstance(system, str) and isinstance(code, str)):
        return []
    version = coding.get("version")
    index = code_system(f"{system}|{version}" if isinstance(version, str) else system)
    if index is None and isinstance(version, str) and _held_in_full(system):
        # The HL7 validator's UNKNOWN_CODESYSTEM_VERSION: the code is not checked at all.
        held = versions("CodeSystem", system)
        return [issue("unknown-code-system-version", "not-found", f"{expression}.version",
                      severity="warning", expression=f"{expression}.version", system=system,
                      version=version, held=", ".join(held))]
    if index is None or index.content != "complete":
        return []
    concept = index.find(code)
    if concept is None:
        return [issue("unknown-code", "code-invalid", f"{expression}.code", severity="warning",
                      expression=f"{expression}.code", concept_code=code, system=system,
                      version=index.version or "")]
    if isinstance(display, str) and not is_display_of(display, concept.display,
                                                      concept.designations):
        return [issue("wrong-display", "invalid", f"{expression}.display", severity="warning",
                      expression=f"{expression}.display", display=display, concept_code=code,
                      system=system, expected=concept.display or code)]
    return []


def _ucum_issues(code: object, expression: str) -> list[Issue]:
    """A UCUM Quantity's code is a UCUM expression (a warning: `mcg` is `ug`)."""
    if isinstance(code, str) and is_ucum(code) is False:
        return [issue("ucum-invalid", "code-invalid", f"{expression}.code", severity="warning",
                      expression=f"{expression}.code", unit=code)]
    return []


# The types whose UCUM unit "SHALL be an expression of" one dimension (age-1, drt-1, dis-1,
# in words their FHIRPath leaves out), as R4's maxValueSet of each has them (all-time-units,
# all-distance-units: UCUM's units whose canonical unit is the second, the metre): the base
# unit, and the message of a unit of another.
_DIMENSIONS = {"Age": ("s", "not-a-time-unit"), "Duration": ("s", "not-a-time-unit"),
               "Distance": ("m", "not-a-length-unit")}


def _dimension_issues(type_code: str, code: object, expression: str) -> list[Issue]:
    """An Age's or Duration's unit of no time, a Distance's of no length: the HL7
    validator's error. A code read as no UCUM unit has its own warning."""
    form = base_form(code) if isinstance(code, str) else None
    base, message = _DIMENSIONS[type_code]
    if form is None or form.key == base:
        return []
    return [issue(message, "code-invalid", f"{expression}.code",
                  expression=f"{expression}.code", unit=code, type=type_code)]
