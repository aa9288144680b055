"""The outcome entries of a searchset (search.mode `outcome`): why a page may be incomplete,
and where a chain was evaluated against another version than the one a reference names
(http://hl7.org/fhir/R4/search.html#versions: "Where a search does not act on the referenced
version, search results SHOULD contain a OperationOutcome with a warning that indicates the
discrepancy")."""

import uuid
from collections.abc import Sequence

from fhir_server.search.index import reference_literals
from fhir_server.services.include_reads import Found


def warning_entry(diagnostics: str, code: str = "too-costly") -> dict:
    """A searchset entry of a warning
    (http://hl7.org/fhir/R4/bundle-definitions.html#Bundle.entry.search.mode)."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": code, "diagnostics": diagnostics}],
    }
    return {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": outcome,
            "search": {"mode": "outcome"}}


def warned(bundle: dict, reason: str | None, chained: str | None = None) -> dict:
    """The searchset, with a warning entry of `reason` (`incomplete`) and one of `chained`
    (`versioned_chains`), if any."""
    if reason is not None:
        bundle.setdefault("entry", []).append(warning_entry(reason, "incomplete"))
    if chained is not None:
        bundle.setdefault("entry", []).append(warning_entry(chained, "informational"))
    return bundle


def _chained_codes(criteria: list[tuple[str, str]]) -> list[str]:
    """The reference parameters of the searched type that criteria chain through (`subject`
    of `subject:Patient.name`); a `_has`'s inner chain starts from other resources."""
    return sorted({name.partition(".")[0].partition(":")[0] for name, _ in criteria
                   if "." in name and not name.startswith("_has:")})


def versioned_chains(resource_type: str, criteria: list[tuple[str, str]],
                     matches: Sequence[Found]) -> str | None:
    """Why a page's matches may differ from what their references name, when a chain goes
    through a version-specific reference (`Patient/1/_history/2`): chains read the current
    version of the resource referred to, as search is defined on current versions."""
    codes = _chained_codes(criteria)
    chained = sorted({f"{resource_type}/{document.id}"
                      for _, document in matches for code in codes
                      if any("/_history/" in literal for literal in reference_literals(
                          resource_type, code, document.resource or {}))})
    if not chained:
        return None
    return (f"{', '.join(chained)} refer{'s' if len(chained) == 1 else ''} to a version of a "
            f"resource through {', '.join(codes)}: the chain was evaluated against the current "
            "version of the resource referred to, not against the version the reference names")
