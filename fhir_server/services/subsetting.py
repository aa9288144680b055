"""Search result subsetting with `_summary` (http://hl7.org/fhir/R4/search.html#summary) and
`_elements` (http://hl7.org/fhir/R4/search.html#elements)."""

import copy
from typing import Any

from fhir_server.conformance.summary import ElementInfo, children, mandatory_keys
from fhir_server.errors import BadRequest
from fhir_server.search.request import SUMMARY_MODES, named_elements

IDENTITY = frozenset({"resourceType", "id", "meta"})
# System and code only: a display would have to be the CodeSystem's ("subsetted"), and
# clients such as SMART's Bulk Data tester compare the whole Coding.
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
# `count` is answered by the search itself; for each resource it means no subsetting.
WHOLE_MODES = (None, "false", "count")
SUBSET_MODES = ("true", "text", "data")


def subset(resource: dict, summary: str | None, elements: list[str] | None) -> dict:
    """A new copy of `resource` reduced as `_summary` or `_elements` ask, with the SUBSETTED
    tag in `meta.tag` when anything was left out; `resource` itself is never changed.

    `_summary=true|text|data` together with `_elements` is refused with 400, as HAPI FHIR
    refuses it ("Cannot combine the _summary and _elements parameters"); R4 leaves the pair
    undefined. `_summary=false` or `count` with `_elements` applies `_elements`.
    """
    if summary not in WHOLE_MODES + SUBSET_MODES:
        raise ValueError(f"Unknown _summary mode {summary!r}")
    if summary in SUBSET_MODES and elements is not None:
        raise BadRequest(
            "Cannot combine the _summary and _elements parameters", expression="_elements"
        )
    kind = resource.get("resourceType", "")
    if summary == "true":
        kept = _only(resource, {"resourceType"}) | _summary_view(resource, kind, kind)
    elif summary == "text":
        # "Return only the text element, the id element, the meta element, and only
        # top-level mandatory elements."
        kept = _only(resource, IDENTITY | {"text"} | mandatory_keys(kind))
    elif summary == "data":
        kept = _only(resource, resource.keys() - {"text"})
    elif elements is not None:
        # "Servers SHOULD always return mandatory elements whether they are requested or
        # not", so the type's top-level mandatory elements come along. Modifier elements do
        # not: the spec asks clients to list them ("Clients SHOULD list all mandatory and
        # modifier elements").
        kept = _only(resource, IDENTITY | mandatory_keys(kind) | requested_keys(kind, elements))
    else:
        kept = resource
    kept = copy.deepcopy(kept)
    if kept != resource:
        _tag_subsetted(kept)
    return kept


def subset_read(resource: dict, params: list[tuple[str, str]]) -> dict:
    """`resource` as a read or vread with `_summary` or `_elements` asks for it: these apply
    to reads as to search results (http://hl7.org/fhir/R4/search.html#summary); the last
    `_summary` counts, and every `_elements`."""
    summaries = [value for name, value in params if name == "_summary"]
    listed = [value for name, value in params if name == "_elements"]
    if not summaries and not listed:
        return resource
    summary = summaries[-1] if summaries else None
    if summary is not None and summary not in SUMMARY_MODES:
        raise BadRequest(f"_summary must be one of {', '.join(SUMMARY_MODES)}, not '{summary}'",
                         expression="_summary")
    return subset(resource, summary, named_elements(listed))


def _only(resource: dict, keys: set[str] | frozenset[str]) -> dict:
    return {key: value for key, value in resource.items() if key in keys}


def requested_keys(kind: str, names: list[str]) -> set[str]:
    """The JSON properties of the named top-level elements, each with its `_name` companion.
    An element is named by its name (`deceased` for `deceased[x]`) or, leniently, by one of
    its JSON property names (`deceasedBoolean`) or its path (`Patient.name`, as HAPI takes
    it). Names that are not elements are ignored."""
    wanted = {name.removeprefix(f"{kind}.") for name in names}
    return {
        key
        for key, info in children(kind).items()
        if info.name in wanted or not wanted.isdisjoint(info.keys)
    }


def _summary_view(value: dict, kind: str, parent: str) -> dict:
    """The summary elements of `value`, whose definition is the children of `parent`.

    Modifier elements count as summary elements (ElementDefinition.isSummary: "if an element
    is at the root ... and the element is a modifier, it must be marked as isSummary=true"),
    which brings in the resource's `modifierExtension`. Backbone elements keep only their own
    summary elements; data types stay whole except `Attachment.data` ("Other than
    Attachment.data, all data type properties are included in the summary form")."""
    definitions = children(kind, parent)
    view = {}
    for key, item in value.items():
        info = definitions.get(key)
        if info is None or not (info.summary or info.modifier):
            continue
        reduced = _summary_item(item, kind, info, key)
        if reduced not in ({}, []):
            view[key] = reduced
    return view


def _summary_item(item: Any, kind: str, info: ElementInfo, key: str) -> Any:
    if isinstance(item, list):
        reduced = (_summary_item(each, kind, info, key) for each in item)
        return [each for each in reduced if each != {}]
    if isinstance(item, dict) and info.backbone:
        return _summary_view(item, kind, info.backbone)
    if isinstance(item, dict) and info.keys[key] == "Attachment":
        return {name: value for name, value in item.items() if name != "data"}
    return item


def is_subsetted(resource: dict) -> bool:
    """Whether a resource carries the SUBSETTED tag: it is a part of a resource."""
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    return isinstance(tags, list) and any(
        isinstance(tag, dict) and tag.get("system") == SUBSETTED["system"]
        and tag.get("code") == SUBSETTED["code"]
        for tag in tags
    )


def _tag_subsetted(resource: dict) -> None:
    """Mark a subset so it is never used to overwrite the whole resource."""
    if not is_subsetted(resource):
        resource.setdefault("meta", {}).setdefault("tag", []).append(dict(SUBSETTED))
