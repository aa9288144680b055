"""The CapabilityStatement, generated from what the server really supports
(http://hl7.org/fhir/R4/capabilitystatement.html)."""

from functools import cache

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.operations import OperationDescriptor, capability_operations
from fhir_server.conformance.profile_tree import profile_problem
from fhir_server.conformance.registry import (
    APPEND_ONLY_TYPES,
    FHIR_VERSION,
    NOT_STORED_TYPES,
    READ_ONLY_TYPES,
    resource_types,
)
from fhir_server.conformance.search_parameters import (
    COMPARTMENT_TYPES,
    reference_parameters,
    search_parameters,
)

# What a PATCH takes (its `patchFormat`, and RFC 5789's Accept-Patch): JSON Patch, and
# FHIRPath Patch as a Parameters resource in FHIR JSON or XML (http.html#patch).
PATCH_FORMATS = ("application/json-patch+json", "application/fhir+json", "application/fhir+xml")
# Bulk Data Access IG v2 (http://hl7.org/fhir/uv/bulkdata/STU2/).
_BULK_DATA = "http://hl7.org/fhir/uv/bulkdata"
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


def type_interactions(resource_type: str) -> tuple[str, ...]:
    """What clients may do with a type: the rules the services enforce with 405 (AuditEvent
    is written by the server only; a Provenance, once made, is never changed: its `update`
    creates only, so that a loader keeping another server's ids can PUT it)."""
    if resource_type in READ_ONLY_TYPES:
        return _READ_INTERACTIONS
    if resource_type in APPEND_ONLY_TYPES:
        return (*_READ_INTERACTIONS, "create", "update")
    return _TYPE_INTERACTIONS


# What an interaction of an append-only type does.
_APPEND_ONLY_NOTES = {
    "update": "Creates only (update as create, or a conditional update with no match); "
                      "an existing one is never changed (405)",
}


@cache
def _system_parameters() -> list[dict]:
    shared = set.intersection(*(set(search_parameters(t)) for t in resource_types()))
    patient = search_parameters("Patient")
    return [{"name": code, "definition": patient[code].url, "type": patient[code].type}
            for code in sorted(shared)]


@cache
def _rev_includes() -> dict[str, list[str]]:
    """target type → the `Source:param` reference parameters that may point at it."""
    found: dict[str, list[str]] = {}
    for source in resource_types():
        for code, parameter in search_parameters(source).items():
            if parameter.type == "reference":
                for target in parameter.targets:
                    found.setdefault(target, []).append(f"{source}:{code}")
    return found


@cache
def _supported_profiles() -> dict[str, list[str]]:
    """type → the canonical URLs of the profiles of it the registry holds (the R4 core's and
    the installed packages') and can use: what `meta.profile` and `$validate` check against.
    One that cannot be used (its base is not installed, its rules contradict) is not
    supported: compiling them all once takes about 0.4 s."""
    found: dict[str, list[str]] = {}
    for definition in registry().all("StructureDefinition"):
        if (definition.get("derivation") == "constraint" and definition.get("kind") == "resource"
                and registry().resolve(definition["url"]) is definition
                and profile_problem(definition["url"]) is None):
            found.setdefault(definition["type"], []).append(definition["url"])
    return {kind: sorted(urls) for kind, urls in found.items()}


# R4's `phonetic` of people, organizations and insurance plans: "using some kind of phonetic
# matching algorithm". Soundex, Metaphone and NYSIIS (jellyfish) code English sounds from
# consonants: they give Hùng, Hằng, Hồng, Hương and Hoàng one code, Hà, Hải, Hoa and Huệ
# another, Vũ and Võ one: most names here would find others'.
_NOT_PHONETIC = (
    "Matched as a string search is, not phonetically: from the start of the name (of any part "
    "of a person's name), case and accents folded (nguyen finds Nguyễn). Phonetic codes "
    "(Soundex, Metaphone) would give most Vietnamese names the code of others.")
# How this server answers parameters whose definitions leave the matching to the server.
_PARAMETER_NOTES = {f"http://hl7.org/fhir/SearchParameter/{name}": _NOT_PHONETIC
                    for name in ("individual-phonetic", "Organization-phonetic",
                                 "InsurancePlan-phonetic")}


def _resource(resource_type: str, operations: tuple[OperationDescriptor, ...]) -> dict:
    parameters = search_parameters(resource_type)
    params = [
        {"name": code, "definition": p.url, "type": p.type,
         "documentation": _PARAMETER_NOTES.get(p.url, p.description)}
        for code, p in parameters.items()
    ]
    references = reference_parameters(resource_type)
    rev_includes = _rev_includes().get(resource_type, [])
    offered = capability_operations(operations, resource_type)
    profiles = _supported_profiles().get(resource_type)
    interactions = type_interactions(resource_type)
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "interaction": [
            {"code": code} | ({"documentation": _APPEND_ONLY_NOTES[code]}
                              if resource_type in APPEND_ONLY_TYPES and code in _APPEND_ONLY_NOTES
                              else {})
            for code in interactions
        ],
        # An append-only or read-only type's update never meets a version to match.
        "versioning": "versioned-update" if interactions == _TYPE_INTERACTIONS else "versioned",
        "readHistory": True,
        "updateCreate": "update" in interactions,
        "conditionalCreate": "create" in interactions,
        "conditionalRead": "full-support",
        "conditionalUpdate": "update" in interactions,
        "conditionalDelete": "single" if "delete" in interactions else "not-supported",
        "referencePolicy": ["literal", "logical"],
        # `Type:*`, every reference parameter; a bare `*` would claim `_include=*`.
        "searchInclude": [f"{resource_type}:*"] + [f"{resource_type}:{code}"
                                                  for code in references],
        "searchRevInclude": ["*", *rev_includes],  # `*`: every stored type referring
        "searchParam": params,
    } | ({"operation": offered} if offered else {}) | (
        {"supportedProfile": profiles} if profiles else {})


def _security(cors: bool) -> dict:
    """SMART on FHIR (http://hl7.org/fhir/smart-app-launch/conformance.html). The token
    endpoint is discovered by `.well-known/smart-configuration`: SMART 1's `oauth-uris`
    extension needs an `authorize` endpoint (1..1), which a backend-services server has not,
    and without one the statement failed its own validation."""
    return {
        "cors": cors,
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
    }


def _unstored_resource(resource_type: str,
                       operations: tuple[OperationDescriptor, ...]) -> dict | None:
    """A type the server does not store but invokes operations on (`Parameters/$validate`):
    its operations and no interaction, as HAPI lists a type it has operations only for
    (ServerCapabilityStatementProvider: an entry per type with method bindings)."""
    offered = {operation.name: {"name": operation.name, "definition": operation.definition}
               for operation in operations if resource_type in operation.unstored_types}
    if not offered:
        return None
    return {"type": resource_type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
            "operation": list(offered.values())}


@cache
def _resources(operations: tuple[OperationDescriptor, ...]) -> list[dict]:
    """Every type's entry, in alphabetical order: the same for every request, so built
    once."""
    stored = [_resource(t, operations) for t in resource_types()]
    unstored = [entry for t in NOT_STORED_TYPES
                if (entry := _unstored_resource(t, operations)) is not None]
    return sorted([*stored, *unstored], key=lambda entry: entry["type"])


def capability_statement(
    base: str,
    software_version: str,
    published: str,
    operations: tuple[OperationDescriptor, ...],
    cors: bool = False,
    required: tuple[tuple[str, str], ...] = (),
) -> dict:
    """The server's CapabilityStatement; `cors`: whether browser apps of other origins may
    call it (FHIR_CORS_ORIGINS); `required`: (type, profile) of the types whose writes must
    conform to one profile (FHIR_REQUIRED_PROFILES), which is then their `profile`, "the
    base system profile for all uses of resource"."""
    base_profiles = dict(required)
    resources = [entry | {"profile": base_profiles[entry["type"]]}
                 if entry["type"] in base_profiles else entry
                 for entry in _resources(operations)]
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
        "format": ["application/fhir+json", "application/json", "application/fhir+xml", "json",
                   "xml"],
        "patchFormat": list(PATCH_FORMATS),
        "rest": [
            {
                "mode": "server",
                "security": _security(cors),
                "resource": resources,
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch", "documentation": (
                        "Also a history Bundle (http.html#transaction: servers SHOULD accept "
                        "one), replicated as a batch: each entry's version written again as "
                        "an update of its Type/id, a deletion as a delete, oldest first")},
                    {"code": "history-system"},
                    {"code": "search-system"},
                ],
                # What every type has (Resource's); with `_type`, what all the types named do.
                "searchParam": _system_parameters(),
                "operation": capability_operations(operations, None),
                "compartment": compartment_definitions(),
            }
        ],
    }


@cache
def compartment_definitions() -> list[str]:
    """The CompartmentDefinitions of the compartments searched here (`Patient/1/*`)."""
    urls = {definition.get("code"): definition["url"]
            for definition in registry().all("CompartmentDefinition") if "url" in definition}
    return [urls[kind] for kind in COMPARTMENT_TYPES if kind in urls]
