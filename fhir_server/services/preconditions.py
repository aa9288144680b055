"""Preconditions of writes (http://hl7.org/fhir/R4/http.html#concurrency, RFC 9110 §13.1.1,
§13.1.2 and §13.1.4): `If-Match` and `If-None-Match: *`, as headers or as a Bundle entry's
`request.ifMatch` and `request.ifNoneMatch`, and the `If-Unmodified-Since` header, read by
one parser and checked by one method for every write: update, patch and delete,
conditional or not, alone or in a Bundle."""

import re
from dataclasses import dataclass
from datetime import datetime

from fhir_server.errors import BadRequest, PreconditionFailed
from fhir_server.services.versions import changed_after, format_instant
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import ResourceStore

# A member of If-Match: a version ETag, weak or strong, or a bare version as some clients
# send it; `W/3` (no quotes) is no entity-tag (RFC 9110 §8.8.3).
VERSION_ID = re.compile(r"[0-9]{1,20}")
VERSION_TAG = re.compile(rf'(?:W/)?"({VERSION_ID.pattern})"|({VERSION_ID.pattern})')
WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Precondition:
    """What a write expects of its resource's current version: one of the `versions`
    If-Match names, any (`If-Match: *`), or none (`If-None-Match: *`, a create-only PUT).
    Expecting nothing of it, the write is unconditional."""

    versions: frozenset[str] = frozenset()  # versionIds, compared as strings: `01` is none
    any_version: bool = False
    no_version: bool = False
    # If-Unmodified-Since: not changed after this (`check_resource`).
    unmodified_since: datetime | None = None

    def check(self, what: str, current: CurrentVersion | None) -> None:
        """412 unless the precondition holds of `current`, the current version of `what`.
        `*` and `If-None-Match: *` ask whether there is a current representation, which a
        deletion is not (RFC 9110 §13.1.1-2), so no version of a deleted resource holds
        either, its deletion's neither; a version is compared with the current one's."""
        if self.no_version and current is not None and not current.deleted:
            raise PreconditionFailed(
                f"If-None-Match: * expects no {what}, and version {current.vid} exists")
        if self.any_version and (current is None or current.deleted):
            raise PreconditionFailed(f"If-Match: * expects {what} to exist, and it does not")
        if self.versions and (current is None or current.deleted
                              or str(current.vid) not in self.versions):
            found = ("no resource" if current is None else f"a deletion (version {current.vid})"
                     if current.deleted else f"version {current.vid}")
            raise PreconditionFailed(f"If-Match expects {self._named()} of {what}, found {found}")

    async def check_resource(self, store: ResourceStore, resource_type: str, resource_id: str,
                             current: CurrentVersion | None) -> None:
        """`check` of a resource's current version, and If-Unmodified-Since: 412 when the
        resource changed after the date (`changed_after`: a version made within its second
        did not, unless another was made in that second before it)."""
        what = f"{resource_type}/{resource_id}"
        self.check(what, current)
        if (self.unmodified_since is not None and current is not None and not current.deleted
                and await changed_after(store, resource_type, resource_id, current.vid,
                                        current.last_updated, self.unmodified_since)):
            raise PreconditionFailed(
                f"If-Unmodified-Since {format_instant(self.unmodified_since)}: {what} was "
                f"changed after it, at {format_instant(current.last_updated)} (version "
                f"{current.vid})")

    def _named(self) -> str:
        listed = ", ".join(sorted(self.versions, key=lambda version: (len(version), version)))
        return f"version {listed}" if len(self.versions) == 1 else f"one of versions {listed}"


UNCONDITIONAL = Precondition()


def parse_if_match(value: str, expression: str | None = None) -> Precondition:
    """`*`, or a list of version ETags (`W/"3"`, http.html#concurrency; compared weakly, so
    also `"3"`, or a bare `3` as some clients send it) one of which must be current: RFC 9110
    §13.1.1 `If-Match = "*" / #entity-tag`, empty list members ignored (§5.6.1). A member
    that is no version ETag (`W/3`) is 400; `expression` names where the header was given."""
    if value.strip() == "*":
        return Precondition(any_version=True)
    members = [member.strip() for member in value.split(",") if member.strip()]
    tags = [VERSION_TAG.fullmatch(member) for member in members]
    if not tags or not all(tags):
        raise BadRequest(f"If-Match must be '*' or version ETags like W/\"3\" (a list of them "
                         f"separated by commas), not '{value}'", expression=expression)
    return Precondition(versions=frozenset(tag[1] or tag[2] for tag in tags if tag))


def write_precondition(method: str, if_match: str | None, if_none_match: str | None,
                       expression: str | None = None,
                       unmodified_since: datetime | None = None) -> Precondition:
    """The version a write expects (If-Match; without it, If-Unmodified-Since, RFC 9110
    §13.2.2), or, with `If-None-Match: *`, that there is none: a create-only PUT, a PATCH or
    DELETE of nothing current (412 where one is, RFC 9110 §13.1.2). If-None-Match with
    entity-tags is taken on reads only (400 on a write, rather than writing anyway);
    `expression` names where the conditions were given."""
    expected = (Precondition(unmodified_since=unmodified_since) if if_match is None
                else parse_if_match(if_match, expression and f"{expression}.ifMatch"))
    if method not in WRITE_METHODS or if_none_match is None:
        return expected
    where = expression and f"{expression}.ifNoneMatch"
    if if_none_match.strip() != "*":
        raise BadRequest(f"If-None-Match on a {method} takes '*' (no current version) only, "
                         f"not '{if_none_match}': send If-Match with the version expected",
                         expression=where)
    if if_match is not None:
        raise BadRequest("If-Match and If-None-Match: * cannot both hold: send one",
                         expression=where)
    return Precondition(no_version=True)
