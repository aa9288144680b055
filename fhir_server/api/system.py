"""System-level interactions: batch/transaction, system history."""

from fastapi import APIRouter, Request

from fhir_server.api.dependencies import (
    Base,
    Bundles,
    HistoryParams,
    Prefer,
    SearchParams,
    Service,
    Write,
    return_preference,
    strict_handling,
)
from fhir_server.api.languages import outcome_language
from fhir_server.api.media import bundle_response
from fhir_server.api.operations.in_bundles import entry_operations
from fhir_server.api.request_state import state_value
from fhir_server.api.resources import READS, SEARCHES
from fhir_server.api.security import Caller
from fhir_server.services.bundles import RUN_AS

router = APIRouter()


@router.post("")
@router.post("/")
async def batch_or_transaction(bundles: Bundles, call: Write, caller: Caller):
    """batch/transaction (http://hl7.org/fhir/R4/http.html#transaction), and a history
    Bundle replicated as a batch; each entry needs the scopes of its own interaction."""
    bundle = await call.body(entries_alone=True)
    kind = bundle.get("type") if isinstance(bundle, dict) else None
    # Any JSON may stand there (a list, an object): refused by `process` below.
    if isinstance(bundle, dict) and isinstance(kind, str) and kind in RUN_AS:
        call.request.state.interaction = RUN_AS[kind]
        entries = bundle.get("entry")
        count = len(entries) if isinstance(entries, list) else 0
        if count <= bundles.max_entries:  # a larger one is refused (413) before any work
            call.request.app.state.authenticator.charge_entries(caller, count)
    response = await bundles.process(call.base, bundle, return_preference(call.prefer),
                                     caller.scopes, outcome_language(call.request),
                                     entry_operations(call.request),
                                     strict_handling(call.prefer),
                                     state_value(call.request, "unreadable_entries") or {})
    return await bundle_response(call.request, response, written=True)


@router.api_route("", methods=READS)
@router.api_route("/", methods=READS)
@router.api_route("/_search", methods=SEARCHES)
async def search_system(service: Service, base: Base, params: SearchParams, prefer: Prefer,
                        request: Request, caller: Caller):
    """search-system over `_type`, or every type the token may search
    (http://hl7.org/fhir/R4/search.html#searchcontexts); `GET _search?...` as `[type]/_search`
    by GET is, and as a batch entry's is."""
    bundle = await service.search_system(base, params, strict_handling(prefer), caller.scopes)
    return await bundle_response(request, bundle)


@router.api_route("/_history", methods=READS)
async def system_history(service: Service, base: Base, params: HistoryParams, prefer: Prefer,
                         request: Request, caller: Caller):
    """history-system over the types the token may search."""
    return await bundle_response(request, await service.history(
        base, params, permissions=caller.scopes, strict=strict_handling(prefer)))
