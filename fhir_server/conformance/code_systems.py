"""The CodeSystems of the registry as the terminology services read them: concepts by code
with their displays, designations (by language), properties, hierarchy (nested concepts and
`parent`/`child` properties) and status (http://hl7.org/fhir/R4/codesystem.html), found by
canonical URL and version (`url|version`); supplements merged into the system they extend.
Everything is cached until the registry changes."""

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, wraps
from typing import ParamSpec, TypeVar

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.grammar_systems import NAMES as GRAMMARS

P = ParamSpec("P")
T = TypeVar("T")
# Standard concept properties (http://hl7.org/fhir/R4/codesystem-concept-properties.html),
# recognised by their URI whatever code a CodeSystem gives them (THO: `subsumedBy`).
_STANDARD_PROPERTIES = "http://hl7.org/fhir/concept-properties#"
_INACTIVE_STATUSES = frozenset({"retired", "inactive"})


def _generation() -> tuple[object, ...]:
    """Changes whenever a resource is added to the registry (or it is rebuilt): the registry
    (held here, so that no other takes its id) and how many it has had added. Asked on every
    call of a cached function: counting the terminology resources instead cost 4% of the CPU
    of indexing an AuditEvent."""
    found = registry()
    return found, found.generation


def _same(one: tuple[object, ...], other: tuple[object, ...]) -> bool:
    return len(one) == len(other) and all(
        a is b or (isinstance(a, int) and a == b) for a, b in zip(one, other, strict=True))


# Results one cached function holds at most: its arguments may come from requests (a
# search's code systems, the codings written), so past that it starts over.
_MOST_CACHED = 16_384


def per_registry(function: Callable[P, T]) -> Callable[P, T]:
    """Cache `function` (positional, hashable arguments) until the registry changes."""
    results: dict[object, T] = {}
    seen: list[tuple[object, ...]] = [()]

    @wraps(function)
    def cached(*args: P.args, **kwargs: P.kwargs) -> T:
        now = _generation()
        if not _same(seen[0], now):
            results.clear()
            seen[0] = now
        if args not in results:
            if len(results) >= _MOST_CACHED:
                results.clear()
            results[args] = function(*args, **kwargs)
        return results[args]

    return cached


@per_registry
def _by_url(kind: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for resource in registry().all(kind):
        if isinstance(resource.get("url"), str):
            found.setdefault(resource["url"], []).append(resource)
    return found


def find(kind: str, canonical: str) -> dict | None:
    """The `kind` resource with a canonical URL: `url|version` for one version, else the one
    the registry resolves the plain URL to."""
    url, _, version = canonical.partition("|")
    resolved = registry().resolve(canonical)
    if (resolved is not None and resolved.get("resourceType") == kind
            and (not version or resolved.get("version") == version)):
        return resolved
    candidates = _by_url(kind).get(url, [])
    if version:
        return next((r for r in candidates if r.get("version") == version), None)
    return candidates[-1] if candidates else None


@per_registry
def _by_value_set() -> dict[str, dict]:
    """CodeSystems by the canonical URL of the value set of all their codes."""
    return {resource["valueSet"].partition("|")[0]: resource
            for resource in registry().all("CodeSystem")
            if isinstance(resource.get("valueSet"), str)
            and isinstance(resource.get("url"), str)}


def find_value_set(canonical: str) -> dict | None:
    """The ValueSet with a canonical URL: one of the registry, else the implicit value set of
    all the codes of the CodeSystem that names that URL as its `valueSet`
    (http://hl7.org/fhir/R4/codesystem-definitions.html#CodeSystem.valueSet)."""
    found = find("ValueSet", canonical)
    url, _, version = canonical.partition("|")
    system = _by_value_set().get(url) if found is None else None
    if system is None or version not in ("", system.get("version", "")):
        return found
    include = {"system": system["url"], **({"version": system["version"]}
                                           if "version" in system else {})}
    implicit = {"resourceType": "ValueSet", "url": url, "version": system.get("version"),
                "name": system.get("name"), "status": system.get("status"),
                "compose": {"include": [include]}}
    return {key: value for key, value in implicit.items() if value is not None}


def versions(kind: str, url: str) -> list[str]:
    """The versions of a canonical URL the registry holds."""
    return [r["version"] for r in _by_url(kind).get(url, []) if "version" in r]


def same_language(wanted: str, language: object) -> bool:
    """`vi` matches `vi-VN` and the reverse (BCP 47 primary subtag)."""
    if not isinstance(language, str) or not language:
        return False
    wanted, language = wanted.lower(), language.lower()
    return wanted == language or wanted.split("-")[0] == language.split("-")[0]


def _weight(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def accepted_languages(header: str) -> list[str]:
    """The language tags of an Accept-Language list (`de,de-DE;q=0.8,*;q=0.1`), as written,
    highest weight first (the first listed wins a tie), those with q=0 left out (RFC 9110
    §12.5.4): how `displayLanguage` names several too."""
    weighted = []
    for item in header.split(",")[:32]:  # a header is a few items; never loop on a huge one
        tag, *parameters = item.split(";")
        if tag.strip() and (weight := _weight(parameters)) > 0:
            weighted.append((-weight, tag.strip()))
    return [tag for _, tag in sorted(weighted, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class Concept:
    """One concept of a CodeSystem (http://hl7.org/fhir/R4/codesystem.html#concepts)."""

    code: str
    display: str | None = None
    definition: str | None = None
    designations: tuple[dict, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()  # (property code, value as text)
    # (property code, value[x] name, value) as the CodeSystem gives them: what $lookup returns
    typed_properties: tuple[tuple[str, str, object], ...] = ()
    abstract: bool = False  # notSelectable: not for use in data (abstract=true to allow)
    inactive: bool = False

    def display_in(self, language: str | None, default_language: str | None = None) -> str | None:
        """The display in `language`: the concept's own when the system is in that language
        or has no designation in it, else a designation in it (`display` use first)."""
        if not language or same_language(language, default_language):
            return self.display
        matching = [d for d in self.designations if isinstance(d.get("value"), str)
                    and same_language(language, d.get("language"))]
        matching.sort(key=lambda d: (d.get("language", "").lower() != language.lower(),
                                     (d.get("use") or {}).get("code", "display") != "display"))
        return matching[0]["value"] if matching else self.display

    def in_languages(self, languages: tuple[str, ...] | None,
                     default_language: str | None) -> "Concept":
        """The concept with its displays in `languages` only (None or `*`: all): its
        designations in one (one without a language is in the code system's), and its own
        display where the code system is in one or names no language. With none in them,
        its own display alone: the default one, which tx.fhir.org accepts ("no Display Names
        for the language")."""
        if languages is None or "*" in languages:
            return self

        def wanted(language: object) -> bool:
            return language is None or any(same_language(w, language) for w in languages)
        designations = tuple(d for d in self.designations
                             if wanted(d.get("language", default_language)))
        own = self.display if wanted(default_language) else None
        if own is None and not designations:
            own = self.display
        return Concept(self.code, own, designations=designations)

    def values(self, property_code: str) -> list[str]:
        return [value for code, value in self.properties if code == property_code]


def is_display_of(display: str, own: str | None, designations: tuple[dict, ...]) -> bool:
    """Whether a display is the concept's own or one of its designations (any language),
    case, runs of whitespace and Unicode normalisation aside (`Phường` typed decomposed,
    as macOS keyboards and some sources write it, is the same text)."""
    def normal(text: str) -> str:
        return unicodedata.normalize("NFC", " ".join(text.split()).casefold())
    known = [own or ""] + [str(d.get("value", "")) for d in designations]
    return normal(display) in {normal(text) for text in known}


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _property_value(prop: dict) -> tuple[str, object] | None:
    """The `value[x]` of a concept property: its name and value."""
    for key, value in prop.items():
        if key.startswith("value") and (not isinstance(value, dict | list) or (
                key == "valueCoding" and isinstance(value, dict))):
            return key, value
    return None


def _as_text(value: object) -> str:
    return _text(value.get("code") if isinstance(value, dict) else value)


@dataclass
class CodeSystemIndex:
    """A CodeSystem with its concepts indexed by code and its is-a hierarchy."""

    resource: dict
    concepts: dict[str, Concept] = field(default_factory=dict)
    parents: dict[str, set[str]] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)
    # Property code → the standard property it is (`not-selectable` → `notSelectable`).
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.resource.get("url", "")

    @property
    def version(self) -> str | None:
        return self.resource.get("version")

    @property
    def content(self) -> str:
        return self.resource.get("content", "complete")

    @property
    def language(self) -> str | None:
        return self.resource.get("language")

    def role(self, property_code: str) -> str:
        """The standard property a property code is, or the code itself."""
        return self.roles.get(property_code, property_code)

    def refused_as_system(self) -> str | None:
        """Why codes cannot be of this code system, if it is a supplement: it only adds
        designations and properties to another's concepts (codesystem.html#supplements), as
        tx.fhir.org refuses it (CODESYSTEM_CS_NO_SUPPLEMENT)."""
        if self.content != "supplement":
            return None
        canonical = f"{self.url}|{self.version}" if self.version else self.url
        return (f"CodeSystem {canonical} is a supplement, so can't be used as a value in "
                "Coding.system")

    def find(self, code: str) -> Concept | None:
        """The concept with a code (ignoring case unless the system says it is case
        sensitive: "If this value is missing ... accept codes in any case",
        CodeSystem.caseSensitive)."""
        if code in self.concepts:
            return self.concepts[code]
        if self.resource.get("caseSensitive") is not True:
            return self._by_folded_code.get(code.casefold())
        return None

    @cached_property
    def _by_folded_code(self) -> dict[str, Concept]:
        """Concepts by their code case-folded (the first of codes differing by case only):
        a lookup in any case is one dict access, not a scan of the code system."""
        folded: dict[str, Concept] = {}
        for code, concept in self.concepts.items():
            folded.setdefault(code.casefold(), concept)
        return folded

    def descendants(self, code: str) -> set[str]:
        return _closure(code, self.children)

    def ancestors(self, code: str) -> set[str]:
        return _closure(code, self.parents)

    def subsumes(self, general: str, specific: str) -> bool:
        return general == specific or general in self.ancestors(specific)


def _closure(code: str, edges: dict[str, set[str]]) -> set[str]:
    """Every code reached from `code` along `edges`, cycle-safe, `code` itself excluded."""
    found: set[str] = set()
    pending = list(edges.get(code, ()))
    while pending:
        current = pending.pop()
        if current not in found and current != code:
            found.add(current)
            pending += edges.get(current, ())
    return found


def _property_roles(*resources: dict) -> dict[str, str]:
    """Property code → standard name (`parent`, `child`, `notSelectable`, ...)."""
    roles = {}
    for resource in resources:
        for prop in resource.get("property") or []:
            uri, code = prop.get("uri") or "", prop.get("code")
            if isinstance(code, str):
                standard = uri.removeprefix(_STANDARD_PROPERTIES) if uri.startswith(
                    _STANDARD_PROPERTIES) else code
                roles[code] = "notSelectable" if standard == "abstract" else standard
    return roles


def supplements_of(code_system: dict, candidates: Iterable[dict]) -> list[dict]:
    """The supplements among `candidates` that add to a code system: those whose
    `supplements` names its url, or its url and version (codesystem.html#supplements)."""
    if code_system.get("content") == "supplement":
        return []
    url, version = code_system.get("url"), code_system.get("version")
    wanted = {url, f"{url}|{version}"} if version else {url}
    return [s for s in candidates
            if s.get("content") == "supplement" and s.get("supplements") in wanted]


def _canonical(resource: dict) -> tuple[object, object]:
    return resource.get("url"), resource.get("version")


def index_code_system(code_system: dict, stored: Iterable[dict] = ()) -> CodeSystemIndex:
    """Index a CodeSystem resource (from the registry or from elsewhere, e.g. the database)
    with the supplements held for it: the registry's, and those of `stored` (supplements
    stored through the API; a copy of one of the registry's counts once)."""
    supplements = supplements_of(code_system, registry().all("CodeSystem"))
    held = {_canonical(s) for s in supplements}
    supplements += [s for s in supplements_of(code_system, stored) if _canonical(s) not in held]
    roles = _property_roles(code_system, *supplements)
    extra: dict[str, list[dict]] = {}
    for supplement in supplements:
        pending = list(supplement.get("concept") or [])
        while pending:
            concept = pending.pop()
            if isinstance(concept, dict) and isinstance(concept.get("code"), str):
                extra.setdefault(concept["code"], []).append(concept)
                pending += concept.get("concept") or []
    built = CodeSystemIndex(code_system, roles=roles)
    # Depth first in the order written (a stack, so pushed in reverse): expansions list
    # concepts in their code system's order.
    pending_nested: list[tuple[dict, str | None]] = [
        (c, None) for c in reversed(code_system.get("concept") or [])]
    while pending_nested:
        raw, parent = pending_nested.pop()
        if not isinstance(raw, dict) or not isinstance(raw.get("code"), str):
            continue
        code = raw["code"]
        parts = [raw, *extra.get(code, [])]
        typed = tuple((p["code"], *value) for part in parts
                      for p in part.get("property") or []
                      if isinstance(p, dict) and isinstance(p.get("code"), str)
                      and (value := _property_value(p)) is not None)
        properties = tuple((name, _as_text(value)) for name, _, value in typed)
        by_role = [(built.role(name), value) for name, value in properties]
        built.concepts[code] = Concept(
            code=code,
            display=raw.get("display"),
            definition=raw.get("definition"),
            designations=tuple(d for part in parts for d in part.get("designation") or []
                               if isinstance(d, dict)),
            properties=properties,
            typed_properties=typed,
            abstract=("notSelectable", "true") in by_role,
            inactive=("inactive", "true") in by_role
            or any(role == "status" and value in _INACTIVE_STATUSES for role, value in by_role),
        )
        related = [(parent, code)] if parent else []
        related += [(value, code) for role, value in by_role if role == "parent"]
        related += [(code, value) for role, value in by_role if role == "child"]
        for general, specific in related:
            built.parents.setdefault(specific, set()).add(general)
            built.children.setdefault(general, set()).add(specific)
        pending_nested += [(child, code) for child in reversed(raw.get("concept") or [])]
    return built


@per_registry
def code_system(canonical: str) -> CodeSystemIndex | None:
    """The indexed CodeSystem of a canonical URL (`url|version`), None when not held."""
    found = find("CodeSystem", canonical)
    return None if found is None else index_code_system(found)


@per_registry
def _named_only() -> dict[str, str]:
    """url → name of the code systems the registry knows by a NamingSystem alone (kind
    `codesystem`, a `uri` id, not retired): THO's name LOINC, RxNorm, CPT, ..., of which no
    CodeSystem is held. Not the grammars (UCUM, ...), whose codes are checked by parsing."""
    held = {resource.get("url") for resource in registry().all("CodeSystem")}
    return {unique["value"]: system.get("name") or unique["value"]
            for system in registry().all("NamingSystem")
            if system.get("kind") == "codesystem" and system.get("status") != "retired"
            for unique in system.get("uniqueId") or ()
            if unique.get("type") == "uri" and isinstance(unique.get("value"), str)
            and unique["value"] not in held and unique["value"] not in GRAMMARS}


def named_code_system(url: str) -> CodeSystemIndex | None:
    """A code system known here by name only (`_named_only`), as a CodeSystem with content
    `not-present` ("none of the concepts defined by the code system are included"), as R4
    holds SNOMED CT: its codes are not unknown, they need an external terminology server.
    None for any other."""
    name = _named_only().get(url)
    return None if name is None else _without_codes(url, name)


@per_registry  # keyed by the urls of `_named_only`, not by what clients send
def _without_codes(url: str, name: str) -> CodeSystemIndex:
    return index_code_system({"resourceType": "CodeSystem", "url": url, "name": name,
                              "status": "active", "content": "not-present"})
