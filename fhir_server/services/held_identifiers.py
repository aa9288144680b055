"""Identifiers a resource holds now: not marked `old` ("no longer considered valid", R4
identifier-use), their period, if any, holding now. A corrected, mistyped number may be
another person's: where the server picks the one Patient a number stands for (a person's own
login, `$summary?identifier=`, `$match`), a record that no longer holds it is no candidate
beside one that does."""

from datetime import UTC, datetime

from fhir_server.search.index import parameter_entries
from fhir_server.search.types.date import parse_date
from fhir_server.search.values import split_escaped


def held_now(identifier: dict) -> bool:
    """Whether an Identifier is its resource's now: not marked `old` ("no longer considered
    valid"), its period, if any, holding now."""
    return identifier.get("use") != "old" and _in_period(identifier.get("period"))


def _in_period(period: object) -> bool:
    """Whether now is within a period, each end read at its precision (an end of `2026`
    holds all of 2026; one of `2026-12-05T17:30:00Z` ends then); an unreadable one is not."""
    if period is None:
        return True
    if not isinstance(period, dict):
        return False
    now = datetime.now(UTC)
    try:
        start, end = period.get("start"), period.get("end")
        return ((start is None or parse_date(str(start), require_timezone=False).low <= now)
                and (end is None or parse_date(str(end), require_timezone=False).high >= now))
    except ValueError:
        return False


def holds_now(patient: dict, searched: str) -> bool:
    """Whether a Patient holds now an identifier a search by `searched` (`system|value`, or
    a value of any system) finds: its identifiers held now give an entry of those the
    searched one gives (aliased systems, a BHYT card's BHXH code)."""
    parts = split_escaped(searched, "|")
    identifier = {"value": parts[-1], **({"system": parts[0]} if len(parts) == 2 else {})}
    prefix = "sc:" if identifier.get("system") else "c:"
    wanted = {key for key in parameter_entries(
        "Patient", "identifier", {"resourceType": "Patient", "identifier": [identifier]})
        if key.startswith(prefix)}
    held = [one for one in patient.get("identifier") or []
            if isinstance(one, dict) and held_now(one)]
    return bool(wanted & set(parameter_entries(
        "Patient", "identifier", {**patient, "identifier": held})))
