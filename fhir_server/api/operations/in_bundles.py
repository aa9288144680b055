"""Operations named by the entries of a batch Bundle (`GET Patient/1/$everything`, `POST
Patient/$validate`): R4 lets a batch mix interactions with "operations framework" calls
(http://hl7.org/fhir/R4/http.html#transaction). Each runs as a request of its own by the
same client would: the same token and its scopes, base URL and preferences, the entry's
resource as the body; only the entry's answer is FHIR JSON whatever the client asked for."""

import asyncio
import uuid
from http import HTTPStatus

from fastapi import Request

from fhir_server.api.audit import record_request
from fhir_server.api.operations.routes import invoke
from fhir_server.conformance import json_format
from fhir_server.conformance.messages import refusal
from fhir_server.conformance.operations import INSTANCE, SYSTEM, TYPE
from fhir_server.errors import BadRequest, FhirError
from fhir_server.services.audit import current_request
from fhir_server.services.bundle_entries import Entry
from fhir_server.services.bundles import OperationRunner

# The parent request's headers that do not apply to an entry: its body's, its conditions
# (an entry has its own), and the response's format (an entry's resource is JSON).
_NOT_INHERITED = frozenset((
    b"content-length", b"content-type", b"content-encoding", b"transfer-encoding", b"accept",
    b"accept-encoding", b"if-match", b"if-none-match", b"if-modified-since", b"if-none-exist",
))
_FHIR_JSON = b"application/fhir+json"
# What the response's format takes, which an entry's answer does not follow.
_PRESENTATION = ("_format=", "_pretty=")
# Response headers an entry's response carries (Bundle.entry.response).
_ENTRY_HEADERS = {"location": "location", "content-location": "location", "etag": "etag",
                  "last-modified": "lastModified"}


def entry_operations(request: Request) -> OperationRunner:
    """The runner of the operation entries of the batch `request` carries."""

    async def run(entry: Entry) -> dict:
        assert entry.operation is not None, "only operation entries come here"
        level, name, resource_type, resource_id, version_id = _route(entry)
        sub = _entry_request(request, entry, resource_type, resource_id)
        # Its own AuditEvent, as the call alone would leave (what it was about, its outcome):
        # the batch's names neither. Both name the batch's request id.
        event_id = str(uuid.uuid4())
        batch = current_request.get()
        request_id = batch.request_id if batch is not None else event_id
        try:
            # A task of its own: what the call sets in its context (the size of its input,
            # which decides what runs off the event loop) stays its own, and the loop
            # answers others between entries that do no I/O.
            response = await asyncio.create_task(
                invoke(sub, level, name, resource_type, resource_id, version_id))
        except FhirError as error:
            record_request(sub, request_id, "", error.status, event_id)
            raise
        record_request(sub, request_id, response.headers.get("location", ""),
                       response.status_code, event_id)
        answer: dict = {"response": {"status": f"{response.status_code} "
                                               f"{HTTPStatus(response.status_code).phrase}"}}
        for header, element in _ENTRY_HEADERS.items():
            if header in response.headers and element not in answer["response"]:
                answer["response"][element] = response.headers[header]
        if response.body and entry.method != "HEAD":
            content = json_format.loads(bytes(response.body))
            if response.status_code >= 400:  # an error's OperationOutcome
                answer["response"]["outcome"] = content
            else:
                answer["resource"] = content
        return answer

    return run


def _route(entry: Entry) -> tuple[str, str, str | None, str | None, str | None]:
    """Level, name, type, id and version of the operation the entry's url names."""
    assert entry.operation is not None, "only operation entries come here"
    *path, operation = entry.operation
    name = operation.removeprefix("$")
    match path:
        case []:
            return SYSTEM, name, None, None, None
        case [resource_type]:
            return TYPE, name, resource_type, None, None
        case [resource_type, resource_id]:
            return INSTANCE, name, resource_type, resource_id, None
        case [resource_type, resource_id, "_history", version_id]:
            return INSTANCE, name, resource_type, resource_id, version_id
    raise refusal(BadRequest, "bundle.no-operation", f"{entry.location}.request.url",
                  where=entry.location, path="/".join(entry.operation))


def _entry_request(parent: Request, entry: Entry, resource_type: str | None,
                   resource_id: str | None) -> Request:
    """The request the entry would be, made by the client that sent the batch."""
    assert entry.operation is not None, "only operation entries come here"
    body = json_format.dumps(entry.resource) if entry.resource is not None else b""
    headers = [(key, value) for key, value in parent.scope["headers"]
               if key not in _NOT_INHERITED]
    headers.append((b"accept", _FHIR_JSON))
    if body:
        headers += [(b"content-type", _FHIR_JSON), (b"content-length", str(len(body)).encode())]
    query = "&".join(item for item in (entry.query or "").split("&")
                     if item and not item.startswith(_PRESENTATION))
    path = f"{parent.scope.get('root_path', '')}/fhir/{'/'.join(entry.operation)}"
    scope = {
        **parent.scope,
        "method": entry.method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        # What the route would have matched, for the entry's AuditEvent.
        "path_params": {key: value for key, value in (("resource_type", resource_type),
                                                      ("resource_id", resource_id)) if value},
        # Its own state: what the operation records (its interaction) is not the batch's,
        # even when refused before the operation is found.
        "state": dict(parent.scope.get("state", {})) | {"interaction": "operation",
                                                         "audit_query": None},
    }
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)
