"""Required bindings of the base StructureDefinitions, with their ValueSets expanded from
the CodeSystems and ValueSets in `terminology/` (http://hl7.org/fhir/R4/valueset.html)."""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
TERMINOLOGY = ROOT / "terminology"

# Element types whose values a required binding constrains here.
_CODED_TYPES = frozenset({"code", "Coding", "CodeableConcept"})


@cache
def _resources_by_url(kind: str) -> dict[str, dict]:
    found = {}
    for path in TERMINOLOGY.glob(f"{kind}-*.json"):
        resource = json.loads(path.read_text(encoding="utf-8"))
        found[resource["url"]] = resource
    return found


def _concept_codes(concepts: list[dict]) -> set[str]:
    """The codes of a CodeSystem's concepts, nested ones included."""
    codes = set()
    for concept in concepts:
        codes.add(concept["code"])
        codes |= _concept_codes(concept.get("concept", []))
    return codes


@cache
def expand(value_set_url: str) -> dict[str, frozenset[str]] | None:
    """system → codes of a ValueSet, or None when it cannot be expanded from local files
    (http://hl7.org/fhir/R4/valueset.html#compositions)."""
    value_set = _resources_by_url("ValueSet").get(value_set_url.split("|")[0])
    if value_set is None or "compose" not in value_set or "exclude" in value_set["compose"]:
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
    return {system: frozenset(codes) for system, codes in systems.items()} or None


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
    path = PROFILES / f"StructureDefinition-{resource_type}.json"
    if not path.is_file():
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
