"""Every FHIR request leaves an AuditEvent: who (from the token), what (the interaction
and resource), when, outcome, and from which address."""

import re
import uuid
from functools import lru_cache
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from fhir_server.api.asgi import HttpMiddleware
from fhir_server.api.client_address import client_address
from fhir_server.api.dependencies import server_origin
from fhir_server.api.request_state import state_value
from fhir_server.conformance.primitives import ID_REGEX
from fhir_server.services.audit import RequestAudit, current_request
from fhir_server.services.audit_events import Access

# route function → FHIR interaction (http://hl7.org/fhir/R4/valueset-type-restful-interaction.html)
_INTERACTIONS = {
    "read": "read",
    "vread": "vread",
    "create": "create",
    "update": "update",
    "conditional_update": "update",
    "patch": "patch",
    "conditional_patch": "patch",
    "delete": "delete",
    "conditional_delete": "delete",
    "search_type": "search-type",
    "search_compartment": "search-type",
    "type_history": "history-type",
    "instance_history": "history-instance",
    "system_history": "history-system",
    "search_system": "search-system",
    "batch_or_transaction": "transaction",
    "metadata": "capabilities",
    "system_operation": "operation",
    "type_operation": "operation",
    "instance_operation": "operation",
    "token": "operation",
    "export_status": "operation",
    "cancel_export": "operation",
    "export_file": "operation",
}


# Counted in the metrics, not audited: the public discovery document, which load balancers
# and clients poll (README "Audit").
_UNAUDITED = frozenset({"capabilities"})

# Interactions whose query the AuditEvent records: searches, and operations by GET
# (`$lastn?patient=...`, `$everything?_since=...`).
_QUERIED = frozenset({"search-type", "search-system", "operation"})

_CREATED = re.compile(rf"/([A-Z][A-Za-z]+/{ID_REGEX})/_history/\d+$")


def _interaction(request: Request) -> str | None:
    endpoint = request.scope.get("endpoint")
    if endpoint is None:  # refused before routing (e.g. 401 on an unknown path)
        return "operation" if request.url.path.startswith("/fhir") else None
    return _INTERACTIONS.get(endpoint.__name__)


def _entities(request: Request, location: str) -> tuple[str, ...]:
    """The resource a request was about; for a create, the one it made (its Location)."""
    # A route may name what it was about (a bulk export job, one of its files).
    if named := state_value(request, "audit_entity"):
        return (named,)
    if created := _CREATED.search(location):
        return (created[1],)
    params = request.scope.get("path_params", {})
    kind, resource_id = params.get("resource_type"), params.get("resource_id")
    if kind and resource_id:
        return (f"{kind}/{resource_id}",)
    if params.get("compartment_type") and params.get("compartment_id"):
        return (f"{params['compartment_type']}/{params['compartment_id']}",)
    return (kind,) if kind else ()


def _access(request: Request, request_id: str, location: str, status: int | None,
            interaction: str) -> Access:
    principal = state_value(request, "principal")
    return Access(
        interaction=interaction,
        status=status,
        who=principal.who if principal else None,
        is_client=bool(principal and principal.client_id),
        name=principal.name if principal else None,
        address=client_address(request),
        entities=_entities(request, location),
        query=state_value(request, "audit_query")
        or (_query_string(request) if interaction in _QUERIED else None),
        source=_observer(request),
        request_id=request_id,
        failure=state_value(request, "failure"),
        patients=state_value(request, "audit_patients") or (),
    )


def _observer(request: Request) -> str:
    """This server as the trail names it: its configured base URL's origin, not the `Host`
    header, which any client may write (`Host: evil.example` was stored as the observer)."""
    configured = request.app.state.settings.base_url
    return _origin_of(configured) if configured else server_origin(request)


@lru_cache(maxsize=8)
def _origin_of(base_url: str) -> str:
    """Read once, not on every audited request."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


def _query_string(request: Request) -> str:
    """The query as sent (percent-encoded), without building the whole URL as `request.url`
    does for every search."""
    return request.scope.get("query_string", b"").decode(errors="replace")


def _interaction_now(request: Request) -> str:
    # A route may know better (a Bundle POST is a batch or a transaction).
    return state_value(request, "interaction") or _interaction(request) or "operation"


_MAX_CORRELATION_ID = 200


class AuditMiddleware(HttpMiddleware):
    """A pure ASGI middleware (no task or response wrapping per request, unlike
    `@app.middleware`): the request's RequestAudit in `current_request` while the app runs,
    its X-Request-Id on the response, and its record spooled before the response starts
    (or when the app fails without one). Routes set `request.state`, which `scope["state"]`
    holds, so what they set is read here afterwards."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        request_id = str(uuid.uuid4())
        trail = getattr(request.app.state, "audit", None)
        audited = RequestAudit(
            lambda: _access(request, request_id, "", None, _interaction_now(request)),
            request_id, record=trail.record if trail is not None else None,
            request_id=request_id,
        )
        recorded = False

        async def audited_send(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = request_id
                if (correlation := _client_request_id(request)) is not None:
                    headers["X-Correlation-Id"] = correlation
                recorded = True
                record_request(request, request_id, headers.get("location", ""),
                               message["status"], audited.event_id, audited.in_transaction)
            await send(message)

        token = current_request.set(audited)
        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            if not recorded:
                # A failure made outside this middleware.
                record_request(request, request_id, "", 500, audited.event_id,
                               audited.in_transaction)
            raise
        finally:
            current_request.reset(token)


def _client_request_id(request: Request) -> str | None:
    """The client's own X-Request-Id, which the server's replaces: http.html#custom asks for
    it back as X-Correlation-Id. Only a plausible one (printable ASCII, not too long) is
    echoed."""
    sent = request.headers.get("x-request-id")
    if sent and len(sent) <= _MAX_CORRELATION_ID and sent.isascii() and sent.isprintable():
        return sent
    return None


def install_audit(app: FastAPI) -> None:
    app.add_middleware(AuditMiddleware)


def record_request(request: Request, request_id: str, location: str, status: int,
                   event_id: str | None = None, stored: bool = False) -> None:
    """Spool the request's AuditEvent (id `event_id`, else its request id), unless its
    write's transaction stored it (`stored`). A failed request whose write transaction may
    have committed all the same spools it under the same id: the drainer keeps whichever
    was stored first."""
    interaction = state_value(request, "interaction") or _interaction(request)
    trail = getattr(request.app.state, "audit", None)
    if interaction is None or interaction in _UNAUDITED or trail is None:
        return
    if stored and status < 400:
        return
    trail.record(_access(request, request_id, location, status, interaction),
                 event_id or request_id)
