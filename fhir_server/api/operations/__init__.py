"""Operations (http://hl7.org/fhir/R4/operations.html): one module each, describing and
answering its operation; registering it here routes it, checks its scopes, audits it and
lists it in the CapabilityStatement."""

from fhir_server.api.operations import (
    document,
    everything,
    export,
    lastn,
    match,
    meta,
    reindex,
    signatures,
    summary,
    terminology,
    translate,
    validate,
    validate_code,
)
from fhir_server.api.operations.base import Operation
from fhir_server.conformance.operations import OperationDescriptor

OPERATIONS: tuple[Operation, ...] = (
    *document.OPERATIONS,
    *everything.OPERATIONS,
    *export.OPERATIONS,
    *lastn.OPERATIONS,
    *match.OPERATIONS,
    *meta.OPERATIONS,
    *reindex.OPERATIONS,
    *signatures.OPERATIONS,
    *summary.OPERATIONS,
    *terminology.OPERATIONS,
    *validate.OPERATIONS,
    *validate_code.OPERATIONS,
    *translate.OPERATIONS,
)
DESCRIPTORS: tuple[OperationDescriptor, ...] = tuple(o.descriptor for o in OPERATIONS)


def find(level: str, name: str, resource_type: str | None) -> Operation | None:
    return next((o for o in OPERATIONS if o.descriptor.name == name
                 and o.descriptor.applies_to(level, resource_type)), None)
