"""FHIR NPM packages (https://hl7.org/fhir/packages.html): read from a `.tgz` or a directory,
and an installed set resolved by its dependencies.

A package is `package/package.json` (name, version, dependencies) and its resources, the
`*.json` files of `package/` (not `package/example/`). The server ships packages in
`profiles/packages/`; more are installed in a directory of `.tgz` files or unpacked package
directories (FHIR_PACKAGES). A `.tgz` may have a pre-built index beside it
(`NAME-VERSION.definitions.jsonl`, written by `profiles.build_packages`): a header line
(manifest, digest of the package) and a line of its definitions, compacted, so that start-up
parses a few MB instead of the thousands of files of THO.
"""

import hashlib
import json
import logging
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

log = logging.getLogger("fhir_server.packages")

CORE_PACKAGE = "hl7.fhir.r4.core"
# The resource types of a package that join the conformance registry.
DEFINITION_TYPES = frozenset(
    {"StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap", "NamingSystem",
     "SearchParameter"}
)
INDEX_SUFFIX = ".definitions.jsonl"
# Known flaws of the shipped packages, each with its reason.
KNOWN_ISSUES = "known-issues.json"
_MANIFEST = "package/package.json"
_NOT_RESOURCES = ("package.json", ".index.json")


class PackageError(ValueError):
    """A package that cannot be read, or an installed set with a dependency missing."""


@dataclass(frozen=True)
class Package:
    """One FHIR package: its manifest and where it is."""

    name: str
    version: str
    dependencies: Mapping[str, str]
    location: Traversable
    canonical: str | None = None
    index: Traversable | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return f"{self.name}#{self.version}"

    def definitions(self) -> list[dict]:
        """The package's resources of DEFINITION_TYPES: from its index when it has one
        (checked against the package when read), else from the package itself."""
        if self.index is not None:
            with self.index.open("rb") as lines:
                lines.readline()  # the header
                return json.loads(lines.readline())
        return [r for r in package_resources(self.location)
                if r.get("resourceType") in DEFINITION_TYPES]


def _manifest(data: bytes, where: object) -> dict:
    try:
        manifest = json.loads(data)
    except ValueError as bad:
        raise PackageError(f"{where}: package/package.json is not JSON ({bad})") from None
    if not isinstance(manifest, dict):
        raise PackageError(f"{where}: package/package.json is not a JSON object")
    for key in ("name", "version"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise PackageError(f"{where}: package/package.json has no '{key}'")
    dependencies = manifest.get("dependencies", {})
    if not isinstance(dependencies, dict) or not all(
        isinstance(v, str) for v in dependencies.values()
    ):
        raise PackageError(f"{where}: 'dependencies' of package/package.json is not a map of "
                           "package names to versions")
    return manifest


def _is_resource_file(name: str) -> bool:
    """`package/X.json`, not the manifests and not in a subdirectory such as example/."""
    head, _, file = name.partition("/")
    return (head == "package" and "/" not in file and file.endswith(".json")
            and file not in _NOT_RESOURCES)


def _tar_members(location: Traversable) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of the regular files of a `.tgz`, `./` prefixes removed."""
    try:
        with location.open("rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as archive:
            for member in archive:
                if member.isfile():
                    data = archive.extractfile(member)
                    if data is not None:
                        yield member.name.removeprefix("./"), data.read()
    except (tarfile.TarError, OSError, EOFError) as bad:
        raise PackageError(f"{location}: not a readable .tgz package ({bad})") from None


def _files(location: Traversable) -> Iterator[tuple[str, bytes]]:
    if location.is_dir():
        root = location / "package"
        if not root.is_dir():
            raise PackageError(f"{location}: a package directory holds package/package.json")
        for item in sorted(root.iterdir(), key=lambda i: i.name):
            if item.is_file():
                yield f"package/{item.name}", item.read_bytes()
    else:
        yield from _tar_members(location)


def read_package(location: Traversable, index: Traversable | None = None) -> Package:
    """The manifest of the package at `location` (a `.tgz` or a directory)."""
    header = _index_header(index, location) if index is not None else None
    if header is not None:
        manifest = header["package"]
    elif location.is_dir():
        path = location / "package" / "package.json"
        if not path.is_file():
            raise PackageError(f"{location}: no package/package.json")
        manifest = _manifest(path.read_bytes(), location)
    else:
        data = next((d for name, d in _tar_members(location) if name == _MANIFEST), None)
        if data is None:
            raise PackageError(f"{location}: no package/package.json in the archive")
        manifest = _manifest(data, location)
    return Package(manifest["name"], manifest["version"], manifest.get("dependencies", {}),
                   location, manifest.get("canonical"), index if header is not None else None)


def package_resources(location: Traversable) -> list[dict]:
    """Every resource of a package: the JSON files of `package/` but its manifests."""
    found = []
    for name, data in _files(location):
        if not _is_resource_file(name):
            continue
        try:
            resource = json.loads(data)
        except ValueError as bad:
            raise PackageError(f"{location}: {name} is not JSON ({bad})") from None
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            found.append(resource)
    return found


def digest(location: Traversable) -> str:
    return hashlib.sha256(location.read_bytes()).hexdigest()


def _index_header(index: Traversable, location: Traversable) -> dict | None:
    """The first line of the index of a `.tgz` (its manifest and the digest of the package
    it was made from; the second line holds the definitions), or None when it was made from
    other bytes than the package's: then the package itself is read."""
    try:
        with index.open("rb") as lines:
            header = json.loads(lines.readline())
    except (OSError, ValueError):
        header = None
    if not isinstance(header, dict) or header.get("sha256") != digest(location):
        log.warning("%s was not built from %s: reading the package instead", index, location)
        return None
    return header


def packages_in(directory: Traversable) -> list[Package]:
    """The packages of an installation directory: its `.tgz` files (with their indexes)
    and its unpacked package directories."""
    if not directory.is_dir():
        return []
    found = []
    for item in sorted(directory.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".tgz") and item.is_file():
            index = directory / (item.name.removesuffix(".tgz") + INDEX_SUFFIX)
            found.append(read_package(item, index if index.is_file() else None))
        elif item.is_dir() and (item / "package" / "package.json").is_file():
            found.append(read_package(item))
    return found


def shipped_directory() -> Traversable:
    """`profiles/packages/`: the packages the server installs by default."""
    return resources.files("profiles") / "packages"


@cache
def _known_issues() -> dict:
    manifest = shipped_directory() / KNOWN_ISSUES
    return json.loads(manifest.read_bytes()) if manifest.is_file() else {}


def known_absent() -> dict[tuple[str, str], str]:
    """(package, dependency) → why the shipped set runs without that dependency."""
    return {(entry["neededBy"], entry["package"]): entry["reason"]
            for entry in _known_issues().get("absentDependencies", ())}


def _by_package_and_url(kind: str) -> dict[tuple[str, str], str]:
    return {(entry["package"], url): entry["reason"]
            for entry in _known_issues().get(kind, ()) for url in entry["urls"]}


def unsupported_search_parameters() -> dict[tuple[str, str], str]:
    """(package name, SearchParameter url) → why the server leaves it out."""
    return _by_package_and_url("unsupportedSearchParameters")


def repeated_extensions() -> dict[tuple[str, str], str]:
    """(package name, Extension url) → why a repeat of it on one element is only warned of,
    though its definition allows it once there."""
    return _by_package_and_url("repeatedExtensions")


def undefined_extension_parts() -> dict[tuple[str, str], str]:
    """(package name, Extension url) → why a part its definition does not define is only
    warned of."""
    return _by_package_and_url("undefinedExtensionParts")


@cache
def _note(message: str) -> None:
    """Log a fact about the installed set once per process, however often it is resolved."""
    log.info(message)


def installation_directory(configured: Path | None, data_dir: Path) -> Path:
    """Where packages are installed: FHIR_PACKAGES, else DATA_DIR/packages."""
    return configured if configured is not None else data_dir / "packages"


def installed_packages(directory: Path | None, adding: Iterable[Package] = ()) -> list[Package]:
    """The shipped packages, those in `directory` and those `adding`, one per name (a later
    one replaces an earlier one of the same name), in dependency order (`resolve`)."""
    by_name: dict[str, Package] = {}
    extra = packages_in(directory) if directory is not None else []
    for package in [*packages_in(shipped_directory()), *extra, *adding]:
        if package.name in by_name and by_name[package.name] != package:
            _note(f"{package.label} ({package.location}) replaces "
                  f"{by_name[package.name].label} ({by_name[package.name].location})")
        by_name[package.name] = package
    return resolve(by_name.values())


def resolve(packages: Iterable[Package]) -> list[Package]:
    """The packages in dependency order (dependencies first), each dependency satisfied by
    an installed package of that name in any version (a different version is logged).
    A missing dependency is a PackageError, unless `known-issues.json` names it."""
    by_name = {p.name: p for p in packages}
    missing = []
    for package in by_name.values():
        for name, version in package.dependencies.items():
            if name == CORE_PACKAGE:
                continue
            found = by_name.get(name)
            if found is None:
                if (package.name, name) not in known_absent():
                    missing.append(f"{package.label} needs {name}#{version}, which is not "
                                   "installed")
            elif found.version != version:
                _note(f"{package.label} declares {name}#{version}; {found.label} is installed "
                      "and used")
    if missing:
        raise PackageError("; ".join(missing))
    ordered: dict[str, Package] = {}

    def visit(package: Package) -> None:
        if package.name in ordered:
            return
        ordered[package.name] = package  # before its dependencies: cycles (THO ⇄ extensions)
        for name in sorted(package.dependencies):
            if name in by_name:
                visit(by_name[name])
        # Dependencies first: move the package behind them.
        ordered[package.name] = ordered.pop(package.name)

    for package in sorted(by_name.values(), key=lambda p: p.name):
        visit(package)
    return list(ordered.values())
