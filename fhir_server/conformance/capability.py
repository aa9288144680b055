"""The CapabilityStatement, generated from what the server really supports
(http://hl7.org/fhir/R4/capabilitystatement.html)."""

from fhir_server.conformance.registry import (
    APPEND_ONLY_TYPES,
    FHIR_VERSION,
    READ_ONLY_TYPES,
    RESOURCE_TYPES,
)
from fhir_server.conformance.search_parameters import search_parameters

# Our own operation, so our own canonical URL (no OperationDefinition is served yet).
_REINDEX = "urn:fhir-exchange-server:OperationDefinition/reindex"
# Signature verification (README "Signature contract"), ours too.
_VERIFY = "urn:fhir-exchange-server:OperationDefinition/Provenance-verify"
_VERIFY_SIGNATURE = "urn:fhir-exchange-server:OperationDefinition/verify-signature"
# Bulk Data Access IG v2 (http://hl7.org/fhir/uv/bulkdata/STU2/): $export at three levels.
_BULK_DATA = "http://hl7.org/fhir/uv/bulkdata"
_EXPORT = {"name": "export", "definition": f"{_BULK_DATA}/OperationDefinition/export"}
_TYPE_EXPORTS = {
    kind: {"name": "export", "definition": f"{_BULK_DATA}/OperationDefinition/{name}"}
    for kind, name in (("Patient", "patient-export"), ("Group", "group-export"))
}
_READ_INTERACTIONS = ("read", "vread", "history-instance", "history-type", "search-type")
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
    parameters = search_parameters(resource_type)
    params = [
        {"name": code, "definition": p.url, "type": p.type, "documentation": p.description}
        for code, p in parameters.items()
    ]
    references = [code for code, p in parameters.items() if p.type == "reference"]
    rev_includes = [
        f"{source}:{code}"
        for source in RESOURCE_TYPES
        for code, p in search_parameters(source).items()
        if p.type == "reference" and resource_type in p.targets
    ]
    is_provenance = resource_type == "Provenance"
    operations = [{"name": "verify", "definition": _VERIFY}] if is_provenance else []
    operations += [_TYPE_EXPORTS[resource_type]] if resource_type in _TYPE_EXPORTS else []
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "interaction": [
            {"code": code}
            for code in _TYPE_INTERACTIONS
            if resource_type not in READ_ONLY_TYPES or code in _READ_INTERACTIONS
            if resource_type not in APPEND_ONLY_TYPES or code not in ("patch", "delete")
        ],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "logical"],
        "searchInclude": ["*"] + [f"{resource_type}:{code}" for code in references],
        "searchRevInclude": rev_includes,
        "searchParam": params,
    } | ({"operation": operations} if operations else {})


def _security(base: str) -> dict:
    """SMART on FHIR (http://hl7.org/fhir/smart-app-launch/conformance.html)."""
    return {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": "token", "valueUri": f"{base}/auth/token"}],
            }
        ],
    }


def capability_statement(base: str, software_version: str, published: str) -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published,
        "publisher": "FHIR exchange server",
        "kind": "instance",
        "instantiates": [f"{_BULK_DATA}/CapabilityStatement/bulk-data"],
        "software": {"name": "fhir-exchange-server", "version": software_version},
        "implementation": {"description": "FHIR R4 health data exchange server", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "application/json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(base),
                "resource": [_resource(t) for t in RESOURCE_TYPES],
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "history-system"},
                ],
                "operation": [
                    {"name": "reindex", "definition": _REINDEX},
                    {"name": "verify-signature", "definition": _VERIFY_SIGNATURE},
                    _EXPORT,
                ],
            }
        ],
    }
