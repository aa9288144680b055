"""Who may run a batch or transaction entry, and the audit of the entries that read: each
is an interaction of its own (http://hl7.org/fhir/R4/http.html#brules), judged by the token's
scopes as the same request alone would be (SMART), and leaving the AuditEvent it would."""

from fhir_server.auth.scopes import (
    ANSWERED_WITH_STORED_CONTENT,
    INTERACTION_PERMISSION,
    Permissions,
)
from fhir_server.errors import Forbidden
from fhir_server.services.access import (
    Reach,
    current_principal,
    patient_compartment,
    scope_queries,
)
from fhir_server.services.audit import audit_read_entry
from fhir_server.services.audit_events import patients_of
from fhir_server.services.bundle_entries import Entry

READS = ("GET", "HEAD")
_WRITE_INTERACTIONS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def check_permission(entry: Entry, permissions: Permissions) -> Reach:
    """403 unless the scope an entry's interaction needs is granted (SMART: c create, r read,
    u update, d delete, s search); what a read or search reaches when only `patient/` or
    granular scopes allow it."""
    interaction = (read_interaction(entry) if entry.method in READS
                   else _WRITE_INTERACTIONS[entry.method])
    if interaction == "search-system":  # searches the types the scopes allow, as over HTTP
        return Reach()
    permission = INTERACTION_PERMISSION[interaction]
    if (interaction in ANSWERED_WITH_STORED_CONTENT
            and not permissions.allows(entry.resource_type, "r")):
        raise Forbidden(f"{entry.location}: the token's scopes do not allow reading "
                        f"{entry.resource_type}, which a {entry.method} answers with (read "
                        "(r) is needed as well as update (u))")
    if permissions.allows(entry.resource_type, permission):
        return Reach()
    principal = current_principal.get()
    if principal is not None and entry.method in READS:
        reach = Reach(patient_compartment(principal, interaction, entry.resource_type),
                      scope_queries(principal, interaction, entry.resource_type))
        if reach.compartment is not None or reach.queries:
            return reach
    # As the same request alone is answered: which scopes the token has, and the interaction.
    scopes = (principal.scope_text or "none") if principal is not None else None
    raise Forbidden(
        f"{entry.location}: the token's scopes{f' ({scopes})' if scopes else ''} do not allow "
        f"{interaction} ({entry.method}) on {entry.resource_type}"
    )


def read_interaction(entry: Entry) -> str:
    """The FHIR interaction of a GET or HEAD entry."""
    return ("search-system" if entry.resource_type == "*" and entry.compartment is None
            else "history-type" if entry.history and not entry.resource_id
            else "history-instance" if entry.history
            else "vread" if entry.vid is not None
            else "read" if entry.resource_id else "search-type")


def audit_read(entry: Entry, status: int, answer: dict | None = None, base: str = ""
               ) -> None:
    """The AuditEvent of a read or search entry answered (`answer`) or refused with
    `status`, naming what it read, and whose data (`base`: this server's, as a reference
    may name a patient), as the same request alone would: the batch's own event names none
    of it."""
    interaction = read_interaction(entry)
    about = (f"{entry.resource_type}/{entry.resource_id}" if entry.resource_id
             else entry.compartment or entry.resource_type)
    query = entry.query if interaction == "search-type" else None
    read = (answer or {}).get("resource") if interaction in ("read", "vread") else None
    patients = patients_of(entry.resource_type, read, base) if isinstance(read, dict) else ()
    audit_read_entry(interaction, (about,) if about != "*" else (), query or None, status,
                     patients)


def answered_status(answer: dict) -> int:
    """The status code of an entry's answer (`"200 OK"` → 200)."""
    return int(answer["response"]["status"][:3])
