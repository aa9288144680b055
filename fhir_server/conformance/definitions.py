"""The conformance registry: every definition the server works from, read once from the
package data in `profiles/` and `terminology/` (StructureDefinitions, SearchParameters,
CompartmentDefinitions, OperationDefinitions, CodeSystems, ValueSets, ConceptMaps,
NamingSystems; http://hl7.org/fhir/R4/conformance-module.html) and from the installed
implementation guide packages (`packages.py`).

Files are FHIR JSON: a single resource or a `collection` Bundle of them. The lifespan calls
`load()` once at start-up, before anything else reads the registry; everything else asks
`registry()`.

Precedence (http://hl7.org/fhir/R4/references.html#canonical): a canonical URL the R4 core
defines keeps the core resource under its plain URL, so IG copies of core definitions (THO's
CodeSystems, the extensions pack) cannot change how base R4 validation behaves; among
packages, the first in dependency order keeps it. Every package resource is also reachable
as `url|version`.
"""

import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from fhir_server.conformance.messages import Phrase, phrase
from fhir_server.conformance.packages import (
    CORE_PACKAGE,
    Package,
    installed_packages,
    unsupported_search_parameters,
)
from fhir_server.conformance.snapshot_checks import (
    discriminator_warnings,
    identifier_system_warnings,
)
from fhir_server.conformance.snapshots import ProfileError, SnapshotError, generate_snapshot
from fhir_server.conformance.type_codes import CORE

log = logging.getLogger("fhir_server.packages")

_PACKAGES = ("profiles", "terminology")
CORE_LABEL = f"{CORE_PACKAGE}#4.0.1"


# The server's own terminology beside R4's: the administrative units of 2025 (versions
# 2025-06-30 and 2025-07-01 of VN Core's code system, their value sets and ConceptMap).
OWN_TERMINOLOGY = "vn-administrative-units.json"


def own_terminology() -> tuple[str, list[dict]]:
    """Those resources, as stored in the package data, and a digest of them (what the
    publication of a version of them is known by)."""
    data = resources.files("terminology").joinpath(OWN_TERMINOLOGY).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    return digest, [entry["resource"] for entry in json.loads(data)["entry"]]


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
    """Definitions by resource type and canonical URL, and the package of each."""

    by_type: dict[str, list[dict]] = field(default_factory=dict)
    by_url: dict[str, dict] = field(default_factory=dict)
    packages: list[Package] = field(default_factory=list)
    # id(resource) → the label (name#version) of the package it came from.
    origin: dict[int, str] = field(default_factory=dict)
    # canonical URL → why its snapshot cannot be generated.
    profile_errors: dict[str, Phrase] = field(default_factory=dict)
    # canonical URL → flaws of a generated snapshot that do not stop its use.
    profile_warnings: dict[str, list[str]] = field(default_factory=dict)
    # Held while snapshots are generated: a thread never sees one half made.
    _generating: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _in_progress: set[str] = field(default_factory=set, repr=False)
    # Resources added so far: what is derived from the registry is cached until it changes.
    generation: int = 0

    def add(self, resource: dict, package: str | None = None) -> None:
        """Add a core resource, or one of the package labelled `package` (name#version)."""
        self.generation += 1
        url = resource.get("url")
        self.origin[id(resource)] = package or CORE_LABEL
        self.by_type.setdefault(resource["resourceType"], []).append(resource)
        if not isinstance(url, str):
            return
        if package is None:
            self.by_url[url] = resource
            return
        if "version" in resource:
            self.by_url.setdefault(f"{url}|{resource['version']}", resource)
        # The core's (or an earlier package's) keeps the plain URL.
        self.by_url.setdefault(url, resource)

    def add_package(self, package: Package) -> None:
        self.packages.append(package)
        unsupported = unsupported_search_parameters()
        for resource in package.definitions():
            reason = unsupported.get((package.name, resource.get("url", ""))) or _lacking(
                resource
            )
            if reason is not None:
                log.info("%s: %s %s left out: %s", package.label, resource["resourceType"],
                         resource.get("url", resource.get("id")), reason)
                continue
            self.add(resource, package.label)

    def resolve(self, url: str) -> dict | None:
        """The resource with a canonical URL; `url|version` is that version when a package
        holds it, else the resource of the plain URL."""
        return self.by_url.get(url) or self.by_url.get(url.split("|")[0])

    def package_of(self, resource: dict) -> str | None:
        """`name#version` of the package a resource of the registry came from."""
        return self.origin.get(id(resource))

    def structure_definition(self, name_or_url: str) -> dict | None:
        """A StructureDefinition by canonical URL or by the name of a core type, with its
        snapshot (generated from its differential on first use, when it has none; a profile
        whose snapshot cannot be generated is returned without one, see `snapshot`)."""
        found = self.resolve(name_or_url if "/" in name_or_url else CORE + name_or_url)
        if found is None or found["resourceType"] != "StructureDefinition":
            return None
        if "snapshot" not in found and found.get("url") not in self.profile_errors:
            with self._generating:
                url = found.get("url", "")
                if ("snapshot" not in found and url not in self.profile_errors
                        and url not in self._in_progress):
                    self._generate(found)
        return found

    def snapshot(self, url: str) -> list[dict]:
        """The snapshot elements of a StructureDefinition: KeyError when the registry has no
        such definition, ProfileError when its differential cannot be applied."""
        found = self.structure_definition(url)
        if found is None:
            raise KeyError(url)
        if "snapshot" not in found:
            reason = self.profile_errors.get(found["url"], phrase("profile.depends-on-itself"))
            raise ProfileError(found["url"], reason)
        return found["snapshot"]["element"]

    def _generate(self, definition: dict) -> None:
        """Give a differential-only definition its snapshot, its base's first
        (http://hl7.org/fhir/R4/profiling.html#snapshot)."""
        url = definition.get("url", "?")
        differential = definition.get("differential", {}).get("element", [])
        self._warn(definition, identifier_system_warnings(differential,
                                                          self._naming_system_ids))
        self._in_progress.add(url)  # a base or type profile leading back here is a cycle
        try:
            elements = generate_snapshot(definition, self._known_snapshot)
        except (SnapshotError, ProfileError) as error:
            reason = error.phrase
        except (KeyError, TypeError, AttributeError, IndexError) as error:
            # Package content is input: a malformed differential is that profile's error.
            reason = phrase("profile.malformed", error=f"{type(error).__name__}: {error}")
        else:
            definition["snapshot"] = {"element": elements}
            self._warn(definition, discriminator_warnings(elements))
            return
        finally:
            self._in_progress.discard(url)
        self.profile_errors[url] = reason
        log.warning("profile %s (%s): cannot generate its snapshot: %s", url,
                    self.package_of(definition), reason)

    def _warn(self, definition: dict, warnings: list[str]) -> None:
        if warnings:
            self.profile_warnings.setdefault(definition["url"], []).extend(warnings)
            log.warning("profile %s (%s): %s", definition["url"], self.package_of(definition),
                        "; ".join(warnings))

    def _known_snapshot(self, url: str) -> list[dict]:
        try:
            return self.snapshot(url)
        except KeyError:
            raise SnapshotError("profile.base-unknown", url=url) from None

    @cached_property
    def _naming_system_ids(self) -> frozenset[str]:
        return frozenset(unique["value"] for system in self.all("NamingSystem")
                         for unique in system.get("uniqueId", ()) if "value" in unique)

    def all(self, resource_type: str) -> list[dict]:
        """Every resource of a type, every version of a canonical URL included (`resolve`
        says which one the plain URL means)."""
        return self.by_type.get(resource_type, [])

    @cached_property
    def resource_types(self) -> tuple[str, ...]:
        """Every concrete resource type of the core specification, in alphabetical order."""
        return tuple(
            sorted(
                d["type"]
                for d in self._core_types()
                if d["kind"] == "resource" and not d.get("abstract")
            )
        )

    def _core_types(self) -> Iterator[dict]:
        """The core's type definitions (packages define profiles, not types)."""
        for definition in self.all("StructureDefinition"):
            if (definition.get("derivation") == "specialization"
                    and self.package_of(definition) == CORE_LABEL):
                yield definition


# What the server reads of every definition of these types, so a package's must have it.
_REQUIRED = {"StructureDefinition": ("url", "kind", "type"),
             "SearchParameter": ("url", "code", "base", "type")}


def _lacking(resource: dict) -> str | None:
    missing = [k for k in _REQUIRED.get(resource["resourceType"], ()) if k not in resource]
    return f"it has no {', '.join(missing)}" if missing else None


def build_registry(packages: Sequence[Package]) -> Registry:
    """The R4 core definitions, then the packages' (in dependency order)."""
    built = Registry()
    for package in _PACKAGES:
        for resource in _resources_in(resources.files(package)):
            built.add(resource)
    for installed in packages:
        built.add_package(installed)
    return built


# The directory of installed packages the registry reads besides the shipped ones.
_installation: list[Path | None] = [None]


@cache
def registry() -> Registry:
    """The registry of the R4 core, the shipped packages and those installed in the
    directory given to `load()` (none when nothing called it), built on first use."""
    return build_registry(installed_packages(_installation[0]))


def load(packages: Path | None = None) -> Registry:
    """Build the registry now, with the packages installed in `packages`, so that the first
    request does not pay for it. The registry and what is derived from it are built once per
    process: a different set of packages than the one it was built with is an error
    (restart the server after installing a package). Raises PackageError for a package
    that cannot be read or whose dependencies are missing."""
    if registry.cache_info().currsize:
        wanted = [p.label for p in installed_packages(packages)]
        built = registry()
        if wanted != [p.label for p in built.packages]:
            raise RuntimeError(
                f"the registry was built with packages {[p.label for p in built.packages]}, "
                f"not {wanted}: packages are read once per process"
            )
        return built
    _installation[0] = packages
    return registry()
