"""What the ConceptMaps held here map a code to, for messages about a code that is not in a
value set: `77` of the pre-2025 administrative units maps to `79` of the current ones
(`terminology/vn-administrative-units.json`), so a refusal can name the code to send."""

from dataclasses import dataclass
from functools import cache

from fhir_server.conformance.definitions import registry


@dataclass(frozen=True, slots=True)
class Mapped:
    system: str
    code: str
    concept_map: str  # canonical URL of the ConceptMap


@cache  # keyed by definitions only
def _targets() -> dict[tuple[str, str], tuple[Mapped, ...]]:
    """(source system, code) → its targets, over every ConceptMap held."""
    found: dict[tuple[str, str], list[Mapped]] = {}
    for concept_map in registry().all("ConceptMap"):
        for group in concept_map.get("group") or []:
            source, target = group.get("source"), group.get("target")
            if not isinstance(source, str) or not isinstance(target, str):
                continue
            for element in group.get("element") or []:
                for mapped in element.get("target") or []:
                    if mapped.get("code") and mapped.get("equivalence") not in (
                            "unmatched", "disjoint"):
                        found.setdefault((source, element.get("code")), []).append(
                            Mapped(target, mapped["code"], concept_map.get("url", "")))
    return {key: tuple(values) for key, values in found.items()}


def mapped_into(system: str, code: str, allowed: dict[str, frozenset[str]]) -> list[Mapped]:
    """The codes of an expansion (`allowed`: system → codes) a code is mapped to."""
    return [mapped for mapped in _targets().get((system, code), ())
            if mapped.code in allowed.get(mapped.system, ())]
