"""Required bindings of the base StructureDefinitions, with their ValueSets expanded from
the CodeSystems and ValueSets of the registry (http://hl7.org/fhir/R4/valueset.html)."""

from dataclasses import dataclass
from functools import cache

from fhir_server.conformance.code_systems import per_registry
from fhir_server.conformance.definitions import registry
from fhir_server.conformance.expansion import expansion

# Element types whose values a required binding constrains here.
_CODED_TYPES = frozenset({"code", "Coding", "CodeableConcept"})


@per_registry
def expand(value_set_url: str) -> dict[str, frozenset[str]] | None:
    """system → the codes data may use from a ValueSet (abstract ones left out), or None when
    it cannot be expanded from what the registry holds (`expansion(url).reason` says why)
    (http://hl7.org/fhir/R4/valueset.html#compositions)."""
    return expansion(value_set_url).codes() or None


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
