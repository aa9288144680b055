"""Hand-made profiles for the profile engine's tests: a core snapshot with changes, the way
a profile's snapshot looks (http://hl7.org/fhir/R4/profiling.html#snapshot), registered in
the registry for one test."""

import copy
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.profile_tree import compiled_profile

BASE = "http://example.org/fhir/StructureDefinition/"
_names = itertools.count()


def _core(type_name: str) -> list[dict]:
    return registry().structure_definition(type_name)["snapshot"]["element"]


def slice_of(element_id: str, name: str, **changes) -> dict:
    """A slice of the core element `element_id` (Patient.identifier), with changes."""
    type_name = element_id.split(".")[0]
    element = copy.deepcopy(next(e for e in _core(type_name) if e["id"] == element_id))
    element.pop("slicing", None)
    return {**element, "id": f"{element_id}:{name}", "sliceName": name, **changes}


def child(parent_id: str, base_path: str, **changes) -> dict:
    """An element under `parent_id` (a slice, or a data-type element), copied from the core
    definition at `base_path` (Identifier.system)."""
    element = copy.deepcopy(next(e for e in _core(base_path.split(".")[0])
                                 if e["path"] == base_path))
    name = base_path.rsplit(".", 1)[1]
    path = ".".join(part.split(":")[0] for part in parent_id.split(".")) + "." + name
    element.setdefault("base", {"path": base_path, "min": element["min"],
                                "max": element["max"]})
    return {**element, "id": f"{parent_id}.{name}", "path": path, **changes}


def build(type_name: str, changes: dict[str, dict] | None = None,
          added: list[dict] | None = None, url: str | None = None) -> dict:
    """A profile of `type_name`: its core snapshot with `changes` (element id → properties,
    None to drop one) and `added` elements, each placed after its parent or sliced element
    (and that element's slices and descendants)."""
    elements = copy.deepcopy(_core(type_name))
    for element_id, change in (changes or {}).items():
        target = next(e for e in elements if e["id"] == element_id)
        for key, value in change.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    for element in added or ():
        anchor = element["id"].rsplit(":", 1)[0] if "sliceName" in element else (
            element["id"].rsplit(".", 1)[0])
        index = max(i for i, e in enumerate(elements)
                    if e["id"] == anchor or e["id"].startswith(anchor + ".")
                    or e["id"].startswith(anchor + ":"))
        elements.insert(index + 1, element)
    name = f"Test{next(_names)}"
    return {
        "resourceType": "StructureDefinition",
        "url": url or BASE + name,
        "name": name,
        "status": "draft",
        "kind": registry().structure_definition(type_name)["kind"],
        "abstract": False,
        "type": type_name,
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/" + type_name,
        "derivation": "constraint",
        "snapshot": {"element": elements},
    }


@contextmanager
def registered(*definitions: dict) -> Iterator[list[str]]:
    """The definitions in the registry for the duration of a test."""
    held = registry()
    for definition in definitions:
        held.add(definition)
    compiled_profile.cache_clear()
    try:
        yield [definition["url"] for definition in definitions]
    finally:
        for definition in definitions:
            held.by_url.pop(definition["url"], None)
            held.by_type[definition["resourceType"]].remove(definition)
        compiled_profile.cache_clear()
