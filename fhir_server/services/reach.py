"""Whether a resource, or one version of it, is within what a token's scopes reach
(`access.Reach`): the compartment of its patient, the searches of its granular scopes. A
refusal says the same whichever part it fails."""

from fhir_server.errors import Forbidden
from fhir_server.services.access import Reach, outside_reach
from fhir_server.services.resources import ResourceService
from fhir_server.services.scope_searches import matching_versions, scope_filter
from fhir_server.services.versions import Version
from fhir_server.storage.resources import ResourceStore


async def check_reach(service: ResourceService, reach: Reach, resource_type: str,
                      resource_id: str, base: str) -> None:
    """403 unless the current version of a resource (or the last, when it was deleted) is
    within reach; before a read, as whether it exists is not the caller's to know."""
    if reach.queries:  # a scope whose search cannot run says so: that tells of no resource
        await scope_filter(service.database.store(), base, resource_type, reach.queries)
    try:
        if reach.compartment is not None:
            await service.check_within(reach.compartment, resource_type, resource_id, base)
        if reach.queries:
            await service.check_matching(reach.queries, resource_type, resource_id, base)
    except Forbidden:
        raise outside_reach(reach, f"{resource_type}/{resource_id}") from None


async def check_version_reach(service: ResourceService, reach: Reach, version: Version,
                              base: str, store: ResourceStore | None = None) -> None:
    """403 unless a version, as it was then, is within reach: an older one may have been
    another patient's, or of another category."""
    if (reach.compartment is not None
            and not service.in_compartment_then(reach.compartment, version, base)) or (
            reach.queries and not (await matching_versions(
                store or service.database.store(), base, [version], reach.queries))[0]):
        raise outside_reach(reach, version.versioned_url)
