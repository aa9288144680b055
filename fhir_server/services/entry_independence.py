"""What the entries of one batch or transaction may have in common: a batch's entries are
independent (http://hl7.org/fhir/R4/http.html#brules: "there SHALL be no interdependencies
between the different entries ... Servers SHALL validate that this is the case"), and a
transaction names each resource once."""

from fhir_server.conformance.messages import refusal
from fhir_server.errors import BadRequest, FhirError
from fhir_server.search.types.reference import references_in
from fhir_server.services.bundle_entries import Entry, parse_entry
from fhir_server.services.references import full_url_key


def bundle_local_urls(raw_entries: list) -> frozenset[str]:
    """The `urn:` fullUrls of a Bundle's entries (as `full_url_key` writes them): names that
    resolve inside it only."""
    return frozenset(
        key for raw in raw_entries
        if isinstance(raw, dict) and isinstance(raw.get("fullUrl"), str)
        and (key := full_url_key(raw["fullUrl"])).startswith("urn:")
    )


def written_target(entry: Entry) -> str | None:
    """`Type/id` of the resource an update, patch or delete by id writes."""
    if entry.resource_id and entry.method in ("PUT", "PATCH", "DELETE"):
        return f"{entry.resource_type}/{entry.resource_id}"
    return None


def written_more_than_once(raw_entries: list, base: str) -> frozenset[str]:
    """The resources two or more entries of a batch write (http.html#brules: "there SHALL
    be no interdependencies between the different entries ... Servers SHALL validate that
    this is the case"); an entry that cannot be read fails on its own."""
    seen: set[str] = set()
    shared: set[str] = set()
    for index, raw in enumerate(raw_entries):
        try:
            target = written_target(parse_entry(index, raw, base))
        except FhirError:
            continue
        if target is not None:
            (shared if target in seen else seen).add(target)
    return frozenset(shared)


def check_independent(entry: Entry, within: frozenset[str]) -> None:
    """A batch entry may not refer to another by its `urn:` fullUrl: a batch's entries are
    independent (http://hl7.org/fhir/R4/http.html#brules, which servers SHALL check), and
    stored as is the reference would resolve nowhere."""
    own = full_url_key(entry.full_url or "")
    for element in references_in(entry.resource):
        named = element["reference"].partition("/_history/")[0]  # a version of it too
        if full_url_key(named) in within - {own}:
            raise refusal(BadRequest, "entry.batch-reference", f"{entry.location}.resource",
                          where=entry.location, reference=element["reference"])


def check_distinct_targets(entries: list[Entry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        keys = set()  # an entry's fullUrl may be its own `Type/id`: that is no second use
        if entry.full_url:  # a URN in any case names one entry (`full_url_key`)
            keys.add(full_url_key(entry.full_url))
        if target := written_target(entry):
            keys.add(target)
        for key in keys:
            if key in seen:
                raise refusal(BadRequest, "entry.twice", entry.location, where=entry.location,
                              key=key)
            seen.add(key)
