"""What `_include` reads (http://hl7.org/fhir/R4/search.html#include): the resources a
page's references name, within the room the page has left, in the version a
version-specific reference names. search.html#versions: "If a resource has a reference that
is versioned and _include is performed, the specified version SHOULD be provided"; a
Provenance's target is `Type/id/_history/n`, and the version it signs is the one that
verifies it. A reference without a version names the current one."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from fhir_server.conformance.primitives import is_digits
from fhir_server.search.index import parameter_entries, reference_literals
from fhir_server.search.types.reference import local_references, local_versions
from fhir_server.storage.named_versions import StoredVersion, find_named_within
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import ResourceStore

# A resource on a page: its type, and the version of it read.
Found = tuple[str, StoredVersion]


@dataclass
class Targets:
    """What references of one type name: resources by id (their current version), and
    versions by (id, version number)."""

    ids: set[str] = field(default_factory=set)
    versions: set[tuple[str, int]] = field(default_factory=set)

    def add(self, resource_id: str, vid: int | None) -> None:
        """A resource (None: its current version) or one version of it."""
        if vid is None:
            self.ids.add(resource_id)
        else:
            self.versions.add((resource_id, vid))


@dataclass
class OnPage:
    """The resources a page holds, each version once (bdl-7 allows one fullUrl with
    different versionIds): the versions, and the resources whose current version it holds
    (a reference without a version names nothing more)."""

    versions: set[tuple[str, str, int]] = field(default_factory=set)
    current: set[tuple[str, str]] = field(default_factory=set)

    def add(self, kind: str, record: StoredVersion) -> bool:
        """Note a version on the page; False if it is there already."""
        if (kind, record.id, record.vid) in self.versions:
            return False
        self.versions.add((kind, record.id, record.vid))
        if isinstance(record, CurrentVersion):
            self.current.add((kind, record.id))
        return True

    def holds(self, kind: str, resource_id: str, vid: int | None) -> bool:
        """Whether the page holds that version (None: the current one)."""
        if vid is None:
            return (kind, resource_id) in self.current
        return (kind, resource_id, vid) in self.versions


def reference_entries(kind: str, record: StoredVersion, code: str) -> list:
    """The entries of a reference parameter in a version: stored with a current one (as far
    as they were read), extracted from an older one (whose index is not stored)."""
    if isinstance(record, CurrentVersion):
        return record.search.get(code, [])
    return parameter_entries(kind, code, record.resource or {})


def referenced(kind: str, record: StoredVersion, code: str, entries: list, base: str
               ) -> list[tuple[str, str, int | None]]:
    """(type, id, version) of the resources on this server that a reference parameter's
    values in a version (its `entries`) name, relatively or under `base` (`named_in`)."""
    targets = local_references(entries, base)
    # Entries keep no version: only the references as written tell which is named.
    written = reference_literals(kind, code, record.resource or {}) if targets else []
    if not any("/_history/" in reference for reference in written):
        return [(target, target_id, None) for target, target_id in targets]
    return named_in(written, base)


def named_in(references: list[str], base: str) -> list[tuple[str, str, int | None]]:
    """(type, id, version) of the resources on this server that literal references name,
    relatively or under `base`: the version a version-specific one names (a version that is
    no number was never written, and names nothing), else the current one (None)."""
    return ([(target, target_id, None) for target, target_id in local_references(references, base)]
            + [(target, target_id, int(vid))
               for target, target_id, vid in local_versions(references, base) if is_digits(vid)])


@dataclass
class Room:
    """What a page has left for included resources: how many, and their bytes."""

    resources: int
    bytes: int


class Reads:
    """The reads of one include round: `budget` documents at most over all its rules (one
    more than there is room for, so that a full page is noticed), of the bytes left in the
    page's `room` (which they use up), with the fields `projection` names only."""

    def __init__(self, budget: int, room: Room, projection: dict):
        self.left = max(1, budget)
        self.room = room
        self.full = False  # a read stopped at the bytes left
        self.projection = projection

    @property
    def capped(self) -> bool:
        return self.left <= 0 or self.full

    async def find(self, store: ResourceStore, kind: str, query: dict) -> list[StoredVersion]:
        if self.capped or self.room.bytes <= 0:
            self.full = True
            return []
        documents, size, self.full = await store.find_within(
            kind, query, self.left, self.room.bytes, self.projection)
        return self._kept(documents, size)

    async def targets(self, store: ResourceStore, kind: str, wanted: Targets
                      ) -> list[StoredVersion]:
        """The resources and versions references of one type name, in one read."""
        if not wanted.versions:  # as any search reads, with others waiting at that moment
            return await self.find(store, kind, {"_id": {"$in": sorted(wanted.ids)}})
        if self.capped or self.room.bytes <= 0:
            self.full = True
            return []
        documents, size, self.full = await find_named_within(
            store, kind, sorted(wanted.ids), sorted(wanted.versions), self.left,
            self.projection, self.room.bytes)
        return self._kept(documents, size)

    def _kept(self, documents: Sequence[StoredVersion], size: int) -> list[StoredVersion]:
        if size > self.room.bytes:  # the first, read whatever its size: too large here
            documents, size, self.full = [], 0, True
        self.left -= len(documents)
        self.room.bytes -= size
        return list(documents)
