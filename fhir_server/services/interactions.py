"""Write interactions inside a unit of work (http://hl7.org/fhir/R4/http.html).

Each function takes the `ResourceStore` of a running transaction, so a single request and
every entry of a transaction Bundle share one implementation.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from fhir_server.conformance.messages import Phrase, issue, phrase, refusal
from fhir_server.conformance.primitives import is_id
from fhir_server.conformance.registry import APPEND_ONLY_TYPES
from fhir_server.errors import (
    BadRequest,
    Conflict,
    FhirError,
    Gone,
    Issue,
    MethodNotAllowed,
    MultipleMatches,
    NotFound,
    Unprocessable,
    operation_outcome,
)
from fhir_server.services.conditional_criteria import (
    acquire_guards,
    check_created_matches,
    find_matches,
    shown,
)
from fhir_server.services.conformance_policy import ConformancePolicy
from fhir_server.services.fhirpath_patch import apply_fhirpath_patch, is_fhirpath_patch
from fhir_server.services.json_patch import apply_json_patch
from fhir_server.services.meta_tags import with_kept_labels
from fhir_server.services.offloading import LARGE_INPUT_BYTES, input_size, run_sized
from fhir_server.services.preconditions import UNCONDITIONAL, Precondition
from fhir_server.services.references import conditional_references, local_form
from fhir_server.services.subsetting import is_subsetted
from fhir_server.services.versions import (
    Version,
    new_id,
    next_timestamp,
    same_content,
    stamp,
    storage_documents,
)
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import ResourceStore

# Replaces, in a patched resource, its links to a transaction's other entries (given the
# current version, whose own links stay as they are).
PatchedLinks = Callable[[dict, dict], None]


@dataclass(frozen=True)
class WriteResult:
    version: Version
    created: bool = False
    # False when nothing was written: a conditional create that matched, an update sending
    # what is stored already, an idempotent delete.
    changed: bool = True
    warnings: tuple[Issue, ...] = ()  # what the client should know, e.g. unknown profiles

    def outcome(self, language: str) -> dict:
        """The OperationOutcome `Prefer: return=OperationOutcome` asks for: what was done,
        then the warnings (http://hl7.org/fhir/R4/http.html#ops)."""
        if self.version.deleted:
            action = "write.deleted"
        elif self.created:
            action = "write.created"
        else:
            action = "write.updated" if self.changed else "write.matched"
        done = issue(action, "informational", severity="information",
                     url=self.version.versioned_url)
        return operation_outcome([done, *self.warnings], language)


def check_body(resource_type: str, body: object) -> dict:
    if not isinstance(body, dict):
        raise refusal(BadRequest, "body.not-object")
    if "resourceType" not in body:
        raise refusal(BadRequest, "body.no-resource-type", "resourceType", type=resource_type)
    if body["resourceType"] != resource_type:
        raise refusal(BadRequest, "body.other-resource-type", "resourceType",
                      given=body["resourceType"], type=resource_type)
    return body


async def _write(
    store: ResourceStore,
    resource_type: str,
    resource_id: str,
    body: dict | None,
    previous: CurrentVersion | None,
    method: str,
) -> Version:
    if resource_type in APPEND_ONLY_TYPES and previous is not None:
        raise MethodNotAllowed(
            f"{resource_type} resources are append-only: {resource_type}/{resource_id} "
            "cannot be changed or deleted (create a new one instead)"
        )
    last_updated = next_timestamp(previous.last_updated if previous else None)
    vid = previous.vid + 1 if previous else 1
    resource = stamp(body, resource_id, vid, last_updated) if body is not None else None
    recreated = previous is not None and previous.deleted and resource is not None
    version = Version(resource_type, resource_id, vid, last_updated, resource, method, recreated)
    await store.write_version(resource_type, *await run_sized(storage_documents, version))
    return version




async def create(
    store: ResourceStore,
    resource_type: str,
    body: object,
    policy: ConformancePolicy,
    if_none_exist: str | None = None,
    resource_id: str | None = None,
) -> WriteResult:
    """create, and conditional create with If-None-Exist (http.html#ccreate)."""
    body = check_body(resource_type, body)
    if resource_id is None and isinstance(body.get("id"), str):
        # "If an id is provided, the server SHALL ignore it", a malformed one too (a JSON
        # null or number is no id at all, but bad FHIR JSON).
        body = {name: value for name, value in body.items() if name != "id"}
    _refuse_subsetted(body, phrase("body.created-sent", type=resource_type))
    await resolve_conditional_references(store, body)
    warnings = await run_sized(policy.check, body)
    if if_none_exist is not None:
        # Concurrent conditional creates of one resource serialise here: never two.
        await acquire_guards(store, resource_type, if_none_exist)
        matches = await find_matches(store, resource_type, if_none_exist)
        if len(matches) > 1:
            raise MultipleMatches(
                f"If-None-Exist '{shown(if_none_exist)}' matches more than one {resource_type}"
            )
        if matches:
            return WriteResult(Version.from_current(resource_type, matches[0]), changed=False)
    version = await _write(store, resource_type, resource_id or new_id(), body, None, "POST")
    if if_none_exist is not None:
        await check_created_matches(store, resource_type, version.id, if_none_exist)
    return WriteResult(version, created=True, warnings=warnings)


async def update(
    store: ResourceStore,
    resource_type: str,
    resource_id: str,
    body: object,
    policy: ConformancePolicy,
    precondition: Precondition = UNCONDITIONAL,
    new_version: bool = False,
) -> WriteResult:
    """update, and update-as-create with a client-assigned id (http.html#update). The same
    content makes no new version, but with `new_version` (one a transaction's references
    name already)."""
    body = check_body(resource_type, body)
    await resolve_conditional_references(store, body)
    if "id" not in body:
        raise refusal(BadRequest, "body.update-without-id", f"{resource_type}.id",
                      id=resource_id)
    if body["id"] != resource_id:
        raise refusal(BadRequest, "body.update-other-id", f"{resource_type}.id",
                      given=body["id"], id=resource_id)
    if resource_id in (".", ".."):  # ids by datatypes.html#id, but no URL's path segments
        raise refusal(BadRequest, "body.dot-segment-id", f"{resource_type}.id", id=resource_id)
    _refuse_subsetted(body, phrase("body.updated-sent", type=resource_type, id=resource_id))
    warnings = await run_sized(policy.check, body)
    current = await store.current(resource_type, resource_id)
    await precondition.check_resource(store, resource_type, resource_id, current)
    # (An append-only type's resource is never updated: _write refuses even the same.)
    if current is not None and current.resource is not None and (
            resource_type not in APPEND_ONLY_TYPES):
        body = with_kept_labels(body, current.resource)
        if not new_version and same_content(body, current.resource):  # (as HAPI)
            return WriteResult(Version.from_current(resource_type, current), changed=False,
                               warnings=warnings)
    version = await _write(store, resource_type, resource_id, body, current, "PUT")
    created = current is None or current.deleted
    return WriteResult(version, created=created, warnings=warnings)


def _refuse_subsetted(resource: dict, what: Phrase) -> None:
    if is_subsetted(resource):
        # search.html#summary: the tag is there so that a part is never stored as a whole.
        raise refusal(Unprocessable, "body.subsetted", f"{resource['resourceType']}.meta.tag",
                      what=what)


async def conditional_update(
    store: ResourceStore,
    resource_type: str,
    query: str,
    body: object,
    policy: ConformancePolicy,
    precondition: Precondition = UNCONDITIONAL,
) -> WriteResult:
    """Conditional update (http.html#cond-update): 0 matches create, 1 updates, more → 412."""
    body = check_body(resource_type, body)
    await acquire_guards(store, resource_type, query)
    target_id = await conditional_update_target(store, resource_type, query, body.get("id"))
    if target_id is None:
        return await create_matching(store, resource_type, query, body, policy, precondition)
    result = await update(store, resource_type, target_id, {**body, "id": target_id},
                          policy, precondition)
    if result.created:  # it matched nothing: an update as create, of the body's id
        await check_created_matches(store, resource_type, result.version.id, query)
    return result


async def create_matching(store: ResourceStore, resource_type: str, query: str, body: object,
                          policy: ConformancePolicy, precondition: Precondition = UNCONDITIONAL,
                          resource_id: str | None = None) -> WriteResult:
    """A conditional update that matches nothing and whose body has no id (http.html
    #cond-update): a new resource, which its criteria must find, if `precondition` holds
    where there is none. `resource_id`: the new id a transaction gave it, which no request
    named, so its refusals name the criteria."""
    precondition.check(f"a {resource_type} matching '{shown(query)}'", None)
    result = await create(store, resource_type, body, policy, resource_id=resource_id)
    await check_created_matches(store, resource_type, result.version.id, query)
    return result


async def conditional_update_target(
    store: ResourceStore, resource_type: str, query: str, body_id: object,
    excluding: Collection[str] = (),
) -> str | None:
    """The id a conditional update writes: the one match's (the body's id, if any, must be
    it), else the body's id when no resource has it (update as create); None: create with
    a new id. More than one match is 412; no match and a body id naming an existing resource
    is 409, as R5 spells out (http.html#cond-update): the criteria did not select it.
    Resources `excluding` names (`Type/id`) count as gone: a transaction deletes them first."""
    matches = await find_matches(store, resource_type, query, excluding=excluding)
    if len(matches) > 1:
        raise MultipleMatches(f"Conditional update '{shown(query)}' matches more than one "
                              f"{resource_type}")
    if matches:
        if body_id not in (None, matches[0].id):
            raise refusal(BadRequest, "body.other-than-match", f"{resource_type}.id",
                          given=body_id, id=matches[0].id)
        return matches[0].id
    if not body_id:
        return None
    existing = await store.current(resource_type, str(body_id))
    if existing is not None and not existing.deleted and (
            f"{resource_type}/{body_id}" not in excluding):
        raise refusal(Conflict, "body.id-not-matched", f"{resource_type}.id",
                      type=resource_type, query=shown(query), given=body_id)
    return str(body_id)


async def patch(
    store: ResourceStore,
    resource_type: str,
    resource_id: str,
    operations: object,
    policy: ConformancePolicy,
    precondition: Precondition = UNCONDITIONAL,
    link: PatchedLinks | None = None,
) -> WriteResult:
    """JSON Patch, or FHIRPath Patch given as a Parameters resource (http.html#patch): the
    result must still be a valid resource. `link`: a transaction's entry replaces the links
    to its other entries in that result."""
    if resource_type in APPEND_ONLY_TYPES:  # even a patch that would change nothing
        raise MethodNotAllowed(f"{resource_type} resources are append-only: they cannot be "
                               "patched")
    current = await store.current(resource_type, resource_id)
    if current is None:
        raise NotFound(f"{resource_type}/{resource_id} does not exist")
    if current.deleted:  # as a read of it answers
        raise Gone(f"{resource_type}/{resource_id} was deleted")
    await precondition.check_resource(store, resource_type, resource_id, current)
    assert current.resource is not None, "a deletion is refused above"
    # What costs here is the stored resource, copied, patched, validated and compared, not
    # the patch: a tiny patch of a 10 MB resource held the event loop for seconds.
    input_size.set(max(input_size.get(), LARGE_INPUT_BYTES))
    patched = await run_sized(_patched, current.resource, operations)
    if patched.get("id") != resource_id or patched.get("resourceType") != resource_type:
        raise BadRequest("A patch may not change the resource's id or resourceType")
    _refuse_subsetted(patched, phrase("body.patched", type=resource_type, id=resource_id))
    # A patch is an update: it may add tags and labels, and only `$meta-delete` removes them.
    patched = with_kept_labels(patched, current.resource)
    if link is not None:
        link(patched, current.resource)
    await resolve_conditional_references(store, patched)
    warnings = await run_sized(policy.check, patched)
    if await run_sized(same_content, patched, current.resource):  # changing nothing
        return WriteResult(Version.from_current(resource_type, current), changed=False,
                           warnings=warnings)
    version = await _write(store, resource_type, resource_id, patched, current, "PATCH")
    return WriteResult(version, warnings=warnings)


def _patched(resource: dict, operations: object) -> dict:
    if is_fhirpath_patch(operations):
        assert isinstance(operations, dict), "is_fhirpath_patch: a Parameters resource"
        return apply_fhirpath_patch(resource, operations)
    return apply_json_patch(resource, operations)


async def resolve_conditional_references(store: ResourceStore, resource: dict) -> None:
    """Each conditional reference (`Patient?identifier=s|v`) becomes the one resource it
    matches, in any write as in a transaction (http.html#trules); a search URL is no literal
    reference and is never stored as one. None or several matches fail the write. A Bundle
    stored as a resource keeps its entries as they were sent (a transaction kept for the
    record is not run): `conditional_references` finds none in it."""
    for path, element in conditional_references(resource):
        kind, _, query = local_form(element["reference"]).partition("?")
        try:
            target = await resolve_single(store, kind, query)
        except FhirError as error:
            # Placed at the reference that failed: a transaction named the entry alone, and
            # a batch entry or a single write nothing (or the criteria's parameter, `foo`).
            raise _at_reference(error, path, element["reference"]) from None
        element["reference"] = f"{kind}/{target}"


def _at_reference(error: FhirError, path: str, reference: str) -> FhirError:
    def placed(diagnostics: str) -> str:
        return f"Conditional reference '{shown(reference)}' at {path}: {diagnostics}"

    issues = [replace(issue, diagnostics=placed(issue.diagnostics), expression=(path,))
              for issue in error.issues]
    return type(error)(issues[0].diagnostics, issues=issues, headers=error.headers)


async def resolve_single(store: ResourceStore, resource_type: str, query: str) -> str:
    """The id of the one resource matching conditional criteria (PATCH/DELETE)."""
    matches = await find_matches(store, resource_type, query)
    if len(matches) > 1:
        raise MultipleMatches(f"'{shown(query)}' matches more than one {resource_type}")
    if not matches:
        raise NotFound(f"No {resource_type} matches '{shown(query)}'")
    return matches[0].id


def _refuse_deleting(resource_type: str) -> None:
    """405 for a type whose resources are never deleted, whether or not one is there (a
    DELETE finding nothing answered 204, one finding something 405)."""
    if resource_type in APPEND_ONLY_TYPES:
        raise MethodNotAllowed(f"{resource_type} resources are append-only: they cannot be "
                               "deleted")


async def delete(
    store: ResourceStore, resource_type: str, resource_id: str,
    precondition: Precondition = UNCONDITIONAL,
) -> WriteResult | None:
    """delete (http.html#delete); None when there was nothing to delete (204 all the same),
    400 for an id no resource can have."""
    _refuse_deleting(resource_type)
    if not is_id(resource_id):
        raise BadRequest(f"'{resource_id}' is not a FHIR id (1 to 64 of A-Z, a-z, 0-9, '-' "
                         "and '.'): no resource has it", expression="id")
    current = await store.current(resource_type, resource_id)
    await precondition.check_resource(store, resource_type, resource_id, current)
    if current is None or current.deleted:
        return None
    return WriteResult(await _write(store, resource_type, resource_id, None, current, "DELETE"))


async def conditional_delete(
    store: ResourceStore, resource_type: str, query: str,
    precondition: Precondition = UNCONDITIONAL,
) -> WriteResult | None:
    """Conditional delete (http.html#cdelete): one match is deleted (if `precondition`
    holds of it), several → 412."""
    _refuse_deleting(resource_type)
    matches = await find_matches(store, resource_type, query)
    if len(matches) > 1:
        raise MultipleMatches(f"Conditional delete '{shown(query)}' matches more than one "
                              f"{resource_type}")
    if matches:
        return await delete(store, resource_type, matches[0].id, precondition)
    precondition.check(f"a {resource_type} matching '{shown(query)}'", None)
    return None
