"""`Patient/$everything` and `Encounter/$everything` (R4 OperationDefinitions
patient-everything, http://hl7.org/fhir/R4/operation-patient-everything.html, and
encounter-everything): the resources of a compartment, then the resources they reference
that no compartment of that kind holds (Practitioner, Organization, Location, Medication...),
as `searchset` pages.

Paging is keyset, like search: the cursor names the phase, the type and the last id served,
so pages neither repeat nor skip while others write, and a `next` link is only given when
another resource exists (no empty last page). Only types the token may read are served.
"""

from dataclasses import dataclass
from datetime import datetime

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.registry import is_supported, resource_types
from fhir_server.conformance.search_parameters import (
    compartment_members,
    reference_parameters,
)
from fhir_server.conformance.summary import attachment_urls
from fhir_server.errors import BadRequest, Forbidden
from fhir_server.search.index import compartment_filter, outside_compartments
from fhir_server.search.types.date import parse_date_parameter
from fhir_server.search.types.reference import local_references
from fhir_server.services.bundle_assembly import page_links, searchset_bundle
from fhir_server.services.care_dates import care_date_parameters, care_date_within
from fhir_server.services.cursors import CursorCodec, paging_context
from fhir_server.services.parameters import positive_integer
from fhir_server.services.search import MOST_RESPONSE_BYTES
from fhir_server.services.search_warnings import warning_entry
from fhir_server.services.versions import Version
from fhir_server.services.within_reach import (
    PROXIED,
    binaries_by_context,
    reads_binaries_by_context,
)
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import WITHOUT_INDEX, ResourceStore

# Records about records: only when `_type` names them (Provenance also by includeProvenance).
ASSOCIATED_TYPES = ("Provenance", "AuditEvent")
PARAMETERS = {
    "Patient": ("start", "end", "_since", "_type", "_count", "includeProvenance"),
    "Encounter": ("_since", "_type", "_count", "includeProvenance"),
}
_COMPARTMENT = "c"  # cursor phase: resources in the compartment
_REFERENCED = "r"  # cursor phase: resources they reference outside it


@dataclass(frozen=True)
class EverythingRequest:
    compartment_type: str  # Patient or Encounter
    compartment_id: str | None  # None: every compartment of that type (Patient only)
    start: datetime | None
    end: datetime | None
    since: datetime | None
    types: tuple[str, ...]  # compartment types served, focal type first
    sources: tuple[str, ...]  # compartment types whose references are followed
    referenced_types: frozenset[str] | None  # `_type`: referenced types served; None: any
    count: int
    include_provenance: bool
    cursor: str | None
    kept: list[tuple[str, str]]  # parameters repeated in the page links
    withheld: tuple[str, ...] = ()  # compartment types the token may not read
    # Some type is not the token's to read whole: a resource the record refers to may be
    # left out (the launch patient's Practitioner, a Binary whose securityContext is not
    # theirs to read, ... for patient/ scopes).
    references_withheld: bool = False


def parse_everything(
    compartment_type: str,
    compartment_id: str | None,
    params: list[tuple[str, str]],
    permissions: Permissions,
    default_count: int,
    max_count: int,
    strict: bool,
    presentation: list[tuple[str, str]],  # `_format`, `_pretty`: kept in the links
) -> EverythingRequest:
    """The checked parameters; 400 for malformed values, 403 for types the token may not
    read that `_type` names (left out silently when not named, like `_include`).

    `_type` filters the whole answer: compartment resources and the resources they
    reference (`_type=Observation,Practitioner` is the observations and the practitioners
    the record refers to), so it may name any resource type."""
    allowed = PARAMETERS[compartment_type]
    values: dict[str, str] = {}
    for name, value in params:
        if name == "_cursor":
            continue
        if name not in allowed:
            if strict:
                raise BadRequest(f"$everything has no parameter '{name}'", expression=name)
            continue
        if name in values and name != "_type":
            # R4 declares `_type` 0..* and the others 0..1; includeProvenance (ours) is one.
            raise BadRequest(f"$everything takes one {name}", expression=name)
        values[name] = f"{values[name]},{value}" if name in values else value
    if not permissions.allows(compartment_type, "r"):
        raise Forbidden(f"The token's scopes do not allow reading {compartment_type}")
    members = [compartment_type, *sorted(compartment_members(compartment_type)
                                         - {compartment_type})]
    sources = [t for t in members if t not in ASSOCIATED_TYPES and permissions.allows(t, "r")]
    types, referenced_types = sources, None
    asked = [t.strip() for t in values.get("_type", "").split(",") if t.strip()]
    if asked:  # `_type=` with no type: "In the absence of any specified types", all of them
        unknown = [t for t in asked if not is_supported(t)]
        if unknown:
            raise BadRequest(
                f"_type names {', '.join(unknown)}: not a resource type this server stores",
                expression="_type"
            )
        refused = [t for t in asked if not permissions.allows(t, "r")
                   and not (t == PROXIED and reads_binaries_by_context())]
        if refused:
            raise Forbidden(f"The token's scopes do not allow reading {', '.join(refused)}")
        types = [t for t in members if t in asked]
        referenced_types = frozenset(asked) - set(members)
    provenance = values.get("includeProvenance", "false")
    if provenance not in ("true", "false"):
        raise BadRequest("includeProvenance takes true or false", expression="includeProvenance")
    if provenance == "true" and not permissions.allows("Provenance", "r"):
        raise Forbidden("The token's scopes do not allow reading Provenance")
    count = min(positive_integer(values.get("_count", str(default_count)), "_count"), max_count)
    start, end = _date(values, "start", low=True), _date(values, "end", low=False)
    if start is not None and end is not None and end < start:
        raise BadRequest("end is before start: no care date is in that range",
                         expression="end")
    return EverythingRequest(
        compartment_type,
        compartment_id,
        start,
        end,
        _date(values, "_since", low=True),
        tuple(types),
        tuple(sources),
        referenced_types,
        count,
        provenance == "true",
        next((value for name, value in params if name == "_cursor"), None),
        # The links state the page size used (`_count=5000` is the ceiling), as search's do.
        [*((name, str(count) if name == "_count" else value) for name, value in params
           if name in allowed), *presentation],
        () if asked else tuple(t for t in members if t not in ASSOCIATED_TYPES
                               and not permissions.allows(t, "r")),
        not asked and not all(permissions.allows_outside_compartment(t, "r")
                              for t in resource_types()),
    )


def _date(values: dict[str, str], name: str, low: bool) -> datetime | None:
    if name not in values:
        return None
    try:
        covered = parse_date_parameter(values[name])
    except ValueError as bad:
        raise BadRequest(f"Invalid {name}: {bad}", expression=name) from None
    return covered.low if low else covered.high


@dataclass
class Everything:
    store: ResourceStore
    cursors: CursorCodec
    base: str
    permissions: Permissions
    max_bytes: int = MOST_RESPONSE_BYTES  # of the resources of a page

    def __post_init__(self) -> None:
        self.bytes_left = self.max_bytes

    async def page(self, request: EverythingRequest) -> dict:
        """One `searchset` page of the operation's result."""
        path = request.compartment_type
        if request.compartment_id is not None:
            path += f"/{request.compartment_id}"
        path += "/$everything"
        context = paging_context(path, request.kept)
        phase, type_index, after = _COMPARTMENT, 0, ""
        if request.cursor:
            phase, type_index, after = self._position(request.cursor, context)
        found: list[tuple[str, CurrentVersion]] = []
        mode = {}
        more = False
        if phase == _COMPARTMENT:
            found, more, next_position = await self._compartment_page(request, type_index, after)
            mode = dict.fromkeys(((kind, d.id) for kind, d in found), "match")
            if not more:
                phase, type_index, after = _REFERENCED, 0, ""
        if phase == _REFERENCED and len(found) < request.count:
            referenced, more, next_position = await self._referenced_page(
                request, after, request.count - len(found)
            )
            found += referenced
        if request.include_provenance:
            found += await self._provenance_of(request, found)
        entries = [
            (Version.from_current(kind, document), mode.get((kind, document.id), "include"))
            for kind, document in found
        ]
        cursor = self.cursors.encode(next_position, context) if more else None
        # `self` is this page (its cursor), with `first` on a later one, as a search's are.
        links = page_links(self.base, path, request.kept, cursor, request.cursor)
        bundle = searchset_bundle(self.base, entries, links)
        if not request.cursor and (note := _withheld_note(request)):
            # Said once, on the first page, as a search says of its includes; whatever was
            # found, or it would tell of resources the token may not read.
            bundle.setdefault("entry", []).append(warning_entry(note, "suppressed"))
        return bundle

    def _position(self, cursor: str, context: str) -> tuple[str, int, str]:
        position = self.cursors.decode(cursor, context)
        try:
            phase, type_index, after = position["e"]
            if phase in (_COMPARTMENT, _REFERENCED) and isinstance(type_index, int):
                return phase, type_index, str(after)
        except (KeyError, TypeError, ValueError):
            pass
        raise BadRequest("The paging cursor does not belong to $everything", expression="_cursor")

    def _filter(self, request: EverythingRequest, resource_type: str, after: str) -> dict:
        """The record's resources of a type served after the id `after`."""
        clauses = [{"_id": {"$gt": after}}, self._in_record(request, resource_type)]
        if request.since is not None:
            clauses.append({"lastUpdated": {"$gte": request.since}})
        return {"$and": clauses}

    def _in_record(self, request: EverythingRequest, resource_type: str) -> dict:
        """The record's resources of a type (its compartment within `start`/`end`), changed
        since `_since` or not: what the references followed are gathered from."""
        ids = None if request.compartment_id is None else [request.compartment_id]
        clauses = [compartment_filter(request.compartment_type, ids, self.base)]
        care_dates = care_date_parameters(resource_type)
        if care_dates and (request.start or request.end) and resource_type != "Patient":
            clauses.append(care_date_within(resource_type, care_dates, request.start,
                                            request.end))
        return {"$and": clauses}

    async def _compartment_page(
        self, request: EverythingRequest, type_index: int, after: str
    ) -> tuple[list[tuple[str, CurrentVersion]], bool, dict]:
        """Up to `count` resources of the compartment from the position on, and whether
        another one follows."""
        found: list[tuple[str, CurrentVersion]] = []
        position = {"e": [_COMPARTMENT, type_index, after]}
        for index in range(type_index, len(request.types)):
            kind = request.types[index]
            start = after if index == type_index else ""
            wanted = request.count - len(found)
            documents, cut = await self._read(kind, self._filter(request, kind, start), wanted + 1)
            if cut:  # the page is full of bytes: it goes on from the last one it holds
                found += [(kind, d) for d in documents]
                return found, True, {"e": [_COMPARTMENT, index,
                                           documents[-1].id if documents else start]}
            if len(documents) > wanted:
                found += [(kind, d) for d in documents[:wanted]]
                return found, True, {"e": [_COMPARTMENT, index, found[-1][1].id]}
            found += [(kind, d) for d in documents]
            if len(found) == request.count:
                position = {"e": [_COMPARTMENT, index + 1, ""]}
                more = await self._any_after(request, index + 1)
                return found, more, position
        return found, False, position

    async def _any_after(self, request: EverythingRequest, type_index: int) -> bool:
        for kind in request.types[type_index:]:
            if await self.store.find(kind, self._filter(request, kind, ""), 1, projection=["_id"]):
                return True
        # A reference may dangle or name a resource `_since` leaves out: look for one served.
        return bool((await self._referenced_page(request, "", 1))[0])

    async def _referenced(self, request: EverythingRequest) -> list[tuple[str, str]]:
        """(type, id) of the resources the compartment's resources reference that the token
        may read, in order: of types in no compartment of this kind, and of the others
        (`_referenced_page` keeps those in no compartment: a Specimen without subject).
        Gathered from every resource of the record, changed since `_since` or not: a
        Practitioner changed since is served though no reading naming them changed."""
        members = compartment_members(request.compartment_type)
        referenced: set[tuple[str, str]] = set()
        for kind in request.sources:
            # MongoDB gathers the distinct references: not every document comes over. Those
            # of every element ("whatever resources are needed to support the records"),
            # the canonicals reference parameters index as `Type/id`
            # (`CarePlan.instantiatesCanonical`), and the Binaries attachments hold their
            # content in (Patient-everything: "including binaries and attachments").
            entries = await self.store.distinct_entries(
                kind, self._in_record(request, kind),
                ["references"] + [f"search.{code}" for code in reference_parameters(kind)]
                + [f"resource.{path}" for path in attachment_urls(kind)], _MAX_REFERENCED,
            )
            referenced |= {
                (target, target_id)
                for target, target_id in local_references(entries, self.base)
                if request.referenced_types is None or target in request.referenced_types
                or (target in members and target in request.types)
            }
        wanted = {
            (target, target_id) for target, target_id in referenced
            # Of a member type, one outside every compartment: only for a token whose grant
            # on it is not the launch patient's compartment alone.
            if self.permissions.allows(target, "r") and (
                target not in members or self.permissions.allows_outside_compartment(target, "r"))
        }
        # A Binary the token reads by its securityContext, as its read would be judged.
        if binaries := sorted(i for kind, i in referenced - wanted if kind == PROXIED):
            wanted |= {(PROXIED, i) for i in await binaries_by_context(self.store, self.base,
                                                                        binaries)}
        return sorted(wanted)

    async def _referenced_page(
        self, request: EverythingRequest, after: str, room: int
    ) -> tuple[list[tuple[str, CurrentVersion]], bool, dict]:
        """Up to `room` referenced resources after `after` (the last `Type/id` served), in
        (type, id) order, and whether another one follows; dangling references, and those not
        updated since `_since`, are skipped."""
        pending = [ref for ref in await self._referenced(request) if "/".join(ref) > after]
        members = compartment_members(request.compartment_type)
        found: list[tuple[str, CurrentVersion]] = []
        cut = False
        while pending and len(found) <= room and not cut:
            chunk, pending = pending[: room + 1], pending[room + 1 :]
            by_type: dict[str, list[str]] = {}
            for kind, resource_id in chunk:
                by_type.setdefault(kind, []).append(resource_id)
            for kind, ids in by_type.items():
                wanted: dict = {"_id": {"$in": ids}}
                if kind in members:  # another's record is no part of it; this one's served
                    wanted |= outside_compartments(request.compartment_type, self.base)
                if request.since is not None:  # `_since` holds for them too
                    wanted["lastUpdated"] = {"$gte": request.since}
                documents, cut = await self._read(kind, wanted, len(ids))
                found += [(kind, d) for d in documents]
                if cut:  # what was read is the (type, id) order's first: the page ends there
                    break
            found.sort(key=lambda item: (item[0], item[1].id))
        more = cut or len(found) > room
        found = found[:room]
        last = f"{found[-1][0]}/{found[-1][1].id}" if found else after
        return found, more, {"e": [_REFERENCED, 0, last]}

    async def _read(self, kind: str, query: dict, limit: int) -> tuple[list[CurrentVersion], bool]:
        """Up to `limit` matching resources, in id order, within the bytes the page has left
        (the page's first whatever its size), and whether some were left out for them."""
        first = self.bytes_left == self.max_bytes
        if self.bytes_left <= 0:
            return [], True
        documents, size, cut = await self.store.find_within(kind, query, limit, self.bytes_left,
                                                            _SHOWN)
        if size > self.bytes_left and not first:
            return [], True
        self.bytes_left -= size
        return documents, cut

    async def _provenance_of(
        self, request: EverythingRequest, found: list[tuple[str, CurrentVersion]]
    ) -> list[tuple[str, CurrentVersion]]:
        """The Provenance that signs the served version of each resource (its target is
        `Type/id/_history/n`), so the page verifies offline (README "Signature contract");
        for a token that may read Provenances in the compartment only, those in it (a
        signer's record, with their personal ID, is not the launch patient's)."""
        versions = {f"{kind}/{d.id}/_history/{d.vid}" for kind, d in found
                    if kind != "Provenance"}
        if not versions:
            return []
        targets = sorted({version.split("/_history/")[0] for version in versions})
        wanted: dict = {"search.target": {"$in": targets}}
        if not self.permissions.allows_outside_compartment("Provenance", "r"):
            ids = None if request.compartment_id is None else [request.compartment_id]
            wanted = {"$and": [wanted, compartment_filter(request.compartment_type, ids,
                                                          self.base)]}
        documents = await self.store.find("Provenance", wanted, _MAX_PROVENANCE,
                                          projection=WITHOUT_INDEX)
        served = {d.id for kind, d in found if kind == "Provenance"}
        return [
            ("Provenance", d)
            for d in documents
            if d.id not in served
            and any(
                t.get("reference") in versions for t in (d.resource or {}).get("target", [])
            )
        ]


def _withheld_note(request: EverythingRequest) -> str:
    """Why resources may be missing from the record: its types the token may not read, and
    the types of the resources it refers to that the token may not read."""
    said = []
    if request.withheld:
        named = ", ".join(request.withheld[:_MOST_NAMED]) + (
            f" and {len(request.withheld) - _MOST_NAMED} more"
            if len(request.withheld) > _MOST_NAMED else "")
        said.append(f"Resources of types the token's scopes do not allow reading ({named}) "
                    "were left out")
    if request.references_withheld:
        said.append("Resources the record refers to are left out, if there are any, where "
                    "the token's scopes do not allow reading their type (beyond the "
                    "patient's compartment)")
    return "; ".join(said)


# Types named in the note of those left out.
_MOST_NAMED = 10
# Bounds on the work of one page: the distinct references gathered per type, and the
# Provenances looked up for a page (one or two per resource).
_MAX_REFERENCED = 100_000
# What a page shows of a resource (an inclusion projection: `find_within` adds its size).
_SHOWN = {"vid": 1, "lastUpdated": 1, "deleted": 1, "resource": 1}
_MAX_PROVENANCE = 10_000
