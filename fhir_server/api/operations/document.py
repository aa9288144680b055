"""`Composition/[id]/$document` and `Composition/$document?id=` (R4
http://hl7.org/fhir/R4/composition-operation-document.html): the document Bundle of a stored
Composition, made on request (services/documents.py)."""

import re

from fastapi.responses import Response

from fhir_server.api.media import FhirResponse, bundle_response
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.api.results import version_headers
from fhir_server.conformance.operations import INSTANCE, TYPE, OperationDescriptor
from fhir_server.conformance.primitives import ID_REGEX
from fhir_server.errors import BadRequest, Forbidden, MethodNotAllowed, NotSupported
from fhir_server.services.documents import DocumentAssembly
from fhir_server.services.versions import utc_now

_PARAMETERS = ("id", "persist", "graph")
_ID = re.compile(ID_REGEX)


async def document(call: OperationCall) -> Response:
    values = await call.single_parameters(_PARAMETERS)
    if values.get("persist", "false") not in ("true", "false"):
        raise BadRequest("persist takes true or false", expression="persist")
    if values.get("persist") == "true" and call.request.method in ("GET", "HEAD"):
        # GET is safe (RFC 9110 §9.2.1): storing the document needs POST.
        raise MethodNotAllowed("persist=true stores the document as a Bundle: invoke "
                               "$document with POST", headers={"Allow": "POST"})
    if "graph" in values:
        raise NotSupported("This server does not build documents from a GraphDefinition",
                           expression="graph")
    if call.resource_id is not None and "id" in values:
        # Composition-document: "the id parameter SHALL NOT be used if the operation is
        # requested on a particular composition".
        raise BadRequest("Name the Composition by the id in the path or by the id parameter, "
                         "not both", expression="id")
    composition_id = call.resource_id or _local_id(values.get("id"), call.base)
    assembly = DocumentAssembly(call.service.database.store(), call.base, call.caller.scopes)
    composition = await assembly.composition(composition_id)
    document = await call.service.provenance.seal_document(
        assembly.store, await assembly.document(composition, utc_now()))
    if values.get("persist") != "true":
        return await bundle_response(call.request, document)
    # Stored as any Bundle is created (create scope, validation, signed Provenance).
    if not call.caller.scopes.allows("Bundle", "c"):
        raise Forbidden("persist=true stores the document as a Bundle: the token's scopes do "
                        "not allow creating Bundle")
    version = (await call.service.create("Bundle", document, None)).version
    headers = {**version_headers(version), "Location": f"{call.base}/{version.versioned_url}"}
    return FhirResponse(call.request, version.resource, 201, headers)


def _local_id(given: str | None, base: str) -> str:
    """The `id` parameter: an id, `Composition/[id]`, or the URL of a Composition on this
    server (R4: "either a simple id, or a full URL"); a version of it is not supported."""
    if given is None:
        raise BadRequest("Composition/$document needs the Composition's id in the path or as "
                         "the id parameter", expression="id")
    if given.startswith(("http://", "https://")):
        prefix = f"{base}/Composition/"
        if not given.startswith(prefix):
            raise NotSupported(f"This server makes documents of its own Compositions only, "
                               f"not {given}", expression="id")
        given = given[len(prefix):]
    given = given.removeprefix("Composition/")
    if "/_history/" in given:
        raise NotSupported("This server makes documents of the current version of a "
                           f"Composition, not of {given}", expression="id")
    if not _ID.fullmatch(given):
        raise BadRequest(f"id takes a Composition's id or URL, not '{given}'", expression="id")
    return given


OPERATIONS = tuple(
    Operation(OperationDescriptor("document", "http://hl7.org/fhir/OperationDefinition/"
                                  "Composition-document", level, ("Composition",),
                                  checks_own_parameters=True), document)
    for level in (TYPE, INSTANCE)
)
