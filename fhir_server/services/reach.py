"""Whether a resource, or one version of it, is within what a token's scopes reach
(`access.Reach`): the compartment of its patient, the searches of its granular scopes. A
refusal says the same whichever part it fails."""

from fhir_server.services.access import Reach, outside_reach
from fhir_server.services.resources import ResourceService, check_type
from fhir_server.services.scope_searches import scope_filter
from fhir_server.services.versions import Version
from fhir_server.services.within_reach import ids_within_reach, versions_within_reach
from fhir_server.storage.resources import ResourceStore


async def check_reach(service: ResourceService, reach: Reach, resource_type: str,
                      resource_id: str, base: str) -> dict | None:
    """403 unless the current version of a resource (or the last, when it was deleted) is
    within reach; before a read, as whether it exists is not the caller's to know. The
    granular scopes' searches compiled, for `check_version_reach` and histories."""
    if reach == Reach():  # the scopes allow the type whole
        return None
    store = service.database.store()
    # A scope whose search cannot run says so first: that tells of no resource.
    scope_query = (await scope_filter(store, base, resource_type, reach.queries)
                   if reach.queries else None)
    if resource_id not in await ids_within_reach(store, base, reach, scope_query,
                                                 check_type(resource_type), [resource_id]):
        raise outside_reach(reach, f"{resource_type}/{resource_id}")
    return scope_query


async def check_version_reach(service: ResourceService, reach: Reach,
                              scope_query: dict | None, version: Version, base: str,
                              store: ResourceStore | None = None) -> None:
    """403 unless a version, as it was then, is within reach (`scope_query` as
    `check_reach` compiled it): an older one may have been another patient's (a subject
    since corrected), or of another category."""
    [within] = await versions_within_reach(store or service.database.store(), base,
                                           reach.compartment, scope_query, [version])
    if not within:
        raise outside_reach(reach, version.versioned_url)
