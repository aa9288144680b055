"""The caller while a request is served: their permissions, for the searches a write runs on
the caller's behalf (conditional criteria, conditional references), which need the same
search scopes as the search itself would; and who they are, for the Provenance that signs
each write."""

from contextvars import ContextVar
from dataclasses import dataclass

from fhir_server.auth.scopes import ALL, INTERACTION_PERMISSION, Permissions
from fhir_server.auth.tokens import Principal
from fhir_server.errors import Forbidden


@dataclass(frozen=True)
class Reach:
    """What a request reaches when the token's scopes allow it in part only: the compartment
    of the token's patient (`patient_compartment`), the searches of which a resource must
    match one (`scope_queries`)."""

    compartment: str | None = None
    queries: tuple[str, ...] = ()


# What `patient/` scopes grant, within the compartment of the token's patient.
PATIENT_INTERACTIONS = frozenset({"read", "vread", "history-instance", "search-type"})

current_permissions: ContextVar[Permissions] = ContextVar("current_permissions", default=ALL)
# None: the server itself writes (demo data, `fhir-server load`), under the hospital's seal.
current_principal: ContextVar[Principal | None] = ContextVar("current_principal", default=None)


def require_search(permissions: Permissions, resource_type: str) -> None:
    if permissions.allows(resource_type, "s"):
        return
    if permissions.patient_allows(resource_type, "s"):
        # A chain, `_has`, `_list` or conditional criteria read beyond the compartment a
        # patient/ grant keeps to.
        raise Forbidden(f"The token's patient/ scopes allow searching {resource_type} in the "
                        "patient's compartment only, not through a chain, _has or _list, "
                        "nor by the criteria of a conditional write or reference (which "
                        "search the whole server)")
    raise Forbidden(f"The token's scopes do not allow searching {resource_type}")


def check_searchable(resource_type: str) -> None:
    """`require_search` with the permissions of the request being served."""
    require_search(current_permissions.get(), resource_type)


def patient_compartment(principal: Principal, interaction: str, resource_type: str
                        ) -> str | None:
    """The compartment (`Patient/<id>`) an interaction must keep to when only the token's
    `patient/` scopes allow it, which they do for reads, vreads and histories by id and
    searches, with a `patient` claim in the token; None when they do not (other scopes
    may)."""
    permission = INTERACTION_PERMISSION[interaction]
    scopes = principal.scopes
    if (not scopes.allows(resource_type, permission)
            and interaction in PATIENT_INTERACTIONS and principal.patient is not None
            and (scopes.patient_allows(resource_type, permission)
                 or scopes.queries(resource_type, permission, patient=True))):
        return f"Patient/{principal.patient}"
    return None


def scope_queries(principal: Principal, interaction: str, resource_type: str
                  ) -> tuple[str, ...]:
    """The searches of which a resource must match one for `interaction`, when only granular
    scopes (`user/Observation.rs?category=laboratory`) allow it, which they do on one type
    for the interactions `patient/` scopes may. With `patient/` scopes, within the
    compartment `patient_compartment` names, where the searches of `user/` scopes count
    too. () when a scope allows it whole (in the compartment), or none allows it."""
    permission = INTERACTION_PERMISSION[interaction]
    scopes = principal.scopes
    if (interaction not in PATIENT_INTERACTIONS or resource_type == "*"
            or scopes.allows(resource_type, permission)):
        return ()
    queries = scopes.queries(resource_type, permission)
    if patient_compartment(principal, interaction, resource_type) is not None:
        if scopes.patient_allows(resource_type, permission):
            return ()
        return scopes.queries(resource_type, permission, patient=True) + queries
    return queries


def write_answer(preference: str, permissions: Permissions, resource_type: str) -> str:
    """What a write is answered with (`Prefer: return`): not the resource, but as
    `minimal`, for a token that may write the type but not read it (SMART `.u`, v1
    `.write`): the stored resource holds what it did not send (the tags and security labels
    an update keeps)."""
    if preference == "representation" and not permissions.allows(resource_type, "r"):
        return "minimal"
    return preference


def shown(query: str) -> str:
    """A scope's search as a message names it: its start, when long."""
    return query if len(query) <= 100 else f"{query[:100]}..."


def outside_reach(reach: Reach, what: str) -> Forbidden:
    """The refusal of a resource (or version) beyond what a token's scopes reach: one
    message whichever part it fails, since which one would tell that it exists."""
    if not reach.queries:
        return Forbidden(f"The token's patient/ scopes allow reading {reach.compartment} and "
                         f"its compartment only, not {what}")
    searches = " or ".join(f"'{shown(query)}'" for query in reach.queries)
    within = f" in the compartment of {reach.compartment}" if reach.compartment else ""
    return Forbidden(f"The token's scopes allow reading {what.partition('/')[0]} resources"
                     f"{within} that {searches} matches only, not {what}")
