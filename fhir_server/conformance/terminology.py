"""Required bindings of the base StructureDefinitions, with their ValueSets expanded from
the CodeSystems and ValueSets in `terminology/` (http://hl7.org/fhir/R4/valueset.html)."""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
TERMINOLOGY = ROOT / "terminology"


@cache
def _resources_by_url(kind: str) -> dict[str, dict]:
    found = {}
    for path in TERMINOLOGY.glob(f"{kind}-*.json"):
        resource = json.loads(path.read_text(encoding="utf-8"))
        found[resource["url"]] = resource
    return found


def _concept_codes(concepts: list[dict]) -> set[str]:
    codes = set()
    for concept in concepts:
        codes.add(concept["code"])
        codes |= _concept_codes(concept.get("concept", []))
    return codes


@cache
def expand(value_set_url: str) -> dict[str, frozenset[str]] | None:
    """system → codes of a ValueSet, or None when it cannot be expanded locally."""
    value_set = _resources_by_url("ValueSet").get(value_set_url.split("|")[0])
    if value_set is None or "compose" not in value_set:
        return None
    systems: dict[str, set[str]] = {}
    for include in value_set["compose"].get("include", []):
        if "valueSet" in include or "filter" in include or "system" not in include:
            return None
        if "concept" in include:
            codes = {concept["code"] for concept in include["concept"]}
        else:
            code_system = _resources_by_url("CodeSystem").get(include["system"])
            if code_system is None or code_system.get("content") != "complete":
                return None
            codes = _concept_codes(code_system.get("concept", []))
        systems.setdefault(include["system"], set()).update(codes)
    return {system: frozenset(codes) for system, codes in systems.items()}


@dataclass(frozen=True)
class RequiredBinding:
    steps: list[str]
    element_type: str
    value_set: str
    allowed: dict[str, frozenset[str]]

    def problems(self, value: object) -> list[str]:
        all_codes = frozenset().union(*self.allowed.values())
        if self.element_type == "code":
            if isinstance(value, str) and value not in all_codes:
                return [f"'{value}' is not in the required value set {self.value_set}"]
            return []
        codings = value.get("coding", []) if self.element_type == "CodeableConcept" else [value]
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
    """The locally checkable required bindings of a resource type's base definition."""
    path = PROFILES / f"StructureDefinition-{resource_type}.json"
    if not path.exists():
        return ()
    definition = json.loads(path.read_text(encoding="utf-8"))
    bindings = []
    for element in definition["snapshot"]["element"]:
        binding = element.get("binding", {})
        types = [t["code"] for t in element.get("type", [])]
        if (
            binding.get("strength") != "required"
            or "valueSet" not in binding
            or len(types) != 1
            or "[x]" in element["path"]
        ):
            continue
        allowed = expand(binding["valueSet"])
        if allowed:
            steps = element["path"].split(".")[1:]
            bindings.append(RequiredBinding(steps, types[0], binding["valueSet"], allowed))
    return tuple(bindings)
