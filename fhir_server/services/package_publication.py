"""The installed implementation guides, readable and searchable like any resource
(`GET /StructureDefinition?url=...`, `GET /ValueSet/{id}`): their definitions are stored as
resources once per package version, as HAPI's package installer does in its
STORE_AND_INSTALL mode. It runs in the background after start-up, the guides no other
package depends on first (the hospital's own, e.g. VN Core, before IPS and HL7's
terminology), smaller ones before larger ones, through the same batch path as `fhir-server
load`: validated, and signed by the server's seal. A definition the base validation refuses
is logged and left out; it still serves validation from the registry."""

import asyncio
import hashlib
import logging
from collections.abc import Iterable

from fhir_server.conformance.code_systems import per_registry
from fhir_server.conformance.definitions import CORE_LABEL, own_terminology, registry
from fhir_server.conformance.packages import DEFINITION_TYPES, Package, package_resources
from fhir_server.services.bundles import BundleProcessor
from fhir_server.services.loading import load_resources
from fhir_server.services.offloading import LARGE_INPUT_BYTES, input_size
from fhir_server.storage.database import Database

log = logging.getLogger(__name__)


def _flag(package: Package) -> str:
    # v2: definitions of one id in two packages each stored (under ids of their own); the
    # others' stored again change nothing, which makes no new version.
    return f"package_published:v2:{package.label}"


# Besides what the registry reads, the OperationDefinitions of the operations a package
# defines (IPS's $summary, this server's own $verify, $verify-signature and $reindex).
PUBLISHED_TYPES = DEFINITION_TYPES | {"OperationDefinition"}
# R4's own definitions the CapabilityStatement names (operations, compartments).
_CORE_TYPES = ("OperationDefinition", "CompartmentDefinition")


def _published(package: Package) -> list[dict]:
    """The package's definitions as it publishes them (the registry keeps a copy trimmed of
    documentation). One whose id another package's definition of another canonical URL has
    (HL7's terminology and extensions packages both hold a CodeSystem/certainty-rating, of
    two URLs) gets an id of its own: each package's publication replaced the other's, and
    one URL was then found no more."""
    claimed = _ids_claimed()
    return [_with_own_id(resource, package, claimed)
            for resource in package_resources(package.location)
            if resource["resourceType"] in PUBLISHED_TYPES and resource.get("id")]


@per_registry
def _ids_claimed() -> dict[tuple[str, str], str]:
    """(type, id) → the first package, in dependency order, whose definition has it."""
    claimed: dict[tuple[str, str], str] = {}
    for package in registry().packages:
        for definition in package.definitions():
            if isinstance(definition.get("id"), str):
                claimed.setdefault((definition["resourceType"], definition["id"]), package.label)
    return claimed


def _with_own_id(resource: dict, package: Package,
                 claimed: dict[tuple[str, str], str]) -> dict:
    owner = claimed.get((resource["resourceType"], resource["id"]), package.label)
    if owner == package.label:
        return resource
    suffix = hashlib.sha256(package.name.encode()).hexdigest()[:8]
    return resource | {"id": f"{resource['id'][:55]}-{suffix}"}


def _dependents(package: Package, packages: list[Package]) -> int:
    return sum(package.name in other.dependencies for other in packages)


async def publish_packages(database: Database, processor: BundleProcessor,
                           packages: list[Package], core: Iterable[str] = ()) -> None:
    """Store the R4 core definitions named by `core` (canonical URLs: the OperationDefinitions
    of the operations this server runs, the CompartmentDefinitions of the compartments it
    searches), then the definitions of every package not stored before (restarts resume: a
    package counts as stored once all of its batches were submitted)."""
    await _publish_core_definitions(database, processor, core)
    await _publish_own_terminology(database, processor)
    pending = [package for package in packages if not await database.flag(_flag(package))]
    # Background work: validation and indexing of definitions (THO's largest CodeSystems
    # run to megabytes) leave the event loop to the clients.
    input_size.set(LARGE_INPUT_BYTES)
    for package in sorted(pending, key=lambda p: (_dependents(p, packages),
                                                  len(p.definitions()))):
        # One package in memory at a time, read off the event loop (THO: 4,000 files).
        definitions = await asyncio.to_thread(_published, package)
        report = await load_resources(processor, definitions, package.label)
        for failure in report.failures:
            log.warning("package %s: not stored: %s", package.label, failure)
        await database.set_flag(_flag(package))
        log.info("package %s stored as resources: %s", package.label, report.summary())


async def _publish_core_definitions(database: Database, processor: BundleProcessor,
                                   urls: Iterable[str]) -> None:
    """R4's own OperationDefinitions of the operations the CapabilityStatement names
    (`GET /OperationDefinition/Patient-everything`, as HAPI serves them), and the
    CompartmentDefinitions of its `rest.compartment`, so that a client resolves each
    `operation.definition` and compartment here; those of the packages are stored with them.
    Stored again when that set changes."""
    held = {url: registry().resolve(url) for url in sorted(set(urls))}
    core = {url: definition for url, definition in held.items() if definition is not None
            and definition["resourceType"] in _CORE_TYPES
            and registry().package_of(definition) == CORE_LABEL}
    flag = "core_operations_published:" + hashlib.sha256(" ".join(core).encode()).hexdigest()[:16]
    if not core or await database.flag(flag):
        return
    report = await load_resources(processor, [dict(d) for d in core.values()], CORE_LABEL)
    for failure in report.failures:
        log.warning("R4 core definition not stored: %s", failure)
    await database.set_flag(flag)
    log.info("R4 core OperationDefinitions and CompartmentDefinitions stored as resources: %s",
             report.summary())


async def _publish_own_terminology(database: Database, processor: BundleProcessor) -> None:
    """The server's own code systems, value sets and ConceptMap (the administrative units of
    2025, of which VN Core publishes a stub without codes), readable and searchable as the
    packages' are: `CodeSystem?url=...&version=2025-07-01`, and the ConceptMap the errors of
    a pre-reform province name. Stored again when they change."""
    digest, definitions = await asyncio.to_thread(own_terminology)
    flag = f"own_terminology_published:{digest}"
    if await database.flag(flag):
        return
    report = await load_resources(processor, definitions, "fhir-exchange-server.terminology")
    for failure in report.failures:
        log.warning("the server's own terminology: not stored: %s", failure)
    await database.set_flag(flag)
    log.info("the server's own terminology stored as resources: %s", report.summary())
