"""Records merged into another: a Patient with a `link` of type `replaced-by` "must no longer
be used", the patient it names "must be used in lieu of" it (R4 codesystem-link-type). Where
the server itself picks the one Patient an identifier or a description stands for (a
person's own login, `$summary?identifier=`, `$match`), such a record is no candidate: it
still holds the numbers it was merged with, and would otherwise stand beside its survivor as
a duplicate. A search still finds it, as any stored resource."""


def replaced(patient: dict) -> bool:
    """Whether a Patient says it is replaced by another (merged into it)."""
    links = patient.get("link")
    return isinstance(links, list) and any(
        isinstance(link, dict) and link.get("type") == "replaced-by" for link in links)
