"""`$meta` (system, type and instance level), `$meta-add` and `$meta-delete` (instance level,
also on one version: `[type]/[id]/_history/[vid]/$meta`) on every type
(http://hl7.org/fhir/R4/resource-operation-meta.html): the profiles, tags and security labels
in use, and those of one resource (or version) changed in place (services/meta_tags.py)."""

from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.operations import (
    EVERY_TYPE,
    INSTANCE,
    SYSTEM,
    TYPE,
    OperationDescriptor,
)
from fhir_server.conformance.registry import APPEND_ONLY_TYPES, READ_ONLY_TYPES
from fhir_server.services import meta_tags
from fhir_server.services.resources import check_type

_CORE = "http://hl7.org/fhir/OperationDefinition/Resource"
# Records never changed once made: their meta neither.
UNCHANGEABLE_TYPES = (*APPEND_ONLY_TYPES, *READ_ONLY_TYPES)


async def meta(call: OperationCall) -> FhirResponse:
    await call.single_parameters(())  # it takes none: a body that is not Parameters is 400
    if call.resource_type and call.resource_id:
        # The resource's Meta as a read (or vread) shows it, versionId and lastUpdated too.
        read = await (call.service.read(call.resource_type, call.resource_id)
                      if call.version_id is None else
                      call.service.vread(call.resource_type, call.resource_id, call.version_id))
        return FhirResponse(call.request, meta_tags.as_parameters((read.resource or {})["meta"]))
    stored = await call.service.database.stored_types()
    types = ([check_type(call.resource_type)] if call.resource_type
             else [t for t in stored if call.caller.scopes.allows(t, "r")])
    found = await meta_tags.meta_in_use(call.service.database.store(),
                                        [t for t in types if t in stored])
    return FhirResponse(call.request, meta_tags.as_parameters(found))


async def meta_add(call: OperationCall) -> FhirResponse:
    return await _change(call, add=True)


async def meta_delete(call: OperationCall) -> FhirResponse:
    return await _change(call, add=False)


async def _change(call: OperationCall, add: bool) -> FhirResponse:
    change = meta_tags.meta_input(await call.body(), f"${call.descriptor.name}")
    # In a transaction: two changes at once each read the meta and wrote theirs back, and
    # one was lost; MongoDB now runs the second again on the first's result.
    changed = await call.service.database.in_transaction(
        lambda store: meta_tags.change_meta(store, call.resource_type or "",
                                            call.resource_id or "", change, add,
                                            call.version_id))
    return FhirResponse(call.request, meta_tags.as_parameters(changed))


OPERATIONS = (
    # At system level it answers for the types the token may read (`meta` filters them), as
    # a system search does: no scope on `*` is needed.
    *(Operation(OperationDescriptor("meta", f"{_CORE}-meta", level, EVERY_TYPE,
                                    interaction="search-system" if level == SYSTEM else "read",
                                    versions=level == INSTANCE, checks_own_parameters=True),
                meta)
      for level in (SYSTEM, TYPE, INSTANCE)),
    *(Operation(OperationDescriptor(name, f"{_CORE}-{name}", INSTANCE, EVERY_TYPE,
                                    interaction="patch", methods=("POST",),
                                    excluded_types=UNCHANGEABLE_TYPES, versions=True), answer)
      for name, answer in (("meta-add", meta_add), ("meta-delete", meta_delete))),
)
