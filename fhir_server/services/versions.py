"""Resource versions as the services see them, and the documents that store them."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from fhir_server.conformance.json_format import orjson_default
from fhir_server.conformance.primitives import is_digits
from fhir_server.errors import Gone, NotFound
from fhir_server.search.index import build_search_index
from fhir_server.storage.records import CurrentVersion, HistoryVersion
from fhir_server.storage.resources import ResourceStore


def named_by(if_none_match: str, opaque_tag: str) -> bool:
    """Whether an If-None-Match list names an entity-tag (weakly compared, quoted or bare
    as some clients send a version) or is `*`."""
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in if_none_match.split(",")}
    return "*" in tags or opaque_tag in tags

@dataclass(frozen=True)
class Version:
    """One version of a resource; `resource` is None for a deletion."""

    resource_type: str
    id: str
    vid: int
    last_updated: datetime
    resource: dict | None
    method: str = "PUT"
    recreated: bool = False  # made the resource again after its deletion

    @property
    def deleted(self) -> bool:
        return self.resource is None

    @property
    def created(self) -> bool:
        """This version made the resource: its first, or the first after a deletion."""
        return self.vid == 1 or self.recreated

    @property
    def etag(self) -> str:
        return f'W/"{self.vid}"'

    async def known_to_client(self, if_none_match: str | None,
                              if_modified_since: datetime | None,
                              store: ResourceStore | None) -> bool:
        """Conditional read (http://hl7.org/fhir/R4/http.html#cread): If-None-Match names
        this version (or is `*`); else, without it, this version was not changed after
        If-Modified-Since (`changed_after`; `store` None: a vread, whose URL names this
        version alone, compared to the second). A date later than now is invalid, and
        ignored (RFC 9110 §13.1.3): a client with a skewed clock would get 304 for data it
        never had."""
        if if_none_match is not None:
            return named_by(if_none_match, str(self.vid))
        if if_modified_since is None:
            return False
        if if_modified_since.tzinfo is None:  # an HTTP-date with "-0000": UTC
            if_modified_since = if_modified_since.replace(tzinfo=UTC)
        if if_modified_since > datetime.now(UTC):
            return False
        if store is None:
            return self.last_updated.replace(microsecond=0) <= if_modified_since
        return not await changed_after(store, self.resource_type, self.id, self.vid,
                                       self.last_updated, if_modified_since)

    @property
    def relative_url(self) -> str:
        return f"{self.resource_type}/{self.id}"

    @property
    def versioned_url(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/{self.vid}"

    @classmethod
    def from_current(cls, resource_type: str, current: CurrentVersion) -> "Version":
        return cls(
            resource_type,
            current.id,
            current.vid,
            current.last_updated,
            None if current.deleted else current.resource,
        )

    @classmethod
    def from_record(cls, resource_type: str, record: CurrentVersion | HistoryVersion
                    ) -> "Version":
        """The version a record holds: a current one, or an older one (the version a
        version-specific reference names, which `_include` provides)."""
        if isinstance(record, HistoryVersion):
            return cls.from_history(resource_type, record)
        return cls.from_current(resource_type, record)

    @classmethod
    def from_history(cls, resource_type: str, version: HistoryVersion) -> "Version":
        return cls(
            resource_type,
            version.id,
            version.vid,
            version.last_updated,
            None if version.deleted else version.resource,
            version.method,
            version.recreated,
        )


@dataclass
class _RepeatableUnit:
    """The clock and the ids of one unit of work, the same each time it runs: a unit that
    must be signed runs once to learn what to sign and again, after signing, to store it.
    `stamped`: when its current run (a transaction attempt) began, its versions' time."""

    now: datetime
    ids: list[str] = field(default_factory=list)
    used: int = 0
    stamped: datetime | None = None


_unit: ContextVar[_RepeatableUnit | None] = ContextVar("repeatable_unit", default=None)


@contextmanager
def repeatable_unit() -> Iterator[None]:
    """Within it, `utc_now()` is fixed and `new_id()` gives the same sequence after each
    `restart_unit()`, so that running the same work again writes the same versions."""
    token = _unit.set(_RepeatableUnit(_clock()))
    try:
        yield
    finally:
        _unit.reset(token)


def restart_unit() -> None:
    """A new run of the current repeatable unit, in a transaction attempt that has begun:
    `new_id()` starts its sequence again, and `write_time()` is now."""
    unit = _unit.get()
    if unit is not None:
        unit.used = 0
        unit.stamped = _clock()


def new_id() -> str:
    unit = _unit.get()
    if unit is None:
        return str(uuid.uuid4())
    if unit.used == len(unit.ids):
        unit.ids.append(str(uuid.uuid4()))
    unit.used += 1
    return unit.ids[unit.used - 1]


def format_instant(moment: datetime) -> str:
    """FHIR instant with millisecond precision, the precision MongoDB stores (the year in
    four digits, which strftime's `%Y` leaves out before 1000)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> datetime:
    """Now, to the millisecond: the precision MongoDB stores dates with; inside a repeatable
    unit, the moment it began."""
    unit = _unit.get()
    return unit.now if unit is not None else _clock()


def _clock() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def write_time() -> datetime:
    """When what a transaction attempt writes happens: the time the attempt began (after
    its MongoDB transaction began: storage/open_transactions.py), the same for all of it,
    so that any moment is after all of a transaction or before all of it; now, outside a
    unit. Not the unit's start (`meta` is not signed): a unit that runs again, after
    signing or a write conflict, is stamped again, so that what it writes becomes visible
    (commits) within one attempt of the time it carries."""
    unit = _unit.get()
    return unit.stamped if unit is not None and unit.stamped is not None else _clock()


def next_timestamp(previous: datetime | None) -> datetime:
    """A version's `lastUpdated`: `write_time()`, but always after the previous version of
    the resource."""
    now = write_time()
    if previous is not None and now <= previous:
        return previous + timedelta(milliseconds=1)
    return now


def stamp(body: dict, resource_id: str, vid: int, last_updated: datetime) -> dict:
    """The client's JSON with the server-assigned id and meta.versionId/lastUpdated."""
    meta = {
        **body.get("meta", {}),
        "versionId": str(vid),
        "lastUpdated": format_instant(last_updated),
    }
    return {"resourceType": body["resourceType"], "id": resource_id, "meta": meta} | {
        key: value for key, value in body.items() if key not in ("resourceType", "id", "meta")
    }


def same_content(stamped: dict, stored: dict) -> bool:
    """Whether a new version would hold what the stored one does: all but its versionId and
    lastUpdated, decimals compared by their digits (`1.0` is not `1`)."""
    new = _comparable(stamped)
    return new is not None and new == _comparable(stored)


def _comparable(resource: dict) -> bytes | None:
    meta = {k: v for k, v in resource.get("meta", {}).items()
            if k not in ("versionId", "lastUpdated")}
    try:
        return orjson.dumps({**resource, "meta": meta}, default=orjson_default,
                            option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: compared as different
        return None


def storage_documents(version: Version) -> tuple[dict, dict]:
    """The current-collection document and the history document of a version."""
    current = {
        "_id": version.id,
        "vid": version.vid,
        "lastUpdated": version.last_updated,
        "deleted": version.deleted,
        "resource": version.resource,
        **(build_search_index(version.resource_type, version.resource) if version.resource else {}),
    }
    history = {
        "id": version.id,
        "vid": version.vid,
        "lastUpdated": version.last_updated,
        "deleted": version.deleted,
        "method": version.method,
        "resource": version.resource,
    }
    if version.recreated:  # kept only where it says something: vid 1 is always a creation
        history["recreated"] = True
    return current, history


async def changed_after(store: ResourceStore, resource_type: str, resource_id: str, vid: int,
                        last_updated: datetime, date: datetime) -> bool:
    """Whether the resource, whose current version is `vid` of `last_updated`, changed after
    `date`: an instant, or an HTTP-date in whole seconds as Last-Modified gives them. A
    version of that very second did not, but when the version before it was made in that
    second too: a client whose copy has that date may hold either (If-Modified-Since gave
    304 for a version the client never saw; RFC 9110 §8.8.2.2 calls the date weak)."""
    if last_updated <= date:
        return False
    if date.microsecond or last_updated.replace(microsecond=0) != date:
        return True  # an instant, or a version of a later second
    if vid == 1:
        return False
    previous = await store.version(resource_type, resource_id, vid - 1)
    return previous is not None and previous.last_updated >= date


async def stored_version(store: ResourceStore, resource_type: str, resource_id: str,
                         vid: str) -> HistoryVersion:
    """One version of a resource: 404 unknown (or not a versionId: `01` is none, as
    versionIds are compared as strings), 410 a deletion, with its ETag as a read's."""
    # not isdigit(): "²" is a digit that int() refuses
    if not is_digits(vid) or str(int(vid)) != vid:
        raise NotFound(f"Version '{vid}' of {resource_type}/{resource_id} is not known")
    record = await store.version(resource_type, resource_id, int(vid))
    if record is None:
        raise NotFound(f"{resource_type}/{resource_id}/_history/{vid} is not known")
    if record.deleted or record.resource is None:
        raise Gone(f"{resource_type}/{resource_id}/_history/{vid} is a deletion",
                   headers={"ETag": f'W/"{record.vid}"'})
    return record


async def stored_current(store: ResourceStore, resource_type: str, resource_id: str
                         ) -> CurrentVersion:
    """The current version of a resource: 404 unknown, 410 deleted."""
    record = await store.current(resource_type, resource_id)
    if record is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    if record.deleted or record.resource is None:
        raise Gone(f"{resource_type}/{resource_id} was deleted")
    return record
