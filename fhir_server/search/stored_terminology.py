"""The terminology stored through the API (CodeSystems, ValueSets, supplements) that a
search or a terminology operation draws on beyond the registry's, read by the sub-searches
of `Lookup`."""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from fhir_server.conformance.code_systems import code_system, find_value_set
from fhir_server.conformance.held_terminology import (
    MAX_IMPORT_DEPTH,
    drawn_on,
    imports,
    supplements_named,
)

MAX_STORED_VALUE_SETS = 1000  # looked at for the urls of one `:in` value


class Match(Protocol):
    """What chains and `_has` read of a current version a sub-search matched (storage's
    `CurrentVersion`): its id and the `search.<code>` entries asked for."""

    @property
    def id(self) -> str: ...

    @property
    def search(self) -> dict[str, list]: ...

    @property
    def resource(self) -> dict | None: ...


# resource type, filter, fields to return, at most how many versions → matches
Lookup = Callable[[str, dict, list[str], int], Awaitable[Sequence[Match]]]
async def stored_terminology_drawn_on(lookup: Lookup, value_sets: Iterable[dict]) -> list[dict]:
    """What ValueSets need that the registry does not hold and was stored through the API
    (a hospital's own code system, a value set importing another): the ValueSets they import
    (and those these import), then the CodeSystems all of them draw on or name as
    supplements, and the supplements of the code systems they draw on, the last stored
    first, for `held_terminology.using_stored`."""
    given = wanted = list(value_sets)
    imported: list[dict] = []
    seen: set[str] = set()
    for _ in range(MAX_IMPORT_DEPTH):  # each level one query
        urls = sorted({canonical.partition("|")[0] for value_set in wanted
                       for canonical in imports(value_set)
                       if find_value_set(canonical) is None} - seen)
        if not urls:
            break
        seen.update(urls)
        wanted = await last_stored_first(lookup, "ValueSet", urls)
        imported += wanted
    every = [*given, *imported]
    drawn = {(system, version) for value_set in every for system, version in drawn_on(value_set)}
    named = {canonical for value_set in every for canonical in supplements_named(value_set)}
    urls = sorted({system for system, version in drawn
                   if code_system(f"{system}|{version}" if version else system) is None}
                  | {canonical.partition("|")[0] for canonical in named
                     if code_system(canonical) is None})
    return [*imported, *await last_stored_first(lookup, "CodeSystem", urls),
            *await stored_supplements(lookup, sorted({system for system, _ in drawn}))]


async def stored_supplements(lookup: Lookup, systems: list[str]) -> list[dict]:
    """The supplements stored through the API of these code systems (of any version: a
    canonical is indexed with its bare url too), the last stored first: they apply to them
    as the registry's do (codesystem.html#supplements)."""
    return await last_stored_first(lookup, "CodeSystem", systems, "search.supplements")


async def last_stored_first(lookup: Lookup, kind: str, urls: list[str],
                             field: str = "search.url") -> list[dict]:
    if not urls:
        return []
    stored = [match.resource for match in await lookup(
        kind, {field: {"$in": urls}}, ["resource"], MAX_STORED_VALUE_SETS)
        if match.resource is not None]
    return sorted(stored, key=lambda resource: resource["meta"]["lastUpdated"], reverse=True)
