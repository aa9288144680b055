"""A profile compiled once into its tree of rules (`Rules`, `profile_elements.py`) with its
slicings (`slicing.py`): what validating an instance against it walks
(http://hl7.org/fhir/R4/profiling.html)."""

from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from fhir_server.conformance.profile_elements import (
    ProfileUnavailable,
    Rules,
    base_element,
    compile_rules,
    profile_snapshot,
)
from fhir_server.conformance.slicing import compile_slicing
from fhir_server.conformance.snapshots import ProfileError


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """A profile's rules, and what of the profile itself is in error (message id, issue code,
    parameters)."""

    url: str
    type: str
    root: Rules
    problems: tuple[tuple[str, str, dict], ...]


def _prune(rules: Rules) -> None:
    """Drop the children that add nothing to the base definition, deepest first."""
    for child in rules.children:
        _prune(child)
    for piece in rules.slicing.slices if rules.slicing else ():
        _prune(piece)
    rules.children = [child for child in rules.children if child.adds_rules()]
    rules.compute_per_value()


def profile_problem(url: str) -> str | None:
    """Why a profile of the registry cannot be used (its base is not installed, its rules
    contradict), or None when it can."""
    try:
        compiled_profile(url)
    except (ProfileUnavailable, ProfileError) as error:
        return str(error)
    return None


@cache  # keyed by canonical URLs of the registry; raises ProfileUnavailable (not cached)
def compiled_profile(url: str) -> CompiledProfile:
    """The compiled rules of a profile (StructureDefinition with derivation constraint)."""
    definition, elements = profile_snapshot(url)
    by_id = {element.get("id", element["path"]): element for element in elements}
    root = compile_rules(elements[0], base_element(elements[0]), None)
    compiled = {elements[0].get("id", elements[0]["path"]): root}
    slices: dict[str, list[tuple[Rules, dict]]] = defaultdict(list)
    problems = []
    for element in elements[1:]:
        element_id = element.get("id", element["path"])
        base = base_element(element)
        if base is None and "contentReference" not in element:
            problems.append(("profile-element-unknown", "processing",
                             {"element": element_id, "type": definition["type"]}))
            continue
        name = element.get("sliceName")
        if name:
            owner_id = element_id.rsplit("/", 1)[0] if "/" in name else element_id[
                : -len(name) - 1]
            owner = compiled.get(owner_id)
        else:
            owner_id = element_id.rsplit(".", 1)[0]
            owner = compiled.get(owner_id)
        if owner is None:  # under an element left out as unknown
            continue
        rules = compile_rules(element, base, owner if name else None)
        if name:
            slices[owner_id].append((rules, element))
        else:
            owner.children.append(rules)
        compiled[element_id] = rules
    for owner_id, found in slices.items():
        compiled[owner_id].slicing = compile_slicing(by_id[owner_id], found, by_id)
    _prune(root)
    return CompiledProfile(definition["url"], definition["type"], root, tuple(problems))
