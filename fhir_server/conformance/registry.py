"""What this server serves: every concrete resource type of R4, read from the core
StructureDefinitions (http://hl7.org/fhir/R4/resourcelist.html), with the few that have rules
of their own."""

from functools import cache

from fhir_server.conformance.definitions import registry

# Operation parameters are exchanged, never stored (http://hl7.org/fhir/R4/parameters.html).
NOT_STORED_TYPES = frozenset({"Parameters"})
# Records the server writes itself; clients may read and search them only.
READ_ONLY_TYPES = ("AuditEvent",)
# Created, never changed nor deleted: a signed record of who did what stays as it was made.
APPEND_ONLY_TYPES = ("Provenance",)

FHIR_VERSION = "4.0.1"


@cache
def resource_types() -> tuple[str, ...]:
    """Every resource type the server stores, in alphabetical order."""
    return tuple(t for t in registry().resource_types if t not in NOT_STORED_TYPES)


def is_supported(resource_type: str) -> bool:
    return resource_type in _supported()


@cache
def _supported() -> frozenset[str]:
    return frozenset(resource_types())
