"""`$meta`, `$meta-add` and `$meta-delete` (http://hl7.org/fhir/R4/resource-operation-meta.html
and the two after it): the profiles, tags and security labels in use, and those of one
resource changed in place.

As the operations say, a change makes no new version: meta does not change what the resource
means, and security labels govern access to versions already stored. The signed content
leaves `meta` out (README "Signature contract"), so every signature still verifies; the
resource's search entries (`_tag`, `_profile`, `_security`) are rebuilt with it.
"""

from fhir_server.conformance.issue_lists import capped
from fhir_server.conformance.primitives import is_digits
from fhir_server.conformance.profiles import declared_profiles
from fhir_server.conformance.validation import validate_resource, validation_issues
from fhir_server.errors import (
    BadRequest,
    Conflict,
    Unprocessable,
)
from fhir_server.search.index import build_search_index
from fhir_server.services.offloading import run_off_the_loop
from fhir_server.services.subsetting import is_subsetted
from fhir_server.services.versions import stored_current, stored_version
from fhir_server.storage.resources import ResourceStore

ELEMENTS = ("profile", "tag", "security")
# `$meta` at type or system level: the distinct values of one element listed per resource
# type, and the resources of a type read for them (a bound on the work of one request).
MAX_LISTED = 1000
MAX_SCANNED = 100_000


def meta_input(body: object, operation: str) -> dict:
    """The `meta` (a Meta) of a POSTed Parameters."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest(f"{operation} takes a Parameters resource with a meta parameter")
    # The Meta goes into stored resources without their validation: it is checked as R4
    # (Coding members and their types, canonical profiles) here, or a later read could not
    # be written back.
    validate_resource(body)
    metas = [p.get("valueMeta") for p in body.get("parameter") or []
             if isinstance(p, dict) and p.get("name") == "meta"]
    if len(metas) != 1 or not isinstance(metas[0], dict):
        raise BadRequest(f"{operation} takes one meta parameter, a valueMeta",
                         expression="Parameters.parameter")
    meta = metas[0]
    for element in ELEMENTS:
        values = meta.get(element, [])
        valid = isinstance(values, list) and all(
            isinstance(v, str) if element == "profile"
            else isinstance(v, dict) and isinstance(v.get("code"), str) for v in values)
        if not valid:
            kind = "canonical URLs" if element == "profile" else "Codings with a code"
            raise BadRequest(f"meta.{element} must be a list of {kind}",
                             expression=f"Meta.{element}")
    return meta


def _key(value: object) -> object:
    """Identity in a set: a profile by URL, a tag or label by system and code."""
    return (value.get("system"), value.get("code")) if isinstance(value, dict) else value


def changed(meta: dict, change: dict, add: bool) -> dict:
    """`meta` with the profiles, tags and security labels of `change` added (each once) or
    removed; the other elements (versionId, lastUpdated, ...) as they are."""
    result = dict(meta)
    for element in ELEMENTS:
        values = list(meta.get(element) or [])
        given = change.get(element) or []
        if add:
            keys = {_key(value) for value in values}
            for value in given:
                if _key(value) not in keys:
                    keys.add(_key(value))
                    values.append(value)
        else:
            removed = {_key(value) for value in given}
            values = [value for value in values if _key(value) not in removed]
        if values:
            result[element] = values
        else:
            result.pop(element, None)
    return result


def with_kept_labels(body: dict, previous: dict | None) -> dict:
    """An update's body with the tags and security labels of the version it replaces that it
    does not have itself: they describe the resource, not one version of its content, and a
    client that sends its own content back without them (or without knowing of them) must not
    drop a confidentiality label. `$meta-delete` removes them (HAPI's "tag retention")."""
    kept = {element: (previous or {}).get("meta", {}).get(element)
            for element in ("tag", "security")}
    if not any(kept.values()):
        return body
    return {**body, "meta": changed(body.get("meta") or {}, kept, add=True)}


def as_parameters(meta: dict) -> dict:
    """The operations' output: `return`, a Meta: one resource's whole, or the profiles, tags
    and security labels in use."""
    return {"resourceType": "Parameters", "parameter": [{"name": "return", "valueMeta": meta}]}


async def change_meta(store: ResourceStore, resource_type: str, resource_id: str,
                      change: dict, add: bool, vid: str | None = None) -> dict:
    """The resource's meta (or that of its version `vid`) after adding or removing
    `change`'s, stored in place."""
    record = await stored_current(store, resource_type, resource_id)
    # By number: `_history/01` names the current version as `_history/1` does.
    if vid is not None and not (is_digits(vid) and int(vid) == record.vid):
        return await _change_past_meta(store, resource_type, resource_id, vid, change, add)
    resource = record.resource or {}
    meta = changed(resource["meta"], change, add)
    if meta == resource["meta"]:
        return meta  # nothing to add or to delete
    fields = await run_off_the_loop(_checked_fields, resource_type,
                                    {**resource, "meta": meta}, resource)
    if not await store.set_fields(resource_type, resource_id, record.vid, fields):
        raise Conflict(f"{resource_type}/{resource_id} changed while its meta was being "
                       "changed: try again")
    return meta


async def meta_in_use(store: ResourceStore, resource_types: list[str]) -> dict:
    """The profiles, tags and security labels the current versions of these types carry."""
    found: dict[str, dict] = {element: {} for element in ELEMENTS}
    for resource_type in resource_types:
        values = await store.meta_in_use(resource_type, MAX_LISTED, MAX_SCANNED)
        for element in ELEMENTS:
            for value in values[element]:
                found[element].setdefault(_key(value), value)
    return {element: list(values.values()) for element, values in found.items() if values}


async def _change_past_meta(store: ResourceStore, resource_type: str, resource_id: str,
                            vid: str, change: dict, add: bool) -> dict:
    """A past version's meta changed in its history document (no search index: searches
    see current versions only): labelling what an old version held."""
    version = await stored_version(store, resource_type, resource_id, vid)
    resource = version.resource or {}
    meta = changed(resource["meta"], change, add)
    await run_off_the_loop(_refuse_unmet, {**resource, "meta": meta}, resource)
    await store.set_version_meta(resource_type, resource_id, version.vid, meta)
    return meta


def _checked_fields(resource_type: str, updated: dict, stored: dict) -> dict:
    """The fields of the current version's document with its meta changed, once
    `_refuse_unmet` found nothing to refuse."""
    _refuse_unmet(updated, stored)
    return {"resource": updated, **build_search_index(resource_type, updated)}


def _refuse_unmet(updated: dict, stored: dict) -> None:
    """422 for a change of meta the stored resource cannot take. Run off the event loop
    (`run_off_the_loop`): validating and indexing a resource of 16 MiB takes seconds."""
    _refuse_subsetted(updated, stored)
    _refuse_unmet_profiles(updated, stored)


def _refuse_subsetted(updated: dict, stored: dict) -> None:
    if is_subsetted(updated) and not is_subsetted(stored):
        raise Unprocessable("The SUBSETTED tag marks a part of a resource (_summary or "
                            "_elements); a stored resource is whole", expression="Meta.tag")


def _refuse_unmet_profiles(updated: dict, stored: dict) -> None:
    """422 when a profile added that the server holds is one the resource does not conform
    to, as a write claiming it would be: stored, the claim would make every later update of
    the resource as it is (read, change, PUT) 422. A profile the server does not know is
    kept as claimed, as a write keeps it."""
    added = set(declared_profiles(updated)) - set(declared_profiles(stored))
    if not added:
        return
    errors = [issue for issue in validation_issues(updated, sorted(added))
              if issue.severity in ("error", "fatal") and issue.profile is not None]
    if errors:
        raise Unprocessable(errors[0].diagnostics, issues=capped(errors))
