"""The caller's permissions while a request is served, for the searches a write runs on the
caller's behalf (conditional criteria, conditional references): they need the same search
scopes as the search itself would."""

from contextvars import ContextVar

from fhir_server.auth.scopes import ALL, Permissions
from fhir_server.errors import Forbidden

current_permissions: ContextVar[Permissions] = ContextVar("current_permissions", default=ALL)


def check_searchable(resource_type: str) -> None:
    if not current_permissions.get().allows(resource_type, "s"):
        raise Forbidden(f"The token's scopes do not allow searching {resource_type}")
