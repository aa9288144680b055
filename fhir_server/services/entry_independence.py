"""What the entries of one batch or transaction may have in common: a batch's entries are
independent (http://hl7.org/fhir/R4/http.html#brules: "there SHALL be no interdependencies
between the different entries ... Servers SHALL validate that this is the case"), and a
transaction names each resource once."""

from collections.abc import Callable

from fhir_server.conformance.messages import refusal
from fhir_server.errors import BadRequest, FhirError
from fhir_server.search.types.reference import LOCAL_REFERENCE, references_in
from fhir_server.services.bundle_entries import Entry, check_entry_parameters, parse_entry
from fhir_server.services.conditional_criteria import criteria_key, find_matches
from fhir_server.services.references import full_url_key, reference_base
from fhir_server.storage.resources import ResourceStore


def bundle_local_urls(raw_entries: list, kind: str, server_base: str) -> frozenset[str]:
    """The fullUrls of a batch's entries that no stored resource will have (as
    `full_url_key` writes them): `urn:` ones, which resolve inside the Bundle only, and
    this server's URLs its creates are sent with (`[base]/Patient/p1` on a POST), since a
    create is given an id of the server's (http.html#create) while bundle.html#references
    resolves a reference to that URL, or a relative `Patient/p1` read against it, to the
    entry. (Another server's URL still names the resource there.) A history's creates keep
    their ids (`history_replication`): only its `urn:`s."""
    found = set()
    for raw in raw_entries:
        if not isinstance(raw, dict) or not isinstance(raw.get("fullUrl"), str):
            continue
        key = full_url_key(raw["fullUrl"])
        request = raw.get("request")
        created = (kind == "batch" and isinstance(request, dict)
                   and request.get("method") == "POST"
                   and key.startswith(server_base.rstrip("/") + "/"))
        if key.startswith("urn:") or created:
            found.add(key)
    return frozenset(found)


def written_target(entry: Entry) -> str | None:
    """`Type/id` of the resource an update, patch or delete by id writes."""
    if entry.resource_id and entry.method in ("PUT", "PATCH", "DELETE"):
        return f"{entry.resource_type}/{entry.resource_id}"
    return None


async def written_more_than_once(raw_entries: list, base: str,
                                 store: Callable[[], ResourceStore],
                                 limits: tuple[int, int]) -> dict[int, str]:
    """The entries of a batch that write a resource another entry writes too, each with that
    resource (http.html#brules: "there SHALL be no interdependencies between the different
    entries ... Servers SHALL validate that this is the case"): named by id, or matched by
    a conditional write when the batch arrives (or, matching nothing, the one resource the
    first would create and the next find); an entry that cannot be read, or whose criteria
    fail, fails on its own. Its writes run side by side: two conditional updates of one
    patient ended in whichever came last. Conditional creates alone may meet: the first
    makes the resource, the others find it, whatever the order. Each entry's lookup in a
    `store()` of its own, within the search time limit, as the entry's own run is: in one
    store for all, the lookups after the limit's time failed, and their entries went
    unchecked."""
    entries = []
    for index, raw in enumerate(raw_entries):
        try:
            entry = parse_entry(index, raw, base)
            check_entry_parameters(entry, *limits)
        except FhirError:
            continue
        if entry.method in ("POST", "PUT", "PATCH", "DELETE") and entry.operation is None:
            entries.append(entry)
    # Only a type that something other than a create writes can be written twice: a batch
    # of conditional creates (a load) makes no lookups of its own.
    changed = {entry.resource_type for entry in entries if entry.method != "POST"}
    writers: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.resource_type not in changed:
            continue
        try:
            target = written_target(entry) or await _conditional_target(store(), entry)
        except FhirError:
            continue
        if target is not None:
            writers.setdefault(target, []).append(entry)
    return {entry.index: target for target, written in writers.items()
            if len(written) > 1 and any(entry.method != "POST" for entry in written)
            for entry in written}


async def _conditional_target(store: ResourceStore, entry: Entry) -> str | None:
    criteria = entry.if_none_exist if entry.method == "POST" else entry.query
    if not criteria or entry.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    matches = await find_matches(store, entry.resource_type, criteria)
    if len(matches) == 1:
        return f"{entry.resource_type}/{matches[0].id}"
    if matches or entry.method not in ("POST", "PUT"):
        return None  # several (412) or nothing to patch or delete: the entry fails alone
    searched = criteria_key(entry.resource_type, criteria)
    key = "&".join(f"{name}={value}" for name, value in sorted(searched))
    return f"{entry.resource_type}?{key}"


def check_independent(entry: Entry, within: frozenset[str], server_base: str) -> None:
    """A batch entry may not refer to another by a fullUrl of `within` (`bundle_local_urls`),
    absolute or relative to its own RESTful fullUrl, else to this server's base
    (bundle.html#references): a batch's entries are independent
    (http://hl7.org/fhir/R4/http.html#brules, which servers SHALL check), and stored as is
    the reference would resolve nowhere, or to another resource of that id."""
    own = full_url_key(entry.full_url or "")
    base = reference_base(entry.full_url, server_base)
    for element in references_in(entry.resource):
        named = element["reference"].partition("/_history/")[0]  # a version of it too
        if (full_url_key(named) in within - {own}
                or (LOCAL_REFERENCE.match(named) and f"{base}/{named}" in within - {own})):
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
