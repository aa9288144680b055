"""The caller while a request is served: their permissions, for the searches a write runs on
the caller's behalf (conditional criteria, conditional references), which need the same
search scopes as the search itself would; and who they are, for the Provenance that signs
each write."""

from contextvars import ContextVar

from fhir_server.auth.scopes import ALL, INTERACTION_PERMISSION, Permissions
from fhir_server.auth.tokens import Principal
from fhir_server.errors import Forbidden

# What `patient/` scopes grant, within the compartment of the token's patient.
PATIENT_INTERACTIONS = frozenset({"read", "vread", "history-instance", "search-type"})

current_permissions: ContextVar[Permissions] = ContextVar("current_permissions", default=ALL)
# None: the server itself writes (demo data, `fhir-server load`), under the hospital's seal.
current_principal: ContextVar[Principal | None] = ContextVar("current_principal", default=None)


def require_search(permissions: Permissions, resource_type: str) -> None:
    if permissions.allows(resource_type, "s"):
        return
    if permissions.patient_allows(resource_type, "s"):
        # A chain, `_has` or `_list` reads beyond the compartment a patient/ grant keeps to.
        raise Forbidden(f"The token's patient/ scopes allow searching {resource_type} in the "
                        "patient's compartment only, not through a chain, _has or _list")
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
    if (not principal.scopes.allows(resource_type, permission)
            and interaction in PATIENT_INTERACTIONS and principal.patient is not None
            and principal.scopes.patient_allows(resource_type, permission)):
        return f"Patient/{principal.patient}"
    return None


def outside_compartment(compartment: str, what: str) -> Forbidden:
    """The refusal of a resource (or version) outside the compartment a token keeps to."""
    return Forbidden(f"The token's patient/ scopes allow reading {compartment} and its "
                     f"compartment only, not {what}")
