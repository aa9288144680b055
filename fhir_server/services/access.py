"""The caller while a request is served: their permissions, for the searches a write runs on
the caller's behalf (conditional criteria, conditional references), which need the same
search scopes as the search itself would; and who they are, for the Provenance that signs
each write."""

from contextvars import ContextVar

from fhir_server.auth.scopes import ALL, Permissions
from fhir_server.auth.tokens import Principal
from fhir_server.errors import Forbidden

current_permissions: ContextVar[Permissions] = ContextVar("current_permissions", default=ALL)
# None: the server itself writes (demo data, `fhir-server load`), under the hospital's seal.
current_principal: ContextVar[Principal | None] = ContextVar("current_principal", default=None)


def require_search(permissions: Permissions, resource_type: str) -> None:
    if not permissions.allows(resource_type, "s"):
        raise Forbidden(f"The token's scopes do not allow searching {resource_type}")


def check_searchable(resource_type: str) -> None:
    """`require_search` with the permissions of the request being served."""
    require_search(current_permissions.get(), resource_type)
