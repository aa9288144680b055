"""A page of a history (http://hl7.org/fhir/R4/http.html#history) for a token that may see
some versions only (`patient/` scopes: those in the patient's compartment; granular scopes:
those their searches matched): the versions are read newest first in batches, and the page
holds the first `count` the token may see. A page filtered after one read came short or
empty, and an empty one ended the history, so the older versions it could see were never
given."""

from collections.abc import Awaitable, Callable
from datetime import datetime

from fhir_server.services.versions import Version
from fhir_server.services.within_reach import versions_within_reach
from fhir_server.storage.history_spans import HistorySpan
from fhir_server.storage.records import HistoryVersion
from fhir_server.storage.resources import ResourceStore

# Which of the versions a token may see, as they were then.
Visible = Callable[[list[Version]], Awaitable[list[bool]]]
# Where a history page starts: after the version of this (lastUpdated, object id).
Position = tuple[datetime, str]
# Batches read for one page: beyond them a page is answered short, with its `next` link.
_MOST_BATCHES = 10


def _position(version: HistoryVersion) -> Position:
    return version.last_updated, version.object_id


async def history_page(store: ResourceStore, types: list[str], resource_id: str | None,
                       span: HistorySpan, after: Position | None, count: int,
                       visible: Visible | None) -> tuple[list[Version], Position | None]:
    """Up to `count` (1 or more) versions after `after` that `visible` keeps (all without
    it), and the position the next page starts after, or None when the history ends there."""
    kept: list[tuple[HistoryVersion, Version]] = []
    for _ in range(_MOST_BATCHES if visible else 1):
        found = await store.history(types, resource_id, span, after, count + 1)
        batch = found[:count]
        versions = [Version.from_history(v.resource_type, v) for v in batch]
        shown = await visible(versions) if visible else [True] * len(versions)
        kept += [(stored, version)
                 for stored, version, seen in zip(batch, versions, shown, strict=True) if seen]
        if len(kept) > count:  # the next page starts after the last one given
            return [v for _, v in kept[:count]], _position(kept[count - 1][0])
        if len(found) <= count:
            return [v for _, v in kept], None
        after = _position(found[count - 1])
        if len(kept) == count:
            break
    return [v for _, v in kept], after


def visibility(store: ResourceStore, base: str, compartment: str | None,
               scope_query: dict | None) -> Visible | None:
    """Which versions of a history a token sees: those within its reach, and deletions, which
    show no one's data. None: every version."""
    if compartment is None and scope_query is None:
        return None

    async def visible(versions: list[Version]) -> list[bool]:
        within = await versions_within_reach(store, base, compartment, scope_query, versions)
        return [version.deleted or seen for version, seen in zip(versions, within, strict=True)]

    return visible

