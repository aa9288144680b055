"""A history Bundle POSTed to the base, replicated as a batch (http://hl7.org/fhir/R4/
http.html#transaction: "servers SHOULD accept a history Bundle - this makes it possible to
replicate data from one server to another"): each entry is what happened to one resource,
written again under the sender's `Type/id` ("a resource may occur more than once in a
history list": its entries run oldest first, so it ends at its newest version)."""

import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fhir_server.conformance.messages import refusal
from fhir_server.conformance.primitives import ID_REGEX, primitive_type
from fhir_server.errors import BadRequest, NotSupported
from fhir_server.search.types.date import parse_date
from fhir_server.services.bundle_entries import parse_entry

# What a history entry's method did, replicated: the version it made is written as an
# update of its `Type/id` (a history holds versions, a PATCH's entry too: the resource it
# made, not the patch), a deletion as a delete.
_REPLICATED = {"POST": "PUT", "PUT": "PUT", "PATCH": "PUT", "DELETE": "DELETE"}
_ID = re.compile(ID_REGEX)


def replicated_entry(index: int, raw: object, base: str) -> dict:
    """The batch entry that writes again what the history entry `raw` records: its resource
    as an update (update-as-create) of `Type/id`, the id request.url's, else the
    resource's; a deletion as a delete of request.url's `Type/id`, else the fullUrl's. Its
    conditions (a conditional URL, `ifNoneExist`, `ifMatch`) are not run: the history says
    what the target was. Raises the entry's refusal (GET, HEAD, an operation, no resource,
    no id)."""
    entry = parse_entry(index, raw, base)
    assert isinstance(raw, dict), "parse_entry refuses an entry without its request"
    method = _REPLICATED.get(entry.method)
    if method is None or entry.operation is not None:
        raise refusal(NotSupported, "history.not-replicated", f"{entry.location}.request",
                      where=entry.location, method=entry.method,
                      url=raw["request"]["url"])
    kind, resource = entry.resource_type, entry.resource
    if method == "PUT" and not isinstance(resource, dict):
        raise refusal(BadRequest, "history.no-version", f"{entry.location}.resource",
                      where=entry.location, method=entry.method)
    # A conditional URL (or a create's) names none: the resource's id, a deletion's fullUrl's
    # (a RESTful fullUrl with a resource names the resource's own id: bundle_rules). An id
    # in the URL that is not the resource's is refused by the update, as in a batch.
    named = entry.resource_id or (resource.get("id") if isinstance(resource, dict)
                                  and method == "PUT" else _full_url_id(entry.full_url, kind))
    if not isinstance(named, str) or not _ID.fullmatch(named):
        raise refusal(BadRequest, "history.no-id", f"{entry.location}.request.url",
                      where=entry.location, method=entry.method, type=kind)
    replicated: dict = {"request": {"method": method, "url": f"{kind}/{named}"}}
    if entry.full_url is not None:
        replicated["fullUrl"] = entry.full_url
    if method == "PUT":
        replicated["resource"] = resource
    return replicated


def _full_url_id(full_url: str | None, kind: str) -> str | None:
    """The id of a RESTful fullUrl (`[base]/Patient/123`) naming a resource of `kind`."""
    if not full_url or full_url.startswith("urn:"):
        return None
    parts = urlsplit(full_url).path.rsplit("/", 2)
    return parts[-1] if len(parts) > 1 and parts[-2] == kind else None


def oldest_first(raw_entries: list) -> list[int]:
    """The entries' indexes in the order their changes happened: when every entry has a
    time (response.lastModified, else resource.meta.lastUpdated), by that time, and entries
    of one time in reverse of the order received; else all in reverse of the order
    received (a history lists the newest first, http.html#history)."""
    received = list(range(len(raw_entries)))[::-1]
    times = [_time(raw) for raw in raw_entries]
    known = [moment for moment in times if moment is not None]
    if len(known) < len(times):
        return received
    # Every entry has its time (`known` is `times`); sorted is stable: ties keep `received`'s order.
    return sorted(received, key=lambda i: known[i])


def _time(raw: object) -> datetime | None:
    """When the change an entry records happened, if it says so (an instant, with its zone)."""
    if not isinstance(raw, dict):
        return None
    response, resource = raw.get("response"), raw.get("resource")
    meta = resource.get("meta") if isinstance(resource, dict) else None
    for value in (response.get("lastModified") if isinstance(response, dict) else None,
                  meta.get("lastUpdated") if isinstance(meta, dict) else None):
        # An instant, read as search reads it: a leap second (`23:59:60Z`, which R4's
        # grammar allows) is the last millisecond of its minute; datetime.fromisoformat
        # refused it, and the whole history was applied in reverse of the order received.
        if isinstance(value, str) and primitive_type("instant").problem(value) is None:
            return parse_date(value).low
    return None


async def replay(raw_entries: list,
                 answer: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """Call `answer(i)` for every entry, one after the other, oldest first: a resource's
    versions in the order they were made, and a resource before what was written after it
    (a Provenance of its version)."""
    for i in oldest_first(raw_entries):
        await answer(i)
