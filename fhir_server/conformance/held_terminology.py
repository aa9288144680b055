"""Terminology stored through the API that the expansions of one request may use, besides
the registry's: the CodeSystems a value set draws on and the ValueSets it imports, fetched
by the caller (`search.compiler.stored_terminology_drawn_on`) and set for the request with
`using_stored`; and what a ValueSet's compose names of them."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from fhir_server.conformance.code_systems import CodeSystemIndex, code_system, index_code_system

# How deep value sets import value sets: what is fetched of those stored through the API,
# and what an expansion follows (too costly beyond).
MAX_IMPORT_DEPTH = 8
# CodeSystems stored through the API that the ValueSets expanded in this context draw on,
# and ValueSets stored through the API they import, by `url` and `url|version`
# (`using_stored`).
_stored: ContextVar[dict[str, CodeSystemIndex] | None] = ContextVar("stored_code_systems",
                                                                    default=None)
_stored_value_sets: ContextVar[dict[str, dict] | None] = ContextVar("stored_value_sets",
                                                                    default=None)


T = TypeVar("T")

@contextmanager
def using_stored(resources: Iterable[dict]) -> Iterator[None]:
    """Expansions in this context may also draw on these CodeSystems and import these
    ValueSets (stored through the API, which the registry does not hold); of one url, the
    first given (the last stored) stands for it without a version."""
    indexes: dict[str, CodeSystemIndex] = {}
    value_sets: dict[str, dict] = {}
    for resource in resources:
        if resource.get("resourceType") == "ValueSet":
            url, version = resource.get("url"), resource.get("version")
            if isinstance(url, str):
                value_sets.setdefault(url, resource)
                if version:
                    value_sets[f"{url}|{version}"] = resource
            continue
        index = index_code_system(resource)
        indexes.setdefault(index.url, index)
        if index.version:
            indexes[f"{index.url}|{index.version}"] = index
    tokens = _stored.set(indexes), _stored_value_sets.set(value_sets)
    try:
        yield
    finally:
        _stored.reset(tokens[0])
        _stored_value_sets.reset(tokens[1])


def drawing_on(stored: Iterable[dict], work: Callable[..., T], *args: object) -> T:
    """`work(*args)` `using_stored` these resources: a function to hand to another thread,
    where their indexes, which cost as much as the work, are made too."""
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


def held_code_system(system: str, version: str | None = None) -> CodeSystemIndex | None:
    """A code system held here: the registry's, or one stored through the API that this
    context uses (`using_stored`)."""
    canonical = f"{system}|{version}" if version else system
    return code_system(canonical) or (_stored.get() or {}).get(canonical)


def stored_value_set(canonical: str) -> dict | None:
    """A ValueSet stored through the API that this context uses, by `url` or `url|version`."""
    return (_stored_value_sets.get() or {}).get(canonical)
