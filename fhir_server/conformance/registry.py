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
)

FHIR_VERSION = "4.0.1"

def is_supported(resource_type: str) -> bool:
    return resource_type in RESOURCE_TYPES
