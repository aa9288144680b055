"""Records merged into another: a Patient with a `link` of type `replaced-by` "must no longer
be used", the patient it names "must be used in lieu of" it; one that another `replaces` is
"an inactive patient resource that has been merged into" that one (R4 codesystem-link-type).
Where the server itself picks the one Patient an identifier or a description stands for (a
person's own login, `$summary?identifier=`, `$match`), such a record is no candidate beside
the others: it still holds the numbers it was merged with, and would otherwise stand beside
its survivor as a duplicate. A search still finds it, as any stored resource."""

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


def _names(reference: str, patient_id: str) -> bool:
    """Whether a reference names the Patient of this id (`Patient/1`, a URL ending so, a
    version of it)."""
    path = reference.split("/_history/", 1)[0]
    return path == f"Patient/{patient_id}" or path.endswith(f"/Patient/{patient_id}")


def current(records: Sequence[Record]) -> list[Record]:
    """The records that are not merged into another: none `replaced-by` one, nor named by a
    `replaces` link of another among them."""
    replacing = [(record.id, reference) for record in records
                 for reference in _links(record.resource, "replaces")]
    return [record for record in records
            if not _links(record.resource, "replaced-by")
            and not any(other != record.id and _names(reference, record.id)
                        for other, reference in replacing)]
