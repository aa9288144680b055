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

# Identity search: what conditional interactions need (http://hl7.org/fhir/R4/search.html).
IDENTITY_SEARCH_PARAMETERS = {
    "_id": (
        "token",
        "Logical id of this artifact",
        "http://hl7.org/fhir/SearchParameter/Resource-id",
    ),
    "_lastUpdated": (
        "date",
        "When the resource version last changed",
        "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
    ),
    "identifier": ("token", "A business identifier of the resource", None),
}

# Types that have no `identifier` element in R4.
TYPES_WITHOUT_IDENTIFIER = frozenset({"Binary", "Provenance"})


def is_supported(resource_type: str) -> bool:
    return resource_type in RESOURCE_TYPES


def search_parameters(resource_type: str) -> list[str]:
    return [
        code
        for code in IDENTITY_SEARCH_PARAMETERS
        if not (code == "identifier" and resource_type in TYPES_WITHOUT_IDENTIFIER)
    ]
