"""Terminology stored through the API that the expansions of one request may use, besides
the registry's: the CodeSystems a value set draws on, the ValueSets it imports and the
supplements of its code systems, fetched by the caller
(`search.stored_terminology.stored_terminology_drawn_on`) and set for the request with
`using_stored`; and what a ValueSet names of them.

Supplements apply to the code system they supplement wherever it is used, as tx.fhir.org
applies those it holds (a value set need not name one); a ValueSet that names one with the
`valueset-supplement` extension cannot be used without it (`expansion.py`)."""

from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from fhir_server.conformance.code_systems import (
    CodeSystemIndex,
    code_system,
    index_code_system,
    named_code_system,
    supplements_of,
)

# How deep value sets import value sets: what is fetched of those stored through the API,
# and what an expansion follows (too costly beyond).
MAX_IMPORT_DEPTH = 8
# "This extension declares that a value set depends on a particular supplement and should
# not be used in its absence" (R4 extension-valueset-supplement.html).
SUPPLEMENT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/valueset-supplement"


@dataclass
class _Stored:
    """What one context uses of the terminology stored through the API."""

    # CodeSystems (supplements too) and ValueSets, by `url` and `url|version`.
    code_systems: dict[str, CodeSystemIndex] = field(default_factory=dict)
    value_sets: dict[str, dict] = field(default_factory=dict)
    supplements: tuple[dict, ...] = ()
    # The registry's code systems as the stored supplements add to them, made once.
    supplemented: dict[str, CodeSystemIndex] = field(default_factory=dict)


_stored: ContextVar[_Stored | None] = ContextVar("stored_terminology", default=None)


T = TypeVar("T")


def _by_canonical(resources: Iterable[dict]) -> dict[str, dict]:
    """Resources by `url` and `url|version`; of one url, the first (the last stored) stands
    for it without a version."""
    found: dict[str, dict] = {}
    for resource in resources:
        url, version = resource.get("url"), resource.get("version")
        if isinstance(url, str):
            found.setdefault(url, resource)
            if version:
                found.setdefault(f"{url}|{version}", resource)
    return found


@contextmanager
def using_stored(resources: Iterable[dict]) -> Iterator[None]:
    """Expansions in this context may also draw on these CodeSystems, import these ValueSets
    and apply these supplements (stored through the API, which the registry does not hold);
    of one url, the first given (the last stored) stands for it without a version."""
    given = list(resources)
    code_systems = _by_canonical(r for r in given if r.get("resourceType") == "CodeSystem")
    distinct = {id(resource): resource for resource in code_systems.values()}
    supplements = tuple(r for r in distinct.values() if r.get("content") == "supplement")
    indexed = {key: index_code_system(resource, supplements) for key, resource in distinct.items()}
    indexes = {canonical: indexed[id(resource)] for canonical, resource in code_systems.items()}
    value_sets = _by_canonical(r for r in given if r.get("resourceType") == "ValueSet")
    token = _stored.set(_Stored(indexes, value_sets, supplements))
    try:
        yield
    finally:
        _stored.reset(token)


def drawing_on(stored: Collection[dict], work: Callable[..., T], *args: object) -> T:
    """`work(*args)` `using_stored` these resources: a function to hand to another thread,
    where their indexes, which cost as much as the work, are made too. With none, the work
    as it is (most searches: the context costs a third of compiling them)."""
    if not stored:
        return work(*args)
    with using_stored(stored):
        return work(*args)


def _components(value_set: dict) -> list[dict]:
    """The includes and excludes of a ValueSet's compose."""
    compose = value_set.get("compose")
    if not isinstance(compose, dict):
        return []
    return [component for part in ("include", "exclude") for component in compose.get(part) or ()
            if isinstance(component, dict)]


def imports(value_set: dict) -> set[str]:
    """The canonical URLs of the value sets a ValueSet's compose imports."""
    return {canonical for component in _components(value_set)
            for canonical in component.get("valueSet") or () if isinstance(canonical, str)}


def drawn_on(value_set: dict) -> set[tuple[str, str | None]]:
    """The code systems (url, version) a ValueSet's compose names directly."""
    return {(component["system"], component.get("version"))
            for component in _components(value_set) if isinstance(component.get("system"), str)}


def supplements_named(value_set: dict) -> set[str]:
    """The canonical URLs of the supplements a ValueSet says it depends on."""
    return {extension["valueCanonical"] for extension in value_set.get("extension") or ()
            if isinstance(extension, dict) and extension.get("url") == SUPPLEMENT_EXTENSION
            and isinstance(extension.get("valueCanonical"), str)}


def missing_supplements(value_set: dict) -> list[str]:
    """The supplements a ValueSet names (`valueset-supplement`) that are not held here."""
    return sorted(canonical for canonical in supplements_named(value_set)
                  if (held := held_code_system(canonical)) is None
                  or held.content != "supplement")


def held_code_system(system: str, version: str | None = None) -> CodeSystemIndex | None:
    """A code system held here: the registry's (with the supplements stored through the API
    that this context uses), or one stored through the API that it uses (`using_stored`),
    or else one known by name only, of any version, held without its codes (LOINC)."""
    canonical = f"{system}|{version}" if version else system
    stored = _stored.get() or _Stored()
    held = code_system(canonical)
    if held is None:
        return stored.code_systems.get(canonical) or named_code_system(system.partition("|")[0])
    if not stored.supplements:
        return held
    if canonical not in stored.supplemented:
        extra = supplements_of(held.resource, stored.supplements)
        stored.supplemented[canonical] = (index_code_system(held.resource, extra) if extra
                                          else held)
    return stored.supplemented[canonical]


def index_held(resource: dict) -> CodeSystemIndex:
    """A CodeSystem resource (stored, or sent in the request) indexed with the supplements
    held for it: the registry's and the stored ones this context uses."""
    return index_code_system(resource, stored_supplements())


def stored_supplements() -> tuple[dict, ...]:
    """The supplements stored through the API that this context uses."""
    return (_stored.get() or _Stored()).supplements


def stored_value_set(canonical: str) -> dict | None:
    """A ValueSet stored through the API that this context uses, by `url` or `url|version`."""
    return (_stored.get() or _Stored()).value_sets.get(canonical)
