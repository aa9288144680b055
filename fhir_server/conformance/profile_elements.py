"""A profile's snapshot compiled, once, into the tree of the rules it adds to its base
definition (http://hl7.org/fhir/R4/profiling.html, http://hl7.org/fhir/R4/elementdefinition.html).

Each ElementDefinition is compared with the one of the base R4 type it constrains (its
`base.path`): what the base validation already checks (its cardinality, bindings and
invariants) is left out, and so are elements that add nothing, with all their descendants.
Checking a resource then visits only what the profile constrains."""

import re
from dataclasses import dataclass, field
from functools import cache

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.invariants import Invariant, element_invariants
from fhir_server.conformance.messages import Phrase, phrase
from fhir_server.conformance.profile_bindings import BINDABLE, Binding, binding
from fhir_server.conformance.structure import COMPLEX, RESOURCE, max_of, type_kind
from fhir_server.conformance.type_codes import CORE, choice_name, type_code_of

# The value of an element that has no fixed[x] or pattern[x].
MISSING = object()
# Type codes whose values are not of their own data type.
_NOT_DATA_TYPES = frozenset({"BackboneElement", "Element", "Resource"})


class ProfileUnavailable(Exception):
    """A profile that cannot be used: unknown, or its snapshot cannot be made (`reason`)."""

    def __init__(self, reason: Phrase):
        super().__init__(str(reason))
        self.reason = reason


def profile_snapshot(url: str) -> tuple[dict, list[dict]]:
    """(StructureDefinition, snapshot elements) of a profile of the registry: the one place
    the profile engine reads snapshots (those of packages, or generated from differentials
    by the registry). Raises ProfileUnavailable saying why not."""
    definition = registry().structure_definition(url)
    if definition is None:
        raise ProfileUnavailable(phrase("profile.not-known"))
    if "snapshot" not in definition:
        errors = getattr(registry(), "profile_errors", {})
        raise ProfileUnavailable(errors.get(definition.get("url"), phrase("profile.no-snapshot")))
    return definition, definition["snapshot"]["element"]


def canonical(url: str) -> str:
    return url.split("|")[0]


@dataclass(eq=False, slots=True)
class Slicing:
    """ElementDefinition.slicing with its slices (http://hl7.org/fhir/R4/profiling.html#slicing);
    `tests[i]` tells whether a value belongs to slice i, built by `slicing.py`."""

    ordered: bool
    rules: str  # open, closed, openAtEnd
    slices: list["Rules"] = field(default_factory=list)
    tests: list[tuple] = field(default_factory=list)
    usable: bool = True  # some discriminator can tell the slices apart
    lookup: tuple[tuple[str, ...], dict] | None = None  # slice by fixed strings
    problems: list[tuple[str, str, dict]] = field(default_factory=list)  # (id, code, params)


@dataclass(eq=False, slots=True)
class Rules:
    """What one ElementDefinition of a profile adds to its base."""

    id: str  # Patient.identifier:cccd.value
    name: str  # the last step of the path: value[x]
    slice_name: str | None
    json_names: dict[str, str]  # JSON name → type: valueQuantity → Quantity
    kind: str  # PRIMITIVE, COMPLEX or RESOURCE
    repeats: bool  # a JSON array (the base's max is not 1)
    min: int
    max: int | None
    check_min: bool
    check_max: bool
    type_path: str  # what fhirpathpy evaluates invariants on: a type or a base path
    allowed_types: frozenset[str] | None = None
    type_profiles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    target_types: frozenset[str] | None = None
    fixed: object = MISSING
    pattern: object = MISSING
    binding: Binding | None = None
    max_length: int | None = None
    min_value: tuple[str, object] | None = None  # (type, limit)
    max_value: tuple[str, object] | None = None
    invariants: tuple[tuple[Invariant, str], ...] = ()  # (invariant, severity)
    children: list["Rules"] = field(default_factory=list)
    slicing: Slicing | None = None
    checks_value: bool = True  # rules on the value itself
    per_value: bool = True  # rules on each value or its children, not only on how many

    def compute_per_value(self) -> None:
        self.checks_value = bool(
            self.allowed_types is not None or self.type_profiles
            or self.target_types is not None or self.fixed is not MISSING
            or self.pattern is not MISSING or self.binding or self.max_length is not None
            or self.min_value or self.max_value or self.invariants
        )
        self.per_value = self.checks_value or bool(self.children or self.slicing)

    @property
    def stem(self) -> str:
        return self.name.removesuffix("[x]")

    def adds_rules(self) -> bool:
        return bool(
            self.check_min or self.check_max or self.allowed_types is not None
            or self.type_profiles or self.target_types is not None or self.fixed is not MISSING
            or self.pattern is not MISSING or self.binding or self.max_length is not None
            or self.min_value or self.max_value or self.invariants or self.children
            or self.slicing or self.slice_name
        )


@cache  # keyed by core type names
def _base_elements(type_name: str) -> dict[str, dict]:
    definition = registry().structure_definition(type_name)
    if definition is None or "snapshot" not in definition:
        return {}
    return {element["path"]: element for element in definition["snapshot"]["element"]}


def base_element(element: dict) -> dict | None:
    """The ElementDefinition of the base R4 type that `element` constrains."""
    path = element.get("base", {}).get("path") or element["path"]
    return _base_elements(path.split(".")[0]).get(path)


def _types(element: dict) -> list[str]:
    return [type_code_of(entry, element) for entry in element.get("type", ())]


def _type_profiles(element: dict) -> dict[str, tuple[str, ...]]:
    """type → profiles of ElementDefinition.type.profile, other than the type itself."""
    found = {}
    for entry in element.get("type", ()):
        urls = tuple(canonical(url) for url in entry.get("profile", ())
                     if canonical(url) != CORE + entry["code"])
        if urls:
            found[entry["code"]] = urls
    return found


def _target_profiles(element: dict) -> frozenset[str]:
    return frozenset(canonical(url) for entry in element.get("type", ())
                     for url in entry.get("targetProfile", ()))


def _target_types(element: dict) -> frozenset[str] | None:
    """The resource types a Reference may point to, None for any."""
    types = set()
    for entry in element.get("type", ()):
        for url in entry.get("targetProfile", ()):
            target = registry().structure_definition(canonical(url))
            if target is None or target["type"] == "Resource":
                return None  # an unknown profile: its type is unknown
            types.add(target["type"])
    return frozenset(types) or None


def _choice(element: dict, prefix: str) -> tuple[str, object] | None:
    """(JSON name suffix, value) of fixed[x], pattern[x], minValue[x] or maxValue[x]."""
    return next(((key[len(prefix):], value) for key, value in element.items()
                 if key.startswith(prefix) and key[len(prefix):][:1].isupper()), None)


# `a.exists() or b.exists()`, `x.empty() or y.empty()`: invariants on the presence of
# children, evaluated natively (fhirpathpy takes ~0.2 ms for one).
_PRESENCE_TERM = re.compile(r"\(?\s*([a-z]\w*)\.(exists|empty)\(\)\s*\)?")


@cache  # expressions come from the definitions
def presence_test(expression: str) -> tuple[str, tuple[tuple[str, bool], ...]] | None:
    """(or|and, ((name, must exist), ...)) of a presence invariant, None for others."""
    parts = re.split(r"\s+(or|and)\s+", expression.strip())
    operators = set(parts[1::2])
    terms = [_PRESENCE_TERM.fullmatch(term.strip()) for term in parts[0::2]]
    if len(operators) > 1 or not all(terms):
        return None
    return (operators.pop() if operators else "or",
            tuple((t.group(1), t.group(2) == "exists") for t in terms if t))


def _invariants(element: dict, base: dict | None) -> tuple[tuple[Invariant, str], ...]:
    """The constraints the profile adds, errors and warnings, compiled as the base's are."""
    known = {c["key"] for c in (base or {}).get("constraint", ())}
    added = [c for c in element.get("constraint", ())
             if c.get("key") not in known and c.get("severity") in ("error", "warning")]
    severity = {c["key"]: c["severity"] for c in added}
    compiled = element_invariants({"constraint": [dict(c, severity="error") for c in added]})
    return tuple((invariant, severity[invariant.key]) for invariant in compiled)


def _binding(element: dict, base: dict | None, types: list[str]) -> Binding | None:
    found = element.get("binding", {})
    if not found.get("valueSet") or not BINDABLE.intersection(types):
        return None
    before = (base or {}).get("binding", {})
    if found.get("strength") == "required" and (found["valueSet"] == before.get("valueSet")
                                               and before.get("strength") == "required"):
        return None  # the base validation checks it
    return binding(found.get("strength", ""), found["valueSet"])


def compile_rules(element: dict, base: dict | None, slice_of: Rules | None) -> Rules:
    """The rules of one ElementDefinition (`slice_of`: the element it is a slice of)."""
    name = element["path"].rsplit(".", 1)[-1]
    base = base or element
    base_types = _types(base) or ["BackboneElement"]
    types = _types(element) or base_types
    json_names = {
        (choice_name(name[:-3], code) if name.endswith("[x]") else name): code
        for code in base_types
    }
    kinds = {RESOURCE if code == "Resource" else COMPLEX if code in _NOT_DATA_TYPES
             else type_kind(code) for code in base_types}
    kind = kinds.pop() if len(kinds) == 1 else COMPLEX
    base_max = max_of(base)
    maximum = max_of(element)
    minimum = element.get("min", 0)
    sliced = slice_of is not None
    is_resource_root = "." not in element["path"]
    fixed, pattern = _choice(element, "fixed"), _choice(element, "pattern")
    max_length = element.get("maxLength")
    return Rules(
        id=element.get("id", element["path"]),
        name=name,
        slice_name=element.get("sliceName"),
        json_names=json_names,
        kind=kind,
        repeats=base.get("base", base).get("max", "*") != "1",
        min=minimum,
        max=maximum,
        check_min=not is_resource_root and (minimum > base.get("min", 0) or (sliced
                                                                          and minimum > 0)),
        check_max=not is_resource_root and maximum is not None and (
            sliced or base_max is None or maximum < base_max),
        type_path=(types[0] if len(types) == 1 and types[0] not in _NOT_DATA_TYPES
                   else base["path"]),
        allowed_types=(frozenset(types) if set(types) < set(base_types) or (
            "Resource" in base_types and set(types) != {"Resource"}) else None),
        type_profiles=({} if _type_profiles(element) == _type_profiles(base)
                       else _type_profiles(element)),
        # A profile's own targets are its rule even when they are the base's types
        # (`Reference(vn-core-encounter)` where the base says `Reference(Encounter)`): the
        # base only warns of a wrong target type.
        target_types=(None if _target_profiles(element) == _target_profiles(base)
                      else _target_types(element)),
        fixed=fixed[1] if fixed else MISSING,
        pattern=pattern[1] if pattern else MISSING,
        binding=None if fixed else _binding(element, base, types),  # fixed: the value is set
        max_length=max_length if max_length != base.get("maxLength") else None,
        min_value=_choice(element, "minValue"),
        max_value=_choice(element, "maxValue"),
        invariants=_invariants(element, base),
    )

