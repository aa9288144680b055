"""FHIR documents (http://hl7.org/fhir/R4/documents.html): a `document` Bundle of a
Composition and the resources it refers to, and `Composition/$document`
(http://hl7.org/fhir/R4/composition-operation-document.html), which makes one from a stored
Composition. `Patient/$summary` (services/patient_summary.py) builds its documents here too.

A document stands on its own: the resources its Composition refers to are in it, and those
they refer to in turn, up to MAX_RESOURCES. A document is whole or not made: when the token
may not read a type the document refers to, `$document` is refused (a sealed document
missing its subject or its entries would pass for the record)."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.registry import is_supported
from fhir_server.errors import Forbidden
from fhir_server.search.types.reference import references_in
from fhir_server.services.include_reads import OnPage, Targets, named_in
from fhir_server.services.scope_searches import matching_versions
from fhir_server.services.versions import Version, format_instant, stored_current
from fhir_server.storage.named_versions import StoredVersion, find_named_within
from fhir_server.storage.records import CurrentVersion, HistoryVersion
from fhir_server.storage.resources import WITHOUT_INDEX, ResourceStore

# The resources one document holds besides its Composition; references beyond are left
# unresolved.
MAX_RESOURCES = 1000
Record = tuple[str, StoredVersion]  # resource type, stored version


@dataclass
class DocumentAssembly:
    store: ResourceStore
    base: str
    permissions: Permissions

    async def referenced(self, records: list[Record], within: Callable[[str], dict | None],
                         rounds: int,
                         keep: Callable[[str, dict], bool] = lambda kind, resource: True,
                         withheld: set[str] | None = None) -> list[Record]:
        """The stored resources `records` refer to that the token may read, that match the
        filter `within` gives for their type (None: that type is not followed) and that
        `keep(type, resource)`, then those these refer to, for `rounds` rounds; each version
        once, none of `records`, at most MAX_RESOURCES. A version-specific reference brings
        the version it names (bundle.html#references resolves it to the entry of that
        `meta.versionId`), as it was within `within`. Dangling references are skipped; the
        types referred to that the token may not read go into `withheld`."""
        seen = OnPage()
        for kind, record in records:
            seen.add(kind, record)
        found: list[Record] = []
        frontier = records
        for _ in range(rounds):
            wanted: dict[str, Targets] = {}
            for _, record in frontier:
                written = [element["reference"] for element in references_in(record.resource)]
                for target, target_id, vid in named_in(written, self.base):
                    if (seen.holds(target, target_id, vid) or not is_supported(target)
                            or within(target) is None):
                        continue
                    if self.permissions.allows(target, "r"):
                        wanted.setdefault(target, Targets()).add(target_id, vid)
                    elif withheld is not None:
                        withheld.add(target)
            frontier = []
            for target, named in sorted(wanted.items()):
                room = MAX_RESOURCES - len(found) - len(frontier)
                if room <= 0:
                    break
                for record in await self._read(target, named, within(target) or {}, room):
                    if keep(target, record.resource or {}) and seen.add(target, record):
                        frontier.append((target, record))
            found += frontier
            if not frontier:
                break
        return found

    async def _read(self, kind: str, named: Targets, within: dict, room: int
                    ) -> list[StoredVersion]:
        """Up to `room` of the resources and versions `named` that match `within`: an older
        version as it was (its index is not stored)."""
        if not named.versions:
            query = {"_id": {"$in": sorted(named.ids)}, **within}
            return list(await self.store.find(kind, query, min(len(named.ids), room),
                                              WITHOUT_INDEX))
        records, _, _ = await find_named_within(
            self.store, kind, sorted(named.ids), sorted(named.versions), room, WITHOUT_INDEX,
            within=within)
        older = [record for record in records if isinstance(record, HistoryVersion)]
        if not within or not older:
            return records
        passed = await matching_versions(
            self.store, [Version.from_history(kind, record) for record in older], within)
        return ([record for record in records if isinstance(record, CurrentVersion)]
                + [record for record, match in zip(older, passed, strict=True) if match])

    async def composition(self, composition_id: str) -> CurrentVersion:
        """A stored Composition: 404 unknown, 410 deleted, 403 without read scope."""
        if not self.permissions.allows("Composition", "r"):
            raise Forbidden("The token's scopes do not allow reading Composition")
        return await stored_current(self.store, "Composition", composition_id)

    async def document(self, composition: CurrentVersion, now: datetime) -> dict:
        """`Composition/$document`: the Composition, then what it refers to, directly or
        not (subject, encounter, authors, attesters, custodian, section entries, ...)."""
        withheld: set[str] = set()
        included = await self.referenced([("Composition", composition)], lambda _: {},
                                         rounds=MAX_RESOURCES, withheld=withheld)
        if withheld:
            raise Forbidden(
                f"The document refers to {', '.join(sorted(withheld))}, which the token's "
                "scopes do not allow reading: a document is made whole or not at all")
        entries = [self.entry("Composition", composition.resource or {}, composition.id)]
        entries += [self.entry(kind, record.resource or {}, record.id)
                    for kind, record in included]
        return document_bundle(entries, now)

    def entry(self, kind: str, resource: dict, resource_id: str) -> dict:
        return {"fullUrl": f"{self.base}/{kind}/{resource_id}", "resource": resource}


def document_bundle(entries: list[dict], now: datetime) -> dict:
    """A `document` Bundle of entries, the Composition first (bundle.html#document)."""
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": format_instant(now),
        "entry": entries,
    }
