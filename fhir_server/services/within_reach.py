"""Whether resources, or versions of them, are within what a token's scopes reach
(`access.Reach`): in the compartment of its patient, matched by the searches of its granular
scopes.

A Binary is in no compartment. Its `securityContext` "identifies another resource that can be
used as a proxy of the security sensitivity to use when deciding and enforcing access control
rules for the Binary resource" (http://hl7.org/fhir/R4/binary.html): a Binary is in the
compartment of the token's patient when its securityContext is that Patient, or a resource
the token may read (its type granted, within the reach its scopes keep reads of that type to,
judged as a read of it is). Without one, it is in no one's."""

from collections.abc import Sequence

from fhir_server.auth.tokens import Principal
from fhir_server.conformance.registry import is_supported
from fhir_server.errors import Forbidden
from fhir_server.search.index import compartment_filter, resource_compartments
from fhir_server.search.types.reference import local_resource
from fhir_server.services.access import (
    Reach,
    current_principal,
    patient_compartment,
    scope_queries,
)
from fhir_server.services.scope_searches import matching_versions, scope_filter
from fhir_server.services.versions import Version, stored_version
from fhir_server.storage.resources import ResourceStore

# The type whose place in a compartment is its securityContext's.
PROXIED = "Binary"
# What a Binary's compartment is read from: not its content, which may be megabytes.
_CONTEXT = "resource.securityContext"


async def ids_within_reach(store: ResourceStore, base: str, reach: Reach,
                           scope_query: dict | None, resource_type: str, ids: Sequence[str]
                           ) -> set[str]:
    """Those of `ids` whose current version is within reach: in the compartment of
    `reach` (by a relative reference or an absolute one under `base`), matching
    `scope_query` (the searches of its granular scopes, compiled); or whose last version was,
    once deleted (its reader then learns it is gone, 410, and reads its history)."""
    proxied = reach.compartment is not None and resource_type == PROXIED
    clauses: list[dict] = [{"_id": {"$in": list(ids)}}]
    if reach.compartment is not None and not proxied:
        kind, _, compartment_id = reach.compartment.partition("/")
        clauses.append(compartment_filter(kind, [compartment_id], base))
    if scope_query is not None:
        clauses.append(scope_query)
    found = await store.find(resource_type, {"$and": clauses}, len(ids),
                             projection=[_CONTEXT] if proxied else ["_id"])
    if proxied:
        assert reach.compartment is not None, "a Binary is proxied in a compartment only"
        shown = await _contexts_within_reach(store, base, reach.compartment,
                                             [document.resource or {} for document in found])
        within = {document.id for document, seen in zip(found, shown, strict=True) if seen}
    else:
        within = {document.id for document in found}
    # A resource found is not deleted: only those not found may have been within reach then.
    for resource_id in set(ids) - {document.id for document in found}:
        before = await _before_deletion(store, resource_type, resource_id)
        if before is not None and (await versions_within_reach(
                store, base, reach.compartment, scope_query, [before]))[0]:
            within.add(resource_id)
    return within


async def versions_within_reach(store: ResourceStore, base: str, compartment: str | None,
                                scope_query: dict | None, versions: list[Version]
                                ) -> list[bool]:
    """Whether each version, as it was then, is within a token's reach: in `compartment`
    (`Patient/1`, by a relative reference or an absolute one under `base`), matched by
    `scope_query` (granular scopes' searches, compiled); an older version may have been
    another patient's (a subject since corrected), or of another category. A deletion is
    in none."""
    shown = [version.resource is not None for version in versions]
    if compartment is not None:
        within = await _in_compartment(store, base, compartment, versions)
        shown = [seen and inside for seen, inside in zip(shown, within, strict=True)]
    if scope_query is not None:
        matched = await matching_versions(store, versions, scope_query)
        shown = [seen and match for seen, match in zip(shown, matched, strict=True)]
    return shown


async def binaries_by_context(store: ResourceStore, base: str, ids: Sequence[str]) -> set[str]:
    """Those of the Binaries `ids` the caller reads by their securityContext (a `patient/`
    grant on Binary), as a read of each would be judged; none when no such grant is theirs."""
    principal = current_principal.get()
    if principal is None or not reads_binaries_by_context():
        return set()
    return await _readable_ids(store, base, principal, PROXIED, ids)


def reads_binaries_by_context() -> bool:
    """Whether the caller reads Binaries by their securityContext: its `patient/` scopes
    grant reading Binary, in the compartment of its patient."""
    principal = current_principal.get()
    return principal is not None and patient_compartment(principal, "read", PROXIED) is not None


async def _in_compartment(store: ResourceStore, base: str, compartment: str,
                          versions: list[Version]) -> list[bool]:
    """Whether each version is in `compartment`: by its references, a Binary by its
    securityContext. A deletion is in none."""
    binaries = [version.resource for version in versions
                if version.resource_type == PROXIED and version.resource is not None]
    proxied = iter(await _contexts_within_reach(store, base, compartment, binaries))
    return [version.resource is not None and (
        next(proxied) if version.resource_type == PROXIED
        else _holds(compartment, version.resource_type, version.resource, base))
        for version in versions]


def _holds(compartment: str, resource_type: str, resource: dict, base: str) -> bool:
    """Whether a resource's references put it in `compartment`, relative or under `base`."""
    found = resource_compartments(resource_type, resource)
    return compartment in found or f"{base.rstrip('/')}/{compartment}" in found


async def _contexts_within_reach(store: ResourceStore, base: str, compartment: str,
                                 binaries: list[dict]) -> list[bool]:
    """Whether each Binary's securityContext is the Patient of `compartment` (the token's)
    or a resource the caller may read; each resource it names is judged once. Another
    Binary stands in for none (nothing would end a loop of them)."""
    targets = [_security_context(binary, base) for binary in binaries]
    principal = current_principal.get()
    by_type: dict[str, set[str]] = {}
    for target in targets:
        if target is not None and target[0] != PROXIED and "/".join(target) != compartment:
            by_type.setdefault(target[0], set()).add(target[1])
    readable = {(kind, resource_id) for kind, ids in by_type.items()
                if principal is not None
                for resource_id in await _readable_ids(store, base, principal, kind,
                                                       sorted(ids))}
    return [target is not None and ("/".join(target) == compartment or target in readable)
            for target in targets]


def _security_context(binary: dict, base: str) -> tuple[str, str] | None:
    """(type, id) of the resource on this server a Binary's securityContext names."""
    context = binary.get("securityContext")
    reference = context.get("reference") if isinstance(context, dict) else None
    return local_resource(reference, base) if isinstance(reference, str) else None


async def _readable_ids(store: ResourceStore, base: str, principal: Principal, kind: str,
                        ids: Sequence[str]) -> set[str]:
    """Those of `ids` (of type `kind`) a read by the token would be allowed: all when its
    scopes allow the type whole, those within the reach they keep reads of it to, else none."""
    if not is_supported(kind):
        return set()
    reach = Reach(patient_compartment(principal, "read", kind),
                  scope_queries(principal, "read", kind))
    if reach == Reach():
        return set(ids) if principal.scopes.allows(kind, "r") else set()
    try:
        scope_query = (await scope_filter(store, base, kind, reach.queries)
                       if reach.queries else None)
    except Forbidden:  # no search of the scopes' can run on the type: they grant none
        return set()
    return await ids_within_reach(store, base, reach, scope_query, kind, ids)


async def _before_deletion(store: ResourceStore, resource_type: str, resource_id: str
                           ) -> Version | None:
    """The last version of a deleted resource; None when it is not deleted."""
    current = await store.current(resource_type, resource_id)
    if current is None:
        return None
    deletion = Version.from_current(resource_type, current)
    if not deletion.deleted or deletion.vid < 2:
        return None
    before = await stored_version(store, resource_type, resource_id, str(deletion.vid - 1))
    return Version.from_history(resource_type, before)
