"""Required bindings of the base StructureDefinitions, with their ValueSets expanded from
the CodeSystems and ValueSets of the registry (http://hl7.org/fhir/R4/valueset.html)."""

from dataclasses import dataclass
from functools import cache

from fhir_server.conformance.definitions import registry

# Element types whose values a required binding constrains here.
_CODED_TYPES = frozenset({"code", "Coding", "CodeableConcept"})


def _terminology(kind: str, url: str) -> dict | None:
    found = registry().resolve(url)
    return found if found is not None and found["resourceType"] == kind else None


def _concept_codes(concepts: list[dict]) -> set[str]:
    """The codes of a CodeSystem's concepts, nested ones included."""
    codes = set()
    for concept in concepts:
        codes.add(concept["code"])
        codes |= _concept_codes(concept.get("concept", []))
    return codes


def _find_concept(concepts: list[dict], code: str) -> dict | None:
    for concept in concepts:
        if concept["code"] == code:
            return concept
        if (found := _find_concept(concept.get("concept", []), code)) is not None:
            return found
    return None


@cache
def displays(system: str) -> dict[str, str] | None:
    """code → display ("" when it has none) of every concept of a CodeSystem the registry
    holds, nested ones included; None for a system it does not hold."""
    code_system = _terminology("CodeSystem", system)
    if code_system is None:
        return None
    found: dict[str, str] = {}
    pending = list(code_system.get("concept", []))
    while pending:
        concept = pending.pop()
        found[concept["code"]] = concept.get("display", "")
        pending += concept.get("concept", [])
    return found


def _filtered_codes(code_system: dict, filters: list[dict]) -> set[str] | None:
    """Codes an `is-a`/`descendent-of` filter selects in a nested hierarchy, or None for
    filters this server cannot evaluate."""
    codes = None
    for rule in filters:
        if rule.get("property") != "concept" or rule.get("op") not in ("is-a", "descendent-of"):
            return None
        root = _find_concept(code_system.get("concept", []), rule.get("value", ""))
        if root is None:
            return None
        selected = _concept_codes(root.get("concept", []))
        if rule["op"] == "is-a":
            selected.add(root["code"])
        codes = selected if codes is None else codes & selected
    return codes


def _component_codes(component: dict) -> tuple[str, set[str]] | None:
    """(system, codes) of one include/exclude, or None when not expandable locally."""
    if "valueSet" in component or "system" not in component:
        return None
    if "concept" in component:
        return component["system"], {concept["code"] for concept in component["concept"]}
    code_system = _terminology("CodeSystem", component["system"])
    if code_system is None or code_system.get("content") != "complete":
        return None
    if "filter" in component:
        codes = _filtered_codes(code_system, component["filter"])
        return None if codes is None else (component["system"], codes)
    return component["system"], _concept_codes(code_system.get("concept", []))


@cache
def expand(value_set_url: str) -> dict[str, frozenset[str]] | None:
    """system → codes of a ValueSet, or None when it cannot be expanded from local files
    (http://hl7.org/fhir/R4/valueset.html#compositions)."""
    value_set = _terminology("ValueSet", value_set_url)
    if value_set is None or "compose" not in value_set:
        return None
    systems: dict[str, set[str]] = {}
    for include in value_set["compose"].get("include", []):
        found = _component_codes(include)
        if found is None:
            return None
        systems.setdefault(found[0], set()).update(found[1])
    for exclude in value_set["compose"].get("exclude", []):
        found = _component_codes(exclude)
        if found is None:
            return None
        systems.get(found[0], set()).difference_update(found[1])
    return {system: frozenset(codes) for system, codes in systems.items()} or None


def implicit_system(resource_type: str, path: str) -> str | None:
    """The one code system of a `code` element's required binding: what a token search
    `system|code` means for it (e.g. Patient.gender → administrative-gender)."""
    for binding in required_bindings(resource_type):
        if binding.element_type == "code" and ".".join(binding.steps) == path:
            return next(iter(binding.allowed)) if len(binding.allowed) == 1 else None
    return None


@dataclass(frozen=True)
class RequiredBinding:
    """One element bound with strength `required` to a locally expandable ValueSet
    (http://hl7.org/fhir/R4/terminologies.html#required)."""

    steps: tuple[str, ...]
    element_type: str
    value_set: str
    allowed: dict[str, frozenset[str]]
    codes: frozenset[str]

    def problems(self, value: object) -> list[str]:
        """What is wrong with one value of the element (empty when it conforms)."""
        if self.element_type == "code":
            if isinstance(value, str) and value not in self.codes:
                return [f"'{value}' is not in the required value set {self.value_set}"]
            return []
        if not isinstance(value, dict):
            return []
        codings = value.get("coding") if self.element_type == "CodeableConcept" else [value]
        if not isinstance(codings, list):
            return []
        return [
            f"'{coding.get('code')}' is not a code of {coding['system']} in the required "
            f"value set {self.value_set}"
            for coding in codings
            if isinstance(coding, dict)
            and coding.get("system") in self.allowed
            and coding.get("code") not in self.allowed[coding["system"]]
        ]


@cache
def required_bindings(resource_type: str) -> tuple[RequiredBinding, ...]:
    """The locally checkable required bindings of a resource type's base definition;
    choice elements ([x]) are skipped."""
    definition = registry().structure_definition(resource_type)
    if definition is None:
        return ()
    bindings = []
    for element in definition["snapshot"]["element"]:
        binding = element.get("binding", {})
        types = [t["code"] for t in element.get("type", [])]
        if (
            binding.get("strength") != "required"
            or "valueSet" not in binding
            or len(types) != 1
            or types[0] not in _CODED_TYPES
            or "[x]" in element["path"]
        ):
            continue
        allowed = expand(binding["valueSet"])
        if allowed:
            bindings.append(
                RequiredBinding(
                    steps=tuple(element["path"].split(".")[1:]),
                    element_type=types[0],
                    value_set=binding["valueSet"].split("|")[0],
                    allowed=allowed,
                    codes=frozenset().union(*allowed.values()),
                )
            )
    return tuple(bindings)
