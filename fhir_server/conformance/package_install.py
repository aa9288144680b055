"""Installing a FHIR package (https://hl7.org/fhir/packages.html) into the directory the
server reads at start-up: only a package that reads and whose dependencies are installed is
copied, replacing any other version of it, with the index that makes loading it cheap."""

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fhir_server.conformance.definitions import build_registry
from fhir_server.conformance.packages import (
    CORE_PACKAGE,
    DEFINITION_TYPES,
    INDEX_SUFFIX,
    Package,
    PackageError,
    installed_packages,
    package_resources,
    packages_in,
    read_package,
)
from profiles.build_packages import write_index


@dataclass
class Installation:
    """What `install` did: the package, where it went, what it replaced, what it defines,
    the profiles of it whose snapshots cannot be generated and the flaws of the others."""

    package: Package
    path: Path
    replaced: list[str] = field(default_factory=list)
    definitions: Counter[str] = field(default_factory=Counter)
    profile_errors: dict[str, str] = field(default_factory=dict)
    profile_warnings: dict[str, list[str]] = field(default_factory=dict)


def _remove(package: Package) -> None:
    location = Path(str(package.location))
    if location.is_dir():
        shutil.rmtree(location)
    else:
        location.unlink()
        location.with_name(location.name.removesuffix(".tgz") + INDEX_SUFFIX).unlink(
            missing_ok=True
        )


def install(source: Path, directory: Path) -> Installation:
    """Install the package at `source` (a `.tgz` or a directory) into `directory`. Raises
    PackageError, before anything is copied, for a package that cannot be read or whose
    dependencies are not installed."""
    package = read_package(source)
    if package.name == CORE_PACKAGE:
        raise PackageError(f"{source}: {CORE_PACKAGE} is built into the server")
    resources = package_resources(source)
    installed_packages(directory, [package])  # its dependencies are there
    directory.mkdir(parents=True, exist_ok=True)
    report = Installation(package, directory / f"{package.name}-{package.version}")
    for old in packages_in(directory):
        if old.name == package.name:
            report.replaced.append(old.label)
            _remove(old)
    if source.is_dir():
        shutil.copytree(source / "package", report.path / "package")
    else:
        report.path = report.path.with_name(report.path.name + ".tgz")
        shutil.copyfile(source, report.path)
        write_index(report.path, directory)
    report.definitions.update(r["resourceType"] for r in resources
                              if r["resourceType"] in DEFINITION_TYPES)
    registry = build_registry(installed_packages(directory))
    for definition in registry.all("StructureDefinition"):
        if registry.package_of(definition) == package.label and "snapshot" not in definition:
            registry.structure_definition(definition["url"])
    ours = {url for url in [*registry.profile_errors, *registry.profile_warnings]
            if registry.package_of(registry.resolve(url) or {}) == package.label}
    report.profile_errors = {u: str(e) for u, e in registry.profile_errors.items() if u in ours}
    report.profile_warnings = {u: w for u, w in registry.profile_warnings.items() if u in ours}
    return report
