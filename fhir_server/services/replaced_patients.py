"""Records merged into another: a Patient with a `link` of type `replaced-by` "must no longer
be used", the patient it names "must be used in lieu of" it (R4 codesystem-link-type).
Where the server itself picks the one Patient an identifier or a description stands for (a
person's own login, `$summary?identifier=`, `$match`), such a record is no candidate beside
the others: it still holds the numbers it was merged with, and would otherwise stand beside
its survivor as a duplicate. A search still finds it, as any stored resource. The merge
counts as the merged record says it (`replaced-by`, which a merge such as HAPI's `$merge`
writes beside the survivor's `replaces`): by another record's `replaces` alone, whoever can
write a Patient could give theirs a person's CCCD and `replaces` that person's record, and
the person's own login would open theirs."""

from collections.abc import Sequence
from typing import TypeVar

from fhir_server.storage.records import CurrentVersion

Record = TypeVar("Record", bound=CurrentVersion)


def _links(patient: dict | None, link_type: str) -> list[str]:
    """The references of a Patient's links of one type."""
    links = (patient or {}).get("link")
    return [str(link["other"]["reference"]) for link in links
            if isinstance(link, dict) and link.get("type") == link_type
            and isinstance(link.get("other"), dict)
            and isinstance(link["other"].get("reference"), str)] if isinstance(
        links, list) else []


def current(records: Sequence[Record]) -> list[Record]:
    """The records that are not merged into another: none `replaced-by` one."""
    return [record for record in records if not _links(record.resource, "replaced-by")]
