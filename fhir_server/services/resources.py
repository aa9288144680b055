"""The REST interactions on resources: each write runs in its own transaction."""

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime
from functools import partial
from typing import TypeVar

from fhir_server.auth.scopes import ALL, Permissions
from fhir_server.conformance.primitives import is_digits
from fhir_server.conformance.registry import READ_ONLY_TYPES, is_supported
from fhir_server.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    MethodNotAllowed,
    NotFound,
)
from fhir_server.services import interactions
from fhir_server.services.access import current_principal
from fhir_server.services.audit import audit_write
from fhir_server.services.bundle_assembly import history_bundle, page_links
from fhir_server.services.conformance_policy import ConformancePolicy
from fhir_server.services.cursors import CursorCodec, paging_context
from fhir_server.services.history_pages import history_page, visibility
from fhir_server.services.history_parameters import (
    check_history_parameters,
    history_span,
    last_value,
)
from fhir_server.services.interactions import WriteResult
from fhir_server.services.offloading import run_sized
from fhir_server.services.preconditions import UNCONDITIONAL, Precondition
from fhir_server.services.provenance import ProvenanceRecorder
from fhir_server.services.reindex import IndexCurrency
from fhir_server.services.search import ESTIMATE_MILLISECONDS, ResponseLimits, SearchService
from fhir_server.services.signing_rounds import SignaturesNeeded
from fhir_server.services.sorted_search import search_across
from fhir_server.services.system_search import SystemSearch
from fhir_server.services.verification import (
    sent_versions,
    stored_versions,
)
from fhir_server.services.verify_signature_input import (
    signed_document_input,
    verify_signature_input,
)
from fhir_server.services.versions import Version, repeatable_unit, restart_unit, stored_version
from fhir_server.storage.database import Database
from fhir_server.storage.history_spans import HistorySpan
from fhir_server.storage.resources import ResourceStore

T = TypeVar("T")
# Signing rounds of one write before giving up: the first is the normal case, every other
# one follows a change by another writer while the signing service was at work.
SIGNING_ROUNDS = 3


# System endpoints a method they do not take reaches as if it named a type: 405, not 404.
SYSTEM_ENDPOINTS = {"metadata": "GET, HEAD", "_history": "GET, HEAD"}


def check_type(resource_type: str) -> str:
    if resource_type in SYSTEM_ENDPOINTS:
        raise MethodNotAllowed(f"/{resource_type} is read with GET or HEAD only",
                               headers={"Allow": SYSTEM_ENDPOINTS[resource_type]})
    if not is_supported(resource_type):
        raise NotFound(
            f"Resource type '{resource_type}' is not a FHIR R4 resource type this server "
            "stores (see the CapabilityStatement at /metadata)"
        )
    return resource_type


def check_writable(resource_type: str) -> str:
    """Server-written records (AuditEvent) cannot be created, changed or deleted by clients."""
    if check_type(resource_type) in READ_ONLY_TYPES:
        raise MethodNotAllowed(f"{resource_type} resources are written by the server only")
    return resource_type


class ResourceService:
    def __init__(
        self,
        database: Database,
        cursors: CursorCodec,
        default_count: int,
        max_count: int,
        provenance: ProvenanceRecorder,
        policy: ConformancePolicy,
        response_limits: ResponseLimits | None = None,
    ):
        self.response_limits = response_limits or ResponseLimits()
        self.policy = policy
        self.database = database
        self.cursors = cursors
        self.default_count = default_count
        self.max_count = max_count
        self.provenance = provenance
        # Which types may still hold an earlier release's search entries.
        self.index_currency = IndexCurrency(database)

    async def transaction(self, work: Callable[[ResourceStore], Awaitable[T]]) -> T:
        """Run `work` in one MongoDB transaction together with the signed Provenance of
        every version it writes, on behalf of the caller of the request. A person's
        signatures are requested between runs of the unit, outside any transaction
        (`signing_rounds`); `work` may therefore run more than once."""
        principal = current_principal.get()
        presigned = await self.provenance.remote_signer(principal)

        written: list[str] = []  # `Type/id` of what the last run of the unit wrote

        async def signed_work(store: ResourceStore) -> T:
            restart_unit()  # also when MongoDB retries the callback
            result = await work(store)
            written[:] = [f"{kind}/{version.id}" for kind, version in store.written]
            await self.provenance.record(store, principal, presigned)
            await audit_write(store)  # the write's audit record commits with it
            return result

        with repeatable_unit():
            async with AsyncExitStack() as turn:
                held: set[str] = set()
                for signing_round in range(SIGNING_ROUNDS + 1):
                    try:
                        return await self.database.in_transaction(signed_work)
                    except SignaturesNeeded as needed:
                        if signing_round == SIGNING_ROUNDS:
                            break
                        # The turn of what this round writes; a later round may write
                        # another resource (a conditional update that now finds one).
                        if new := set(written) - held:
                            held |= new
                            await turn.enter_async_context(self.database.write_turns.turn(new))
                        await needed.signer.fetch(needed.digests)
        raise Conflict(
            "The resources this request writes kept changing while their signatures were "
            f"being made ({SIGNING_ROUNDS} times): try again"
        )

    async def read(
        self, resource_type: str, resource_id: str, store: ResourceStore | None = None
    ) -> Version:
        """read (http://hl7.org/fhir/R4/http.html#read): 404 unknown, 410 deleted.
        `store` is given inside a transaction, so the read sees the transaction's writes."""
        store = store or self.database.store()
        document = await store.current(check_type(resource_type), resource_id)
        if document is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        version = Version.from_current(resource_type, document)
        if version.deleted:
            raise Gone(f"{resource_type}/{resource_id} was deleted", headers={"ETag": version.etag})
        return version

    async def vread(
        self, resource_type: str, resource_id: str, vid: str, store: ResourceStore | None = None
    ) -> Version:
        """vread (http://hl7.org/fhir/R4/http.html#vread)."""
        document = await stored_version(store or self.database.store(),
                                        check_type(resource_type), resource_id, vid)
        return Version.from_history(resource_type, document)

    async def create(
        self, resource_type: str, body: object, if_none_exist: str | None
    ) -> WriteResult:
        check_writable(resource_type)
        return await self.transaction(
            lambda store: interactions.create(store, resource_type, body, self.policy,
                                             if_none_exist)
        )

    async def update(
        self, resource_type: str, resource_id: str, body: object, precondition: Precondition
    ) -> WriteResult:
        check_writable(resource_type)
        return await self.transaction(
            lambda store: interactions.update(
                store, resource_type, resource_id, body, self.policy, precondition
            )
        )

    async def conditional_update(
        self, resource_type: str, query: str, body: object, precondition: Precondition
    ) -> WriteResult:
        check_writable(resource_type)
        return await self.transaction(
            lambda store: interactions.conditional_update(
                store, resource_type, query, body, self.policy, precondition
            )
        )

    async def patch(
        self,
        resource_type: str,
        resource_id: str | None,
        query: str | None,
        operations: object,
        precondition: Precondition,
    ) -> WriteResult:
        check_writable(resource_type)

        async def work(store: ResourceStore) -> WriteResult:
            if resource_id:
                target = resource_id
            else:
                assert query is not None, "a patch names an id or search criteria"
                target = await interactions.resolve_single(store, resource_type, query)
            return await interactions.patch(
                store, resource_type, target, operations, self.policy, precondition
            )

        return await self.transaction(work)

    async def delete(
        self, resource_type: str, resource_id: str, precondition: Precondition
    ) -> WriteResult | None:
        check_writable(resource_type)
        return await self.transaction(
            lambda store: interactions.delete(store, resource_type, resource_id, precondition)
        )

    async def conditional_delete(self, resource_type: str, query: str,
                                 precondition: Precondition = UNCONDITIONAL) -> WriteResult | None:
        check_writable(resource_type)
        return await self.transaction(
            lambda store: interactions.conditional_delete(store, resource_type, query, precondition)
        )

    async def verify_provenance(self, provenance_id: str, permissions: Permissions) -> dict:
        """`Provenance/{id}/$verify`: each signature checked against the stored targets, for
        a caller who may read them (the report tells of their content: its size, whether it
        is intact)."""
        provenance = (await self.read("Provenance", provenance_id)).resource
        assert provenance is not None, "read() refuses deletions"
        kinds = {str(target.get("reference", "")).split("/")[0]
                 for target in provenance.get("target") or [] if isinstance(target, dict)}
        if unreadable := sorted(kind for kind in kinds if not permissions.allows(kind, "r")):
            raise Forbidden(f"$verify checks the Provenance's targets, and the token's scopes "
                            f"do not allow reading {', '.join(unreadable)}")
        verifier = self.provenance.verifier
        verification = await verifier.verify(provenance, stored_versions(self.database.store()))
        return verification.to_parameters(f"Provenance/{provenance_id}")

    async def verify_signature(self, parameters: object) -> dict:
        """`$verify-signature`: a Provenance checked against the resources sent with it, or a
        document Bundle's own signature."""
        verifier = self.provenance.verifier
        # Checked as a write would be, off the event loop when large (as the signatures are).
        document = await run_sized(signed_document_input, parameters)
        if document is not None:
            return (await run_sized(verifier.verify_document, document)).to_parameters()
        provenance, resources = await run_sized(verify_signature_input, parameters)
        verification = await verifier.verify(provenance, sent_versions(resources))
        return verification.to_parameters()

    def page_size(self, params: list[tuple[str, str]]) -> int:
        counts = [value for name, value in params if name == "_count"]
        if not counts:
            return self.default_count
        if not is_digits(counts[-1]):
            raise BadRequest(
                f"_count must be a non-negative integer, not '{counts[-1]}'", expression="_count"
            )
        return min(int(counts[-1]), self.max_count)

    async def history(
        self,
        base: str,
        params: list[tuple[str, str]],
        resource_type: str | None = None,
        resource_id: str | None = None,
        permissions: Permissions = ALL,
        store: ResourceStore | None = None,
        compartment: str | None = None,
        scope_query: dict | None = None,
        strict: bool = False,
    ) -> dict:
        """history at instance, type or system level, newest first, with _since, _at, _count and
        keyset paging (http://hl7.org/fhir/R4/http.html#history); `store` is given inside a
        transaction, so the history has the transaction's writes. With `compartment` (a
        token's patient/ scopes), the versions that were in it only, and no total; with
        `scope_query` (granular scopes' searches, compiled), the versions it matched only;
        with `strict` (`Prefer: handling=strict`), a parameter it does not take is 400.
        `_count=0` gives no version and no `next` link, the total only where one is given."""
        check_history_parameters(params, strict)
        store = store or self.database.store()
        # The audit trail grows with every request: it is not part of system history.
        stored = await self.database.stored_types()
        everything = [t for t in stored if t not in READ_ONLY_TYPES]
        types = [check_type(resource_type)] if resource_type else everything
        types = [t for t in types if permissions.allows(t, "s") or resource_id is not None]
        if resource_id is not None:
            assert resource_type is not None, "an instance's history names its type"
            if await store.current(resource_type, resource_id) is None:
                raise NotFound(f"{resource_type}/{resource_id} is not known")
        count = self.page_size(params)
        span = history_span(params)
        cursor = last_value(params, "_cursor")
        path = "/".join(p for p in (resource_type, resource_id, "_history") if p)
        # Its pages keep the period and format (`_format`, `_pretty`) asked for, and the page
        # size used (search.html#count: `_count=5000` is 1000 here, as the links say).
        kept = [(n, str(count) if n == "_count" else v) for n, v in params
                if n in ("_since", "_at", "_count", "_format", "_pretty")]
        context = paging_context(path, kept)
        after = None
        if cursor:
            position = self.cursors.decode(cursor, context)
            try:
                after = (datetime.fromisoformat(position["t"]), position["o"])
            except (KeyError, TypeError, ValueError):
                raise BadRequest("The paging cursor does not belong to this history",
                                 expression="_cursor") from None
        versions: list[Version] = []
        next_position = None
        if count > 0:  # `_count=0` asks for the total alone (search.html#count)
            versions, next_position = await history_page(
                store, types, resource_id, span, after, count,
                visibility(store, base, compartment, scope_query))
        next_cursor = None
        if next_position is not None:
            next_cursor = self.cursors.encode(
                {"t": next_position[0].isoformat(), "o": next_position[1]}, context)
        total = None
        if compartment is None and scope_query is None:  # else it would count the unseen
            total = await _history_total(store, types, resource_id, span, count)
        links = page_links(base, path, kept, next_cursor, cursor)
        return history_bundle(base, versions, links, total)

    async def search(
        self,
        base: str,
        resource_type: str,
        params: list[tuple[str, str]],
        strict: bool,
        compartment: str | None = None,
        permissions: Permissions = ALL,
        store: ResourceStore | None = None,
        scope_queries: tuple[str, ...] = (),
    ) -> dict:
        """search-type (http://hl7.org/fhir/R4/search.html), also inside a transaction;
        `permissions` decide which included and chained types the caller may see, and
        `scope_queries` (`SearchService.search`) which matches."""
        return await self._searcher(base, permissions, store).search(
            check_type(resource_type), params, strict, compartment, scope_queries)

    def _searcher(self, base: str, permissions: Permissions, store: ResourceStore | None
                  ) -> SearchService:
        return SearchService(store or self.database.store(), self.cursors, self.default_count,
                             self.max_count, base, permissions, self.response_limits,
                             self.database.stored_types, self.index_currency.stale)

    async def search_system(self, base: str, params: list[tuple[str, str]], strict: bool,
                            permissions: Permissions, compartment: str | None = None,
                            store: ResourceStore | None = None) -> dict:
        """search-system: several types, or every type the token may search; with a
        `compartment`, those of its types (`Patient/123/*`); in a transaction's `store`.
        One store for every type: the queries of them all within one search's time."""
        store = store or self.database.store()

        async def search_type(kind: str, type_params: list[tuple[str, str]]) -> dict:
            return await self.search(base, kind, type_params, strict, compartment, permissions,
                                     store=store)

        in_one_order = partial(search_across, self._searcher(base, permissions, store), strict,
                               compartment)
        searcher = SystemSearch(search_type, in_one_order, self.cursors, self.default_count,
                                self.max_count, base, compartment)
        return await searcher.search(params, await self.database.stored_types(), permissions,
                                     strict)


async def _history_total(store: ResourceStore, types: list[str], resource_id: str | None,
                         span: HistorySpan, count: int) -> int | None:
    """The versions a history lists: an instance's always, a type's or the system's for
    `_count=0` (as search's `_summary=count`), unless counting them takes too long."""
    if resource_id is not None:
        return await store.count_versions(types, resource_id, span)
    if count > 0:
        return None
    try:
        return await store.count_versions(types, None, span, max_time_ms=ESTIMATE_MILLISECONDS)
    except TimeoutError:
        return None
