"""Invariants: the error constraints of ElementDefinitions, FHIRPath expressions evaluated
with fhirpathpy (http://hl7.org/fhir/R4/conformance-rules.html#constraints,
http://hl7.org/fhir/R4/fhirpath.html).

fhirpathpy costs 0.1-1 ms per evaluation, so an invariant is evaluated only where it can
fail: most read a few elements by name (`dataAbsentReason.empty() or value.empty()`), and
on an object holding none of them they give what they give on `{}`, computed once.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from fhir_server.conformance.ordering import (
    out_of_order,
    probability_above_certainty,
    range_out_of_order,
)

# Constraints the validation walk checks itself, faster and with better messages.
NATIVE = {
    "ele-1": "every element has a value or children: checked on each JSON object",
    "ext-1": "an extension has a value or nested extensions, not both: checked on each one",
    "dom-2": "a contained resource contains no resources: checked on each one",
    "ref-1": "a local reference (#id) names a contained resource: checked on each Reference"
    " (the most frequent data type; 0.4 ms each with fhirpathpy)",
    "bdl-3": "entry.request exactly in batch/transaction/history: bundle_rules.py, one pass"
    " (0.3-0.5 ms per entry in fhirpathpy, seconds for a Bundle of thousands)",
    "bdl-4": "entry.response exactly in responses and history: bundle_rules.py",
    "bdl-7": "fullUrl unique in a Bundle (but for versions and history): bundle_rules.py",
    "bdl-2": "entry.search only in a searchset: bundle_rules.py",
    "bdl-8": "no version-specific fullUrl: bundle_rules.py",
    "txt-1": "only basic XHTML in a narrative (htmlChecks(), which fhirpathpy lacks):"
    " narrative.py",
    "txt-2": "a narrative has content (htmlChecks()): narrative.py, as a warning",
    "dom-3": "every contained resource is referenced (or refers to its container): the local"
    " references are gathered during the walk (fhirpathpy runs descendants() for each"
    " contained resource, too slow for large resources)",
}
# Constraints evaluated here instead of by fhirpathpy, which gets them wrong (ordering.py):
# expression → whether the value violates it. By expression, since keys are not unique
# (Task's inv-1 compares dates, Parameters' counts values).
EVALUATED_HERE: dict[str, Callable[[object], bool]] = {
    # per-1
    "start.hasValue().not() or end.hasValue().not() or (start <= end)":
        out_of_order("start", "end"),
    # mdd-1
    "whenHandedOver.empty() or whenPrepared.empty() or whenHandedOver >= whenPrepared":
        out_of_order("whenPrepared", "whenHandedOver"),
    # Task's inv-1
    "lastModified.exists().not() or authoredOn.exists().not() or lastModified >= authoredOn":
        out_of_order("authoredOn", "lastModified"),
    # rng-2
    "low.empty() or high.empty() or (low <= high)": range_out_of_order,
    # ras-2
    "probability is decimal implies (probability as decimal) <= 100":
        probability_above_certainty,
}
# Constraints not evaluated, and why.
SKIPPED = {
    "ctm-1": "resolve() needs the referenced resource, which validation does not read",
    "que-7": "`answer is Boolean`: fhirpathpy does not take a FHIR boolean for a System"
    " Boolean, so valid answers fail (official example Questionnaire-bb)",
}
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
# What reads the context other than by element name: $this, variables other than %ucum,
# and functions called on the context itself (no `.` before them), except iif().
_READS_CONTEXT = re.compile(r"\$this|%(?!ucum\b)|(?<![.\w])(?!iif\()[A-Za-z]\w*\(")
# The names a path starts with (not after a `.`): what it reads of the context.
_NAME = re.compile(r"(?<![.\w])[A-Za-z_]\w*")
# JSON values whose repr is what they are (Decimal: a number read with its precision).
_PRIMITIVES = (str, int, float, bool, Decimal)


@dataclass(frozen=True, slots=True)
class Invariant:
    """One ElementDefinition.constraint of severity error."""

    key: str
    human: str
    expression: str
    names: frozenset[str] | None  # the names it reads of its context; None: it reads more


def _names(expression: str) -> frozenset[str] | None:
    body = _STRING.sub("''", expression)
    names = frozenset(_NAME.findall(body))
    # A type name (`Appointment.status`, `is Boolean`) reads the context through its type.
    if _READS_CONTEXT.search(body) or any(name[0].isupper() for name in names):
        return None
    return names


def answers_to(value: dict, name: str) -> bool:
    """Whether an object holds the element `name`: under that key, its primitive's `_name`,
    or as a choice of it (`valueQuantity`, `defaultValueBoolean` of `defaultValue`)."""
    return any(_is_named(key, name) for key in value)


def _is_named(key: str, name: str) -> bool:
    key = key.lstrip("_")
    return key == name or (key.startswith(name) and key[len(name):len(name) + 1].isupper())


def element_invariants(element: dict) -> tuple[Invariant, ...]:
    """The invariants of an ElementDefinition evaluated here: severity error, neither
    native nor skipped."""
    return tuple(
        Invariant(constraint["key"], constraint.get("human", ""), constraint["expression"],
                  _names(constraint["expression"]))
        for constraint in element.get("constraint", ())
        if constraint.get("severity") == "error"
        and "expression" in constraint
        and constraint["key"] not in NATIVE
        and constraint["key"] not in SKIPPED
    )


def _ignore_trace(*_: object) -> None:
    """trace() prints by default."""


def _has_value(inputs: list) -> bool:
    """FHIRPath hasValue(), which fhirpathpy lacks: one primitive with a value
    (http://hl7.org/fhir/R4/fhirpath.html#functions); used by per-1, age-1, cnt-3, bdl-10."""
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict)


_OPTIONS = {"traceFn": _ignore_trace, "userInvocationTable": {"hasValue": {"fn": _has_value}}}


@cache  # expressions come from the definitions, never from a request
def _compiled(expression: str):
    return fhirpathpy.compile(expression, models["r4"], _OPTIONS)


def _evaluates_false(invariant: Invariant, value: object, type_path: str, resource: dict,
                     root: dict) -> bool:
    variables = {"resource": _typed(resource), "rootResource": _typed(root)}
    # A resource goes in as it is: fhirpathpy resolves `Appointment.status` only on that;
    # its %context is typed apart.
    if isinstance(value, dict) and "resourceType" in value:
        variables["context"] = _typed(value)
    else:
        value = ResourceNode.create_node(value, type_path)
    try:
        result = _compiled(invariant.expression)(value, variables)
    except Exception:  # whatever fhirpathpy cannot evaluate is not evaluated, never a rejection
        return False
    # Nothing is not true: a constraint on an element that is absent (`repeats = true or
    # initial.count() <= 1` without `repeats`) is broken, as the HL7 validator judges it.
    return result in ([False], [])


def _typed(resource: dict) -> object:
    """A resource as a typed node: a plain dict's `type()` is `Object`, not its resourceType
    (`%resource.type().name = 'Patient'`, fhirpath.html#variables)."""
    return ResourceNode.create_node(resource, resource.get("resourceType"))


@cache  # keyed by definitions only
def _fails_on_nothing(invariant: Invariant, type_path: str) -> bool:
    return _evaluates_false(invariant, {}, type_path, {}, {})


def is_violated(invariant: Invariant, value: object, type_path: str, resource: dict,
                root: dict, known: dict | None = None) -> bool:
    """True when the invariant evaluates to false on `value` (an instance of the element or
    type at `type_path`); an expression fhirpathpy cannot evaluate counts as satisfied.
    `known`: the results of one validation so far, by the primitive values an invariant
    reads: a resource of many like elements (a Questionnaire of 9,000 items took 5 s) has
    each invariant evaluated once per distinct reading, not once per element."""
    if (here := EVALUATED_HERE.get(invariant.expression)) is not None:
        return here(value)
    if invariant.names is None or not isinstance(value, dict):
        return _evaluates_false(invariant, value, type_path, resource, root)
    read = [(key, part) for key, part in value.items() if _reads(invariant.names, key)]
    if not read:
        return _fails_on_nothing(invariant, type_path)
    if known is None or not all(isinstance(part, _PRIMITIVES) for _, part in read):
        # Objects and arrays are not keys: their repr would cost as much as evaluating.
        return _evaluates_false(invariant, value, type_path, resource, root)
    reading = (invariant.expression, type_path, repr(read))
    if (result := known.get(reading)) is None:
        result = known[reading] = _evaluates_false(invariant, value, type_path, resource, root)
    return result


def _reads(names: frozenset[str], key: str) -> bool:
    """Whether an invariant reading `names` reads the object's `key` (`answers_to`)."""
    return any(_is_named(key, name) for name in names)
