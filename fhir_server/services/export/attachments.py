"""Attachment URLs in exported resources. Bulk Data IG 2.0 (export.html#attachments): "When
populated, the url element SHALL be an absolute url that can be de-referenced to the
attachment's content". A relative `Attachment.url` naming a resource of this server
(`Binary/1`, any `Type/id`, or a version of it) is written under the base URL the export
was requested at, as the manifest's URLs are: `https://host/fhir/Binary/1`.

Attachments are found by the element types of the StructureDefinitions (`structure.py`):
`DocumentReference.content.attachment`, `Patient.photo`, `Observation.valueAttachment`,
an extension's `valueAttachment` on any element, those of contained resources. Since any
element may carry such an extension, no type is without a place for one: what spares the
resources that hold none is a scan of their NDJSON line for a `"url"` naming a `Type/`,
which the walk follows only where it finds one.

A signature covers the version as stored (README, "Signature contract"), so `fhir-server
verify` undoes the rewrite (`stored_attachment_urls`) with the base the export's manifest
names. It can be undone exactly because a resource already holding an Attachment URL under
that base is exported as stored: its relative URLs and that one would read back alike.
Stored Bundles are exported as stored too: their entries' relative URLs resolve against
the entries' `fullUrl` (bundle.html#references), not this server's base, and a document is
sealed as it is.
"""

import copy
import re
from collections.abc import Callable, Iterable, Iterator

from fhir_server.conformance.primitives import ID_REGEX
from fhir_server.conformance.registry import is_supported
from fhir_server.conformance.structure import BACKBONE, COMPLEX, PRIMITIVE, Node, definition_tree
from fhir_server.services.export.output import ndjson_line

_ATTACHMENT = "Attachment"
_LOCAL_URL = re.compile(rf"([A-Z][A-Za-z]+)/{ID_REGEX}(?:/_history/{ID_REGEX})?")
# What an NDJSON line holding such an Attachment.url has, in the compact JSON written.
_LOCAL_URL_IN_LINE = re.compile(rb'"url":"[A-Z][A-Za-z]+/')


def export_line(resource: dict, base: str) -> bytes:
    """The NDJSON line of an exported resource, its Attachment URLs made absolute."""
    line = ndjson_line(resource)
    if _LOCAL_URL_IN_LINE.search(line) is None:
        return line
    absolute = absolute_attachment_urls(resource, base)
    return line if absolute is resource else ndjson_line(absolute)


def absolute_attachment_urls(resource: dict, base: str) -> dict:
    """`resource` (itself when nothing changes, else a copy) with each Attachment URL naming
    a resource of this server (`Binary/1`) under `base`; as stored where one is there
    already, which the rewrite could not be told from."""
    if resource.get("resourceType") == "Bundle":
        return resource
    found = [a for a in attachments(resource) if isinstance(a.get("url"), str)]
    if not any(_is_local(a["url"]) for a in found) or any(
            _is_local(_under(a["url"], [base])) for a in found):
        return resource
    return _with_urls(resource, lambda url: f"{base}/{url}" if _is_local(url) else url)


def stored_attachment_urls(resource: dict, bases: Iterable[str]) -> dict:
    """`resource` as `absolute_attachment_urls` found it, for an export of one of `bases`:
    its Attachment URLs under them relative again. Itself when nothing changes."""
    bases = list(bases)
    if resource.get("resourceType") == "Bundle" or not bases:
        return resource
    if not any(_is_local(_under(a.get("url"), bases)) for a in attachments(resource)):
        return resource

    def relative(url: str) -> str:
        local = _under(url, bases)
        return local if local is not None and _is_local(local) else url

    return _with_urls(resource, relative)


def loaded_attachment_urls(resource: dict, bases: Iterable[str]) -> dict:
    """`resource`, read from an export of one of `bases`, as it was stored (for `fhir-server
    load`): `stored_attachment_urls`, but as exported when it holds a relative URL naming a
    resource too, which the export leaves only in a resource it exported as stored."""
    if any(_is_local(a.get("url")) for a in attachments(resource)):
        return resource
    return stored_attachment_urls(resource, bases)


def _with_urls(resource: dict, change: Callable[[str], str]) -> dict:
    changed = copy.deepcopy(resource)
    for attachment in attachments(changed):
        if isinstance(attachment.get("url"), str):
            attachment["url"] = change(attachment["url"])
    return changed


def _is_local(url: object) -> bool:
    """A relative URL naming a resource of this server (http.html#general: `[type]/[id]`)."""
    match = _LOCAL_URL.fullmatch(url) if isinstance(url, str) else None
    return match is not None and is_supported(match[1])


def _under(url: object, bases: list[str]) -> str | None:
    """What follows one of `bases` in `url`."""
    if not isinstance(url, str):
        return None
    return next((url[len(base) + 1:] for base in bases if url.startswith(f"{base}/")), None)


def attachments(resource: dict) -> Iterator[dict]:
    """Each Attachment of the resource and of its contained resources, wherever their
    StructureDefinitions allow one (http://hl7.org/fhir/R4/datatypes.html#Attachment)."""
    stack: list[tuple[object, Node | None]] = [(resource, None)]  # None: a resource
    while stack:
        value, node = stack.pop()
        for item in value if isinstance(value, list) else (value,):
            if not isinstance(item, dict):
                continue
            tree = node if node is not None else _resource_tree(item)
            if tree is None:
                continue
            if tree.path == _ATTACHMENT:
                yield item
            stack.extend((child, _child_node(tree, name)) for name, child in item.items()
                         if _walked(tree, name))


def _resource_tree(resource: dict) -> Node | None:
    try:
        return definition_tree(str(resource.get("resourceType")))
    except KeyError:  # not a resource type of the registry: nothing to find in it
        return None


def _walked(tree: Node, name: str) -> bool:
    """Whether an element may hold an Attachment: a data type or BackboneElement, a
    primitive's `_name` object (its extensions), a contained resource; not another resource
    inside this one, whose relative URLs have a base of their own."""
    property_ = tree.properties.get(name.removeprefix("_"))
    if property_ is None:
        return False
    if name.startswith("_"):
        return property_.kind == PRIMITIVE
    return property_.kind in (COMPLEX, BACKBONE) or property_.contained


def _child_node(tree: Node, name: str) -> Node | None:
    """The tree of the element's values; None for resources, each read by its type."""
    property_ = tree.properties[name.removeprefix("_")]
    if property_.kind == BACKBONE:
        return property_.node
    if property_.kind in (COMPLEX, PRIMITIVE):  # a primitive's tree: its id and extensions
        return definition_tree(property_.type)
    return None
