"""The conformance registry: every definition the server works from, read once from the
package data in `profiles/` and `terminology/` (StructureDefinitions, SearchParameters,
CompartmentDefinitions, OperationDefinitions, CodeSystems, ValueSets, ConceptMaps,
NamingSystems; http://hl7.org/fhir/R4/conformance-module.html).

Files are FHIR JSON: a single resource or a `collection` Bundle of them. The lifespan calls
`load()` once at start-up; everything else asks `registry()`.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from importlib.resources.abc import Traversable

_PACKAGES = ("profiles", "terminology")
CORE = "http://hl7.org/fhir/StructureDefinition/"


def _resources_in(directory: Traversable) -> Iterator[dict]:
    for item in sorted(directory.iterdir(), key=lambda i: i.name):
        if not item.name.endswith(".json"):
            continue
        document = json.loads(item.read_text(encoding="utf-8"))
        if document.get("resourceType") == "Bundle":
            yield from (entry["resource"] for entry in document.get("entry", ()))
        else:
            yield document


@dataclass
class Registry:
    """Definitions by resource type and canonical URL."""

    by_type: dict[str, list[dict]] = field(default_factory=dict)
    by_url: dict[str, dict] = field(default_factory=dict)

    def add(self, resource: dict) -> None:
        self.by_type.setdefault(resource["resourceType"], []).append(resource)
        if "url" in resource:
            self.by_url[resource["url"]] = resource

    def resolve(self, url: str) -> dict | None:
        """The resource with a canonical URL (`|version` ignored)."""
        return self.by_url.get(url.split("|")[0])

    def structure_definition(self, name_or_url: str) -> dict | None:
        """A StructureDefinition by canonical URL or by the name of a core type."""
        found = self.resolve(name_or_url if "/" in name_or_url else CORE + name_or_url)
        return found if found and found["resourceType"] == "StructureDefinition" else None

    def all(self, resource_type: str) -> list[dict]:
        return self.by_type.get(resource_type, [])

    @cached_property
    def resource_types(self) -> tuple[str, ...]:
        """Every concrete resource type of the core specification, in alphabetical order."""
        return tuple(
            sorted(
                d["type"]
                for d in self.all("StructureDefinition")
                if d["kind"] == "resource"
                and not d.get("abstract")
                and d.get("derivation") == "specialization"
                and d["url"] == CORE + d["type"]
            )
        )

    @cached_property
    def data_types(self) -> frozenset[str]:
        """The names of the core primitive and complex data types."""
        return frozenset(
            d["type"]
            for d in self.all("StructureDefinition")
            if d["kind"] in ("primitive-type", "complex-type")
            and d.get("derivation") == "specialization"
        )


@cache
def registry() -> Registry:
    """The registry of the package data, built on first use (the lifespan's `load()`)."""
    built = Registry()
    for package in _PACKAGES:
        for resource in _resources_in(resources.files(package)):
            built.add(resource)
    return built


def load() -> Registry:
    """Build the registry now, so that the first request does not pay for it."""
    return registry()
