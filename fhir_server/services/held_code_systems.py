"""The CodeSystems stored through the API whose codes the terminology operations answer
from (a hospital's own, and the packages' as they were published), which the
TerminologyCapabilities lists beside the registry's
(`conformance/terminology_capabilities.py`)."""

from fhir_server.conformance.terminology_capabilities import answers_from
from fhir_server.storage.resources import ResourceStore

# Read at most for one statement: the published packages store about 1,500 CodeSystems.
_MAX_READ = 20_000
_FIELDS = ["resource.url", "resource.version", "resource.content"]


async def stored_code_systems(store: ResourceStore) -> tuple[tuple[str, str | None], ...]:
    """(url, version) of each such CodeSystem, sorted: one statement for the same ones."""
    found = await store.find("CodeSystem", {}, _MAX_READ, _FIELDS)
    held = {(resource["url"], resource.get("version")) for record in found
            if (resource := record.resource) is not None and answers_from(resource)}
    return tuple(sorted(held, key=lambda canonical: (canonical[0], canonical[1] or "")))
