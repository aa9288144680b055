"""`$reindex`: recompute the stored search index of resources whose entries came from other
definitions or extraction code (see `index_version`). Resumable: it only ever picks up
resources still stale, walking ids in order, so an interrupted run just runs again."""

import logging
import time
from datetime import UTC, datetime

from fhir_server.errors import PayloadTooLarge
from fhir_server.search.index import build_search_index, index_version
from fhir_server.storage.database import Database
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import ResourceStore

BATCH = 500
# How long a process takes a type found stale to be so before it looks again.
STALE_RECHECK_SECONDS = 5.0
log = logging.getLogger(__name__)


class IndexCurrency:
    """Whether a type's stored resources may still hold search entries of older definitions
    or extraction code (a server started on an earlier release's data re-indexes them in
    the background), so that a search of the type says its results may be incomplete.
    A type found current stays so for the process: every write indexes under the current
    definitions, which change only at start-up."""

    def __init__(self, database: Database):
        self.database = database
        # Until when the flag of a full pass was seen (the start-up check may take it back,
        # in this process or the primary one).
        self._all_current_until = 0.0
        self.checking = False  # this process's start-up check of the flag is under way
        self._current: set[str] = set()
        self._stale_until: dict[str, float] = {}

    async def stale(self, kind: str) -> bool:
        if kind in self._current or self._all_current_until > time.monotonic():
            return False
        if self._stale_until.get(kind, 0.0) > time.monotonic():
            return True
        if not self.checking and await self.database.flag(_complete_flag()):
            self._all_current_until = time.monotonic() + STALE_RECHECK_SECONDS
            return False
        if not await self.database.holds_stale(kind, index_version()):
            self.mark_current(kind)
            return False
        self._stale_until[kind] = time.monotonic() + STALE_RECHECK_SECONDS
        return True

    def mark_current(self, kind: str) -> None:
        self._current.add(kind)
        self._stale_until.pop(kind, None)


async def reindex_if_stale(database: Database,
                           currency: IndexCurrency | None = None) -> dict[str, int]:
    """`reindex` of every type, unless a full pass already ran under the current
    definitions; then only of the types another release wrote to since this one last
    started (a rollback to the release before, then this one again: what that release wrote
    holds its entries), found in the `lastUpdated` index, so start-up costs a lookup per
    type instead of a scan of every collection."""
    flag = _complete_flag()
    if not await database.flag(flag):
        return await reindex(database, currency=currency)
    checked = datetime.now(UTC)
    since = await database.flag_time(flag)
    if since is None:  # set before passes recorded their time
        await database.set_flag(flag, checked)
        return {}
    if currency is not None:
        currency.checking = True
    try:
        behind = [kind for kind in await database.stored_types()
                  if await database.holds_stale(kind, index_version(), since)]
        if not behind:
            await database.set_flag(flag, checked)
            return {}
        await database.clear_flag(flag)  # searches of those types warn meanwhile
    finally:
        if currency is not None:
            currency.checking = False
    counts = await reindex(database, behind, currency)
    await database.set_flag(flag, checked)
    return counts


def _complete_flag() -> str:
    return f"search_index_complete:{index_version()}"


async def reindex(database: Database, resource_types: list[str] | None = None,
                  currency: IndexCurrency | None = None) -> dict[str, int]:
    """Resources re-indexed per type; each type done is current for `currency`'s searches."""
    store = database.store(timed=False)
    version = index_version()
    started = datetime.now(UTC)
    counts = {}
    for kind in resource_types or await database.stored_types():
        counts[kind] = 0
        after = ""
        kept_old = False
        while True:
            stale = {"indexVersion": {"$ne": version}, "_id": {"$gt": after}}
            documents = await store.find(kind, stale, BATCH, projection=["vid", "resource"])
            if not documents:
                break
            for current in documents:
                done = await _reindexed(store, kind, current)
                kept_old |= done is None
                counts[kind] += done or 0
            after = documents[-1].id
        if currency is not None and not kept_old:
            currency.mark_current(kind)
    if resource_types is None:
        # Every version written from now on is indexed under these definitions.
        await database.set_flag(_complete_flag(), started)
    return counts


async def _reindexed(store: ResourceStore, kind: str, current: CurrentVersion) -> int | None:
    """1 if the version's entries were rebuilt, None if they are kept. One whose new entries
    make it too large to store (over MongoDB's 16 MiB) keeps its old ones: it must not end
    the pass, which would stop at it again at every start."""
    assert current.resource is not None, "find() reads versions not deleted"
    fields = build_search_index(kind, current.resource)
    try:
        # Matched on vid: a version written meanwhile carries a fresh index already.
        return await store.set_fields(kind, current.id, current.vid, fields)
    except PayloadTooLarge:
        log.warning("%s/%s keeps its search entries: its new ones are over MongoDB's 16 MiB "
                    "document limit", kind, current.id)
        return None
