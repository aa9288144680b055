"""What this server serves: resource types and the search parameters of the foundation."""

# Exchange content and the resources it references (product brief).
RESOURCE_TYPES = (
    "Patient",
    "Encounter",
    "DocumentReference",
    "Provenance",
    "Practitioner",
    "Organization",
    "Group",
    "Binary",
    "AuditEvent",
)

# Records the server writes itself; clients may read and search them only.
READ_ONLY_TYPES = ("AuditEvent",)
# Created, never changed nor deleted: a signed record of who did what stays as it was made.
APPEND_ONLY_TYPES = ("Provenance",)

FHIR_VERSION = "4.0.1"

def is_supported(resource_type: str) -> bool:
    return resource_type in RESOURCE_TYPES
