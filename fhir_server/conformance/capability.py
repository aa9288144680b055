"""The CapabilityStatement, generated from what the server really supports
(http://hl7.org/fhir/R4/capabilitystatement.html)."""

from fhir_server.conformance.registry import (
    FHIR_VERSION,
    IDENTITY_SEARCH_PARAMETERS,
    RESOURCE_TYPES,
    search_parameters,
)

_TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)


def _resource(resource_type: str) -> dict:
    params = []
    for code in search_parameters(resource_type):
        kind, documentation, definition = IDENTITY_SEARCH_PARAMETERS[code]
        param = {"name": code, "type": kind, "documentation": documentation}
        if definition:
            param["definition"] = definition
        params.append(param)
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "interaction": [{"code": code} for code in _TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "logical"],
        "searchParam": params,
    }


def capability_statement(base: str, software_version: str, published: str) -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published,
        "publisher": "FHIR exchange server",
        "kind": "instance",
        "software": {"name": "fhir-exchange-server", "version": software_version},
        "implementation": {"description": "FHIR R4 health data exchange server", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "application/json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [_resource(t) for t in RESOURCE_TYPES],
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "history-system"},
                ],
            }
        ],
    }
