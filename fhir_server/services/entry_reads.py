"""The GET and HEAD entries of a batch or transaction: read, vread, type search, and
instance or type history, kept to what the token's scopes reach (`access.Reach`) as the
same request alone would be."""

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.search_parameters import compartment_members
from fhir_server.errors import Forbidden
from fhir_server.search.request import parse_query
from fhir_server.services.access import Reach
from fhir_server.services.bundle_entries import Entry
from fhir_server.services.reach import check_reach, check_version_reach
from fhir_server.services.read_budget import charge, check_room
from fhir_server.services.resources import ResourceService
from fhir_server.services.subsetting import subset_read
from fhir_server.services.versions import format_instant
from fhir_server.storage.resources import ResourceStore


async def read_entry(service: ResourceService, base: str, entry: Entry,
                     permissions: Permissions, reach: Reach, strict: bool,
                     store: ResourceStore | None = None) -> dict:
    """A GET or HEAD entry's answer (HEAD's without the resource); its searches and history
    `strict` (`Prefer: handling=strict`); in a transaction's `store`."""
    check_room(entry.location)
    answer = await _get(service, base, entry, permissions, reach, strict, store)
    if entry.method == "HEAD":
        answer.pop("resource", None)
    return charge(answer, entry.location)


async def _get(service: ResourceService, base: str, entry: Entry, permissions: Permissions,
               reach: Reach, strict: bool, store: ResourceStore | None) -> dict:
    kind = entry.resource_type
    params = parse_query(entry.query or "")
    compartment, scope_query = reach.compartment, None
    if entry.compartment is not None:
        if compartment not in (None, entry.compartment):
            raise Forbidden(f"{entry.location}: the token's patient/ scopes allow "
                            f"searching {compartment} only, not {entry.compartment}")
        compartment = entry.compartment
    if entry.resource_id:  # no compartment search names one
        scope_query = await check_reach(service, reach, kind, entry.resource_id, base)
    if entry.history:
        history = await service.history(base, params, kind, entry.resource_id, permissions,
                                        store, compartment, scope_query, strict)
        return {"resource": history, "response": {"status": "200 OK"}}
    if entry.vid is not None:
        assert entry.resource_id is not None, "parse_entry: a version names its resource"
        version = await service.vread(kind, entry.resource_id, entry.vid, store)
        await check_version_reach(service, reach, scope_query, version, base, store)
    elif entry.resource_id:
        version = await service.read(kind, entry.resource_id, store)
    elif kind == "*":  # `Patient/123/*`: the compartment's every type
        if reach.compartment is not None:  # the launch patient's: patient/ grants hold in it
            permissions = permissions.within_compartment(compartment_members("Patient"))
        return {"resource": await service.search_system(
            base, params, strict, permissions, compartment, store),
            "response": {"status": "200 OK"}}
    else:
        return {
            "resource": await service.search(base, kind, params, strict, compartment,
                                             permissions, store, reach.queries),
            "response": {"status": "200 OK"},
        }
    current_in = None if entry.vid is not None else store or service.database.store()
    if await version.known_to_client(entry.if_none_match, entry.if_modified_since, current_in):
        return {"response": {"status": "304 Not Modified", "etag": version.etag}}
    assert version.resource is not None, "read and vread refuse deletions"
    return {
        "fullUrl": f"{base}/{version.relative_url}",
        "resource": subset_read(version.resource, params),
        "response": {"status": "200 OK", "etag": version.etag,
                     "lastModified": format_instant(version.last_updated)},
    }
