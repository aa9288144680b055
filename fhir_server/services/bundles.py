"""batch and transaction Bundles, and history Bundles replicated as batches
(http://hl7.org/fhir/R4/http.html#transaction)."""

import asyncio
import copy
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from functools import partial
from http import HTTPStatus

from fhir_server.auth.scopes import ALL, Permissions
from fhir_server.conformance.envelopes import envelope_errors
from fhir_server.conformance.issue_lists import capped
from fhir_server.conformance.messages import issue, refusal
from fhir_server.conformance.registry import is_supported
from fhir_server.errors import (
    BadRequest,
    FhirError,
    InvalidResource,
    Issue,
    PayloadTooLarge,
    operation_outcome,
)
from fhir_server.services import interactions
from fhir_server.services.access import write_answer
from fhir_server.services.batch_steps import run_in_steps
from fhir_server.services.bundle_entries import (
    ORDER,
    Entry,
    check_entry_parameters,
    in_entry,
    not_supported,
    parse_entry,
    patch_operations,
)
from fhir_server.services.bundle_identities import (
    Mentions,
    assign_ids,
    check_identity,
    written_versions,
)
from fhir_server.services.conditional_criteria import check_created_matches, find_matches
from fhir_server.services.conformance_policy import ConformancePolicy
from fhir_server.services.entry_access import READS, answered_status, audit_read, check_permission
from fhir_server.services.entry_independence import (
    bundle_local_urls,
    check_distinct_targets,
    check_independent,
    written_more_than_once,
)
from fhir_server.services.entry_reads import read_entry
from fhir_server.services.history_replication import replay, replicated_entry
from fhir_server.services.interactions import PatchedLinks, WriteResult
from fhir_server.services.offloading import run_sized
from fhir_server.services.read_budget import (
    ReadBudget,
    charge,
    charge_operation,
    check_room,
    read_budget,
)
from fhir_server.services.references import (
    has_conditional_references,
    reference_base,
    rewrite_patched_references,
    rewrite_references,
)
from fhir_server.services.resources import ResourceService, check_writable
from fhir_server.services.search import MOST_RESPONSE_BYTES
from fhir_server.services.transaction_outcomes import with_other_entries_checked
from fhir_server.services.versions import format_instant, new_id
from fhir_server.storage.database import DatabaseUnreachable
from fhir_server.storage.resources import ResourceStore

log = logging.getLogger(__name__)

# Runs an operation entry (`Patient/1/$everything`) as a request of its own by the same
# client and answers its Bundle.entry (resource and response); the API layer provides it.
OperationRunner = Callable[[Entry], Awaitable[dict]]

# The Bundle types POST [base] takes, and what each runs as: a history Bundle is replicated
# as a batch (http.html#transaction: "servers SHOULD accept a history Bundle").
RUN_AS = {"batch": "batch", "transaction": "transaction", "history": "batch"}
_ENTRIES_BETWEEN_TURNS = 50  # of a transaction, written before other requests get a turn
# The request's `Prefer: handling` for the searches and histories of its entries.
_strict_searches: ContextVar[bool] = ContextVar("strict_searches", default=False)


async def _write(
    store: ResourceStore, entry: Entry, policy: ConformancePolicy, max_depth: int,
    link: PatchedLinks | None = None,
) -> WriteResult | None:
    check_writable(entry.resource_type)
    kind = entry.resource_type
    if entry.method == "POST":
        return await interactions.create(
            store, kind, entry.resource, policy, entry.if_none_exist,
            resource_id=entry.assigned_id,
        )
    if entry.method == "PUT":
        if entry.resolved_criteria is not None:
            await _check_still_one_match(store, entry)
        if entry.creates_new:
            assert entry.resolved_criteria is not None, "assign_ids: from its criteria"
            return await interactions.create_matching(
                store, kind, entry.resolved_criteria, entry.resource, policy,
                entry.precondition, entry.resource_id)
        if entry.resource_id:
            result = await interactions.update(
                store, kind, entry.resource_id, entry.resource, policy, entry.precondition,
                entry.new_version)
            if entry.resolved_criteria is not None and result.created:  # it matched nothing
                await check_created_matches(store, kind, entry.resource_id,
                                            entry.resolved_criteria)
            return result
        return await interactions.conditional_update(
            store, kind, entry.criteria, entry.resource, policy, entry.precondition
        )
    if entry.method == "PATCH":
        target = entry.resource_id or await interactions.resolve_single(
            store, kind, entry.criteria
        )
        return await interactions.patch(
            store, kind, target, patch_operations(entry, max_depth), policy, entry.precondition,
            link,
        )
    if entry.resource_id:
        return await interactions.delete(store, kind, entry.resource_id, entry.precondition)
    return await interactions.conditional_delete(store, kind, entry.criteria, entry.precondition)


async def _check_still_one_match(store: ResourceStore, entry: Entry) -> None:
    """A conditional PUT resolved before the transaction ran; its POSTs, written since
    (http.html#trules: "Process any POST" before "any PUT"), must not match its criteria:
    two entries would then be one resource, which "SHALL fail"."""
    assert entry.resolved_criteria is not None and entry.resource_id is not None
    matches = await find_matches(store, entry.resource_type,
                                              entry.resolved_criteria)
    others = [match.id for match in matches if match.id != entry.resource_id]
    if others:
        raise refusal(BadRequest, "bundle.criteria-match-created", entry.location,
                      where=entry.location, criteria=entry.resolved_criteria,
                      target=f"{entry.resource_type}/{others[0]}")


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


class BundleProcessor:
    def __init__(self, service: ResourceService, max_entries: int, max_depth: int = 64,
                 max_read_resources: int = 10_000, max_read_bytes: int = MOST_RESPONSE_BYTES,
                 max_parameters: int = 200, max_parameter_repeats: int = 100):
        self.service = service
        self.max_entries = max_entries
        self.max_depth = max_depth  # of a JSON Patch in a Binary, as of any JSON body
        self.max_read_resources = max_read_resources  # the read entries' answers together
        self.max_read_bytes = max_read_bytes
        # Of each entry's request.url and ifNoneExist, as of a request's query string.
        self.parameter_limits = (max_parameters, max_parameter_repeats)

    async def process(
        self,
        base: str,
        bundle: object,
        return_preference: str,
        permissions: Permissions = ALL,
        language: str = "en",
        operations: OperationRunner | None = None,
        strict: bool = False,
        unreadable: Mapping[int, list[Issue]] | None = None,
    ) -> dict:
        """POST [base] with a batch, transaction or history Bundle (replicated as a batch:
        `history_replication`); each entry needs `permissions`
        for its own interaction; entry outcomes are in `language` (en, vi). A batch's
        operation entries run through `operations` (none: 400 not-supported). With
        `strict` (`Prefer: handling=strict`), searches and histories refuse unknown
        parameters, as the same requests on their own would. `unreadable`: the errors of
        entries (by index) whose resource could not be read (XML that is no valid FHIR),
        left out of them."""
        budget = read_budget.set(ReadBudget(self.max_read_resources, self.max_read_bytes))
        handling = _strict_searches.set(strict)
        try:
            return await self._process(base, bundle, return_preference, permissions, language,
                                       operations, unreadable or {})
        finally:
            _strict_searches.reset(handling)
            read_budget.reset(budget)

    async def _process(self, base: str, bundle: object, return_preference: str,
                       permissions: Permissions, language: str,
                       operations: OperationRunner | None,
                       unreadable: Mapping[int, list[Issue]]) -> dict:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise refusal(BadRequest, "bundle.not-a-bundle", "resourceType")
        kind = bundle.get("type")
        if kind is None:  # it said "not 'None'", a word of the server's code
            missing = issue("bundle.no-type", "required", "Bundle.type")
            raise BadRequest(missing.diagnostics, issues=[missing])
        if not isinstance(kind, str) or kind not in RUN_AS:
            raise refusal(BadRequest, "bundle.not-batch-or-transaction", "Bundle.type",
                          kind=kind)
        raw_entries = bundle.get("entry", [])
        if not isinstance(raw_entries, list):
            raise refusal(BadRequest, "bundle.entry-not-array", "Bundle.entry")
        if len(raw_entries) > self.max_entries:
            raise refusal(PayloadTooLarge, "bundle.too-many-entries", "Bundle.entry",
                          count=len(raw_entries), max=self.max_entries)
        # Off the event loop for a large Bundle (5,000 entries held it 0.7 s).
        broken, refused = await run_sized(envelope_errors, bundle)
        refused = {index: [*unreadable.get(index, []), *refused.get(index, [])]
                   for index in {*unreadable, *refused}}
        if kind == "transaction":
            broken += [found for issues in refused.values() for found in issues]
        if broken:
            raise InvalidResource(broken[0].diagnostics, issues=capped(broken))
        if kind == "transaction":
            entries = [parse_entry(i, raw, base) for i, raw in enumerate(raw_entries)]
            for entry in entries:
                check_entry_parameters(entry, *self.parameter_limits)
                if entry.operation is not None:
                    # Its writes would not be the transaction's, nor undone with it.
                    raise not_supported(entry.location, "bundle.operation-in-transaction")
            responses = await self._transaction(base, entries, return_preference, permissions,
                                                language)
        else:
            within = bundle_local_urls(raw_entries, kind, base)
            # A history lists a resource as often as it changed, each version to be written.
            shared = {} if kind == "history" else await written_more_than_once(
                raw_entries, base, self.service.database.store, self.parameter_limits)

            async def answer(i: int) -> None:
                answered[i] = _failed(InvalidResource(
                    refused[i][0].diagnostics, issues=capped(refused[i])), language
                ) if i in refused else await self._batch_entry(
                    base, i, raw_entries[i], return_preference, permissions, language, within,
                    shared, operations, replicated=kind == "history")

            answered: dict[int, dict] = {}
            await (replay if kind == "history" else run_in_steps)(raw_entries, answer)
            responses = [answered[i] for i in range(len(raw_entries))]
        response: dict = {"resourceType": "Bundle", "id": new_id(),
                          "type": f"{RUN_AS[kind]}-response"}
        return response | ({"entry": responses} if responses else {})

    async def _transaction(
        self, base: str, entries: list[Entry], return_preference: str, permissions: Permissions,
        language: str,
    ) -> list[dict]:
        check_distinct_targets(entries)
        ordered = sorted(entries, key=_processing_order)
        failed: list[int] = []  # the entry the transaction failed at

        async def work(store: ResourceStore) -> dict[int, dict]:
            # A conflicting concurrent transaction makes MongoDB run this again: start afresh.
            attempt = [dataclasses.replace(e, resource=copy.deepcopy(e.resource)) for e in ordered]
            assigned = await assign_ids(store, attempt)
            for kind, ids in _targets_by_type(attempt).items():
                await store.read_ahead(kind, ids)
            versions = await written_versions(store, attempt, assigned, base)

            responses: dict[int, dict] = {}
            written: dict[str, Entry] = {}  # `Type/id` → the first entry naming it
            mentions = Mentions(attempt)
            for position, entry in enumerate(attempt):
                if position % _ENTRIES_BETWEEN_TURNS == _ENTRIES_BETWEEN_TURNS - 1:
                    # Writes held until the commit do no I/O: without a turn for the other
                    # requests, 4,000 entries held the event loop for seconds.
                    await asyncio.sleep(0)
                try:
                    reach = check_permission(entry, permissions)
                    if entry.method in READS:
                        # Reads run last, inside the transaction: they see its writes, and a
                        # failing read rolls everything back like any other entry.
                        responses[entry.index] = await read_entry(
                            self.service, base, entry, permissions, reach,
                            _strict_searches.get(), store)
                        continue
                    entry_base = reference_base(entry.full_url, base)
                    link = None
                    if entry.method == "PATCH":  # its links: those of the resource it makes
                        link = partial(rewrite_patched_references, assigned=assigned,
                                       base=entry_base, versions=versions)
                    elif isinstance(entry.resource, dict):
                        rewrite_references(entry.resource, assigned, entry_base, versions)
                    result = await _write(store, entry, self.service.policy, self.max_depth,
                                          link)
                    check_identity(entry, result, assigned, written, mentions)
                except FhirError as error:
                    failed[:] = [entry.index]
                    raise in_entry(entry, error) from None
                responses[entry.index] = _write_response(base, result, return_preference,
                                                         language, permissions)
            return responses

        try:
            responses = await self.service.transaction(work)
        except FhirError as error:
            if not failed:
                raise
            if (failing := entries[failed[0]]).method in READS:
                audit_read(failing, error.status)
            raise await with_other_entries_checked(error, failed[0], entries,
                                                   self.service.policy) from None
        # Audited once committed: MongoDB may run `work` again, and a rolled-back
        # transaction's reads answered nothing.
        for entry in entries:
            if entry.method in READS:
                audit_read(entry, answered_status(responses[entry.index]),
                           responses[entry.index], base)
        return [responses[entry.index] for entry in entries]

    async def _batch_entry(
        self, base: str, index: int, raw: object, return_preference: str, permissions: Permissions,
        language: str, within: frozenset[str], shared: Mapping[int, str],
        operations: OperationRunner | None, replicated: bool = False,
    ) -> dict:
        """A batch entry's response; `replicated`: a history Bundle's entry, written again as
        `replicated_entry` says."""
        try:
            if replicated:
                raw = replicated_entry(index, raw, base)
            entry = parse_entry(index, raw, base)
            check_entry_parameters(entry, *self.parameter_limits)
            check_independent(entry, within, base)
            if (target := shared.get(index)) is not None:
                raise refusal(BadRequest, "bundle.written-twice-in-batch", entry.location,
                              where=entry.location, target=target)
            if entry.operation is not None:
                if operations is None:
                    raise not_supported(entry.location, "bundle.operation-not-here")
                charge_operation(entry.location)  # it checks the token's scopes itself
                check_room(entry.location)
                return charge(await operations(entry), entry.location)
            if entry.method in READS:
                return await self._audited_read(base, entry, permissions)
            check_permission(entry, permissions)
            policy = self.service.policy
            result = await self.service.transaction(
                lambda store: _write(store, entry, policy, self.max_depth)
            )
            return _write_response(base, result, return_preference, language, permissions)
        except FhirError as error:
            return _failed(error, language)
        except DatabaseUnreachable:
            raise  # 503 for the request: no other entry can be answered either
        except Exception:
            # A failure of the server's own stays in its entry (http.html#brules): the
            # client still learns what the other entries, some already written, did.
            log.exception("batch entry %s failed", index)
            return _failed(FhirError("Internal server error; it has been logged"), language)

    async def _audited_read(self, base: str, entry: Entry, permissions: Permissions) -> dict:
        """A batch's GET or HEAD entry, and its AuditEvent, refused or not."""
        try:
            answer = await read_entry(self.service, base, entry, permissions,
                                      check_permission(entry, permissions),
                                      _strict_searches.get())
        except FhirError as error:
            audit_read(entry, error.status)
            raise
        audit_read(entry, answered_status(answer), answer, base)
        return answer


def _failed(error: FhirError, language: str) -> dict:
    """The response of a batch entry that failed."""
    return {"response": {"status": _status(error.status),
                         "outcome": error.operation_outcome(language)}}


def _processing_order(entry: Entry) -> tuple[int, bool, bool]:
    """DELETE, POST, PUT/PATCH, GET (http.html#trules), so that the result "SHALL NOT depend
    on the order of the resources" in the Bundle: within a step plain writes before
    conditional ones (a conditional create or update then finds what the step's plain
    writes make), and writes with conditional references after every other write ("Resolve
    any conditional references" comes after them: a reference finds a patient created or
    updated beside it)."""
    writes = entry.method not in ("GET", "HEAD")
    deferred = writes and has_conditional_references(entry.resource)
    conditional = (bool(entry.if_none_exist) if entry.method == "POST"
                   else writes and entry.resource_id is None)
    return (ORDER["PUT"] if deferred else ORDER[entry.method], deferred, conditional)


def _targets_by_type(entries: list[Entry]) -> dict[str, list[str]]:
    """The ids that updates, patches and deletes name, by type (each is looked up first)."""
    targets: dict[str, list[str]] = {}
    for entry in entries:
        if entry.method in ("PUT", "PATCH", "DELETE") and entry.resource_id and is_supported(
            entry.resource_type
        ):
            targets.setdefault(entry.resource_type, []).append(entry.resource_id)
    return targets


def _write_response(base: str, result: WriteResult | None, return_preference: str,
                    language: str, permissions: Permissions) -> dict:
    if result is None:
        return {"response": {"status": "204 No Content"}}
    version = result.version
    return_preference = write_answer(return_preference, permissions, version.resource_type)
    if version.deleted:
        deleted: dict = {"status": "204 No Content", "etag": version.etag}
        if return_preference == "OperationOutcome":
            deleted["outcome"] = result.outcome(language)
        return {"response": deleted}
    response: dict = {
        "fullUrl": f"{base}/{version.relative_url}",
        "response": {
            "status": _status(201 if result.created else 200),
            "location": f"{base}/{version.versioned_url}",
            "etag": version.etag,
            "lastModified": format_instant(version.last_updated),
        },
    }
    if return_preference == "representation":
        response["resource"] = version.resource
    if return_preference == "OperationOutcome":
        response["response"]["outcome"] = result.outcome(language)
    elif result.warnings:  # Bundle.entry.response.outcome: hints and warnings
        response["response"]["outcome"] = operation_outcome(result.warnings, language)
    return response
