"""The ValueSet expansion engine (http://hl7.org/fhir/R4/valueset.html#compositions):
`compose.include`/`exclude` with concept lists, whole code systems, filters and imported
value sets (recursive, cycle-safe), over the CodeSystems of the registry. A ValueSet that
draws on a code system held only outside (SNOMED CT, LOINC, `content: not-present`) cannot be
expanded here: the answer says why, rather than guessing."""

from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property

import re2  # type: ignore[import-untyped]

from fhir_server.conformance.code_systems import (
    CodeSystemIndex,
    Concept,
    find_value_set,
    per_registry,
    versions,
)
from fhir_server.conformance.held_terminology import (
    MAX_IMPORT_DEPTH,
    held_code_system,
    missing_supplements,
    stored_supplements,
    stored_value_set,
)

# The canonical URLs of the ValueSets being expanded in this context, to refuse cycles.
_importing: ContextVar[tuple[str, ...]] = ContextVar("importing", default=())
# The work one expansion may do, in concepts examined (a code system's once per include and
# per filter, each enumerated or imported concept): a POSTed ValueSet of thousands of
# includes would otherwise hold a worker for minutes.
MAX_EXPANSION_WORK = 500_000
_work: ContextVar[list[int] | None] = ContextVar("expansion_work", default=None)
# Regexes of filters come from resources clients may send, and `re` backtracks: `(a?){26}a{26}`
# held the whole server (it keeps the GIL) for seconds, each character more twice as long,
# whatever shapes a check let through. RE2 matches in time linear in the text, and has no
# backreferences nor lookaround to refuse; a pattern stays short.
_MAX_PATTERN = 256


class CannotExpand(Exception):
    """The ValueSet cannot be expanded from what the server holds; the message says why."""

    issue_code = "invalid"  # of the OperationOutcome that refuses it


class TooCostly(CannotExpand):
    """The expansion would take more than MAX_EXPANSION_WORK: the whole of it is refused."""

    issue_code = "too-costly"  # as $expand names it, so that a client degrades gracefully


class NotHeld(CannotExpand):
    """A code system it needs is not held here (in full)."""

    issue_code = "not-supported"


class UnknownImport(CannotExpand):
    """A value set it imports is not known here."""

    issue_code = "not-found"


# Of a ValueSet naming a supplement not held here, as tx.fhir.org refuses it ("Required
# supplements not found").
_MISSING_SUPPLEMENT = "business-rule"


def _spend(concepts: int) -> None:
    spent = _work.get()
    if spent is not None:
        spent[0] += concepts
        if spent[0] > MAX_EXPANSION_WORK:
            raise TooCostly(f"expanding it takes more than {MAX_EXPANSION_WORK:,} concept "
                            "checks, too costly here")


@dataclass(frozen=True)
class ExpandedConcept:
    """One `ValueSet.expansion.contains` (http://hl7.org/fhir/R4/valueset.html#expansion)."""

    system: str
    code: str
    version: str | None = None
    display: str | None = None
    abstract: bool = False
    inactive: bool = False
    designations: tuple[dict, ...] = ()
    language: str | None = None  # of the code system, i.e. of `display`

    def display_in(self, language: str | None) -> str | None:
        concept = Concept(self.code, self.display, designations=self.designations)
        return concept.display_in(language, self.language)


@dataclass(frozen=True)
class Expansion:
    """The concepts of a ValueSet in order, or None and the reason it cannot be expanded."""

    concepts: tuple[ExpandedConcept, ...] | None
    reason: str = ""
    issue_code: str = "invalid"  # of a refusal: as CannotExpand's kinds name it

    @cached_property
    def _by_key(self) -> dict[tuple[str, str], ExpandedConcept]:
        return {(c.system, c.code): c for c in self.concepts or ()}

    def get(self, system: str, code: str) -> ExpandedConcept | None:
        return self._by_key.get((system, code))

    def codes(self) -> dict[str, frozenset[str]]:
        """system → the codes data may use (abstract ones left out)."""
        found: dict[str, set[str]] = {}
        for concept in self.concepts or ():
            if not concept.abstract:
                found.setdefault(concept.system, set()).add(concept.code)
        return {system: frozenset(codes) for system, codes in found.items()}


Selection = dict[tuple[str, str], ExpandedConcept]


def expanded_concept(index: CodeSystemIndex, concept: Concept) -> ExpandedConcept:
    """A concept of a code system as an expansion lists it."""
    return ExpandedConcept(index.url, concept.code, index.version, concept.display,
                           concept.abstract, concept.inactive, concept.designations,
                           index.language)


def _imported(canonical: str) -> Expansion:
    """An imported value set's expansion: the registry's, else one stored through the API.
    Imports nest at most MAX_IMPORT_DEPTH deep (too costly beyond: each level of stored
    ValueSets is one more query, `search.stored_terminology.stored_terminology_drawn_on`)."""
    if len(_importing.get()) > MAX_IMPORT_DEPTH:
        raise TooCostly(f"its imports nest deeper than {MAX_IMPORT_DEPTH} value sets "
                        f"(at {canonical})")
    stored = stored_value_set(canonical)
    if stored is not None and find_value_set(canonical) is None:
        return expand_resource(stored)
    return expansion(canonical)


def _code_system(system: str, version: str | None) -> CodeSystemIndex | None:
    """A code system held here, or None; CannotExpand for a supplement, whose url names no
    code (codesystem.html#supplements)."""
    index = held_code_system(system, version)
    if index is not None and (refusal := index.refused_as_system()) is not None:
        raise CannotExpand(refusal)
    return index


def _held(system: str, version: str | None) -> CodeSystemIndex:
    """A code system held in full, or CannotExpand saying what is missing."""
    index = _code_system(system, version)
    if index is None:
        held = versions("CodeSystem", system)
        if version and held:
            raise NotHeld(f"version {version} of the code system {system} is not held "
                          f"here (held: {', '.join(held)})")
        raise NotHeld(f"the code system {system} is not held here (an external "
                      "terminology server is needed)")
    if index.content != "complete":
        raise NotHeld(f"the code system {system} is held here with content "
                      f"'{index.content}', not all of its codes")
    return index


def _pattern(value: str) -> "re2._Regexp":
    if len(value) > _MAX_PATTERN:
        raise CannotExpand(f"the regex filter '{value[:80]}' is longer than {_MAX_PATTERN} "
                           "characters")
    try:
        return re2.compile(value)
    except re2.error as bad:
        raise CannotExpand(f"the regex filter '{value[:80]}' is invalid or uses what RE2 has "
                           f"not (backreferences, lookaround): {bad}") from None


def _concept_filter(index: CodeSystemIndex, op: str, value: str) -> set[str]:
    """A filter on the concept itself (property `concept` or `code`)."""
    every = set(index.concepts)
    if op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
        if value not in index.concepts:
            # A typo would make the binding silently empty (or everything): tx.fhir.org and
            # HAPI refuse it too.
            raise CannotExpand(f"the filter '{op} {value}' names no code of {index.url}")
        subtree = index.descendants(value) | ({value} if op != "descendent-of" else set())
        if op == "generalizes":
            return index.ancestors(value) | {value}
        return every - subtree if op == "is-not-a" else subtree
    if op in ("=", "in", "not-in"):
        listed = {value} if op == "=" else {part.strip() for part in value.split(",")}
        return every - listed if op == "not-in" else every & listed
    if op == "regex":
        pattern = _pattern(value)
        return {code for code in every if pattern.fullmatch(code)}
    raise CannotExpand(f"the filter op '{op}' does not apply to concepts")


def _property_values(index: CodeSystemIndex, concept: Concept, name: str) -> list[str]:
    if name == "display":
        return [concept.display] if concept.display else []
    found = concept.values(name)
    if name == "inactive" and not found:  # as `$lookup` says it: a retired concept is one
        found = ["true" if concept.inactive else "false"]
    # The hierarchy counts whether it is nested or given by parent/child properties.
    if name == "parent":
        found += sorted(index.parents.get(concept.code, ()))
    elif name == "child":
        found += sorted(index.children.get(concept.code, ()))
    return found


def _property_filter(index: CodeSystemIndex, name: str, op: str, value: str) -> set[str]:
    """A filter on a property of the concepts (http://hl7.org/fhir/R4/valueset.html#filters)."""
    if op == "exists":
        if value not in ("true", "false"):
            raise CannotExpand(f"the 'exists' filter on '{name}' needs true or false")
        want = value == "true"
        return {code for code, concept in index.concepts.items()
                if bool(_property_values(index, concept, name)) == want}
    if op in ("=", "in", "not-in"):
        listed = {value} if op == "=" else {part.strip() for part in value.split(",")}
        matching = {code for code, concept in index.concepts.items()
                    if listed & set(_property_values(index, concept, name))}
        return set(index.concepts) - matching if op == "not-in" else matching
    if op == "regex":
        pattern = _pattern(value)
        return {code for code, concept in index.concepts.items()
                if any(pattern.fullmatch(v) for v in _property_values(index, concept, name))}
    raise CannotExpand(f"the filter op '{op}' is not supported on the property '{name}'")


# Properties every code system has (codesystem-concept-properties.html), and what a filter
# reads of each concept besides its declared properties.
_IMPLICIT_PROPERTIES = frozenset({"display", "parent", "child", "inactive", "deprecated",
                                  "notSelectable", "status", "definition"})


def _known_property(index: CodeSystemIndex, name: str) -> bool:
    """Whether a filter's property is one the code system defines (a property or a filter),
    one every code system has, or one its concepts carry all the same."""
    declared = {entry.get("code") for key in ("property", "filter")
                for entry in index.resource.get(key) or [] if isinstance(entry, dict)}
    return (name in declared or name in _IMPLICIT_PROPERTIES
            or any(concept.values(name) for concept in index.concepts.values()))


def _filtered(index: CodeSystemIndex, filters: list) -> set[str]:
    _spend(len(index.concepts))
    codes = set(index.concepts)
    for rule in filters:
        _spend(len(index.concepts))
        if not isinstance(rule, dict) or not all(
            isinstance(rule.get(key), str) for key in ("property", "op", "value")
        ):
            raise CannotExpand("a filter needs a property, an op and a value")
        name, op, value = rule["property"], rule["op"], rule["value"]
        if name in ("concept", "code"):
            codes &= _concept_filter(index, op, value)
        elif _known_property(index, name):
            codes &= _property_filter(index, name, op, value)
        else:  # ValueSet.compose.include.filter.property: "defined in the code system"
            raise CannotExpand(f"the code system {index.url} defines no property or filter "
                               f"'{name}'")
    return codes


def _listed(system: str, version: str | None, concepts: list) -> Selection:
    """An enumeration: the codes as listed, completed from the code system where held. A
    code a complete code system does not have is no concept (valueset.html#compose: the
    listed codes are "concepts in the code system") and is left out, or a typo in a value
    set would widen its binding."""
    index = _code_system(system, version)
    if index is None and version and (held := versions("CodeSystem", system)):
        # Another version is held: its codes are checked against it ("When a server cannot
        # correctly expand a value set because ... it has the wrong version ... then it
        # SHALL return an error", $expand), as R4's own value sets pin versions of code
        # systems it holds in another (task-code: 3.6.0).
        index = held_code_system(system)
        unknown = [c.get("code") for c in concepts if isinstance(c, dict) and index is not None
                   and index.find(str(c.get("code"))) is None]
        if index is None or unknown:
            raise CannotExpand(f"version {version} of the code system {system} is not held "
                               f"here (held: {', '.join(held)}), and "
                               f"{', '.join(map(str, unknown)) or 'its codes'} cannot be "
                               "checked against it")
    _spend(len(concepts))
    selected: Selection = {}
    for listed in concepts:
        if not isinstance(listed, dict) or not isinstance(listed.get("code"), str):
            raise CannotExpand("an enumerated concept has no code")
        code = listed["code"]
        known = index.find(code) if index is not None else None
        designations = tuple(listed.get("designation") or ())
        if known is not None and index is not None:
            # As the code system writes it (`ap` listed for v2-0164's `AP`): one concept.
            entry = expanded_concept(index, known)
            display = listed.get("display") or entry.display
            selected[(system, known.code)] = ExpandedConcept(
                system, known.code, entry.version, display, entry.abstract, entry.inactive,
                designations + entry.designations, entry.language)
        elif index is None or index.content != "complete":
            selected[(system, code)] = ExpandedConcept(system, code, version,
                                                       listed.get("display"),
                                                       designations=designations)
    return selected


def _system_part(component: dict) -> Selection:
    system, version = component["system"], component.get("version")
    if component.get("concept"):
        return _listed(system, version, component["concept"])
    index = _held(system, version)
    codes = _filtered(index, component.get("filter") or [])
    return {(index.url, code): expanded_concept(index, index.concepts[code])
            for code in index.concepts if code in codes}


def _component(component: object) -> Selection:
    """What one include or exclude selects: its system part and every imported value set
    (http://hl7.org/fhir/R4/valueset-definitions.html#ValueSet.compose.include)."""
    if not isinstance(component, dict):
        raise CannotExpand("an include or exclude is not an object")
    selected = _system_part(component) if isinstance(component.get("system"), str) else None
    for canonical in component.get("valueSet") or []:
        imported = _imported(canonical) if isinstance(canonical, str) else None
        if imported is None or imported.concepts is None:
            reason = imported.reason if imported else "it is not a canonical URL"
            # Not held or not known here, as the import says: not an error of the value set.
            failure = next((kind for kind in (NotHeld, UnknownImport)
                            if imported and imported.issue_code == kind.issue_code), CannotExpand)
            raise failure(f"the imported value set {canonical} cannot be expanded: {reason}")
        _spend(len(imported.concepts))
        keys = {(c.system, c.code): c for c in imported.concepts}
        selected = keys if selected is None else {k: v for k, v in selected.items() if k in keys}
    if selected is None:
        raise CannotExpand("an include or exclude names neither a system nor a value set")
    return selected


def _stored_expansion(value_set: dict) -> tuple[ExpandedConcept, ...]:
    """A complete expansion shipped in the ValueSet (as IG packages do)."""
    expansion_ = value_set.get("expansion")
    if not isinstance(expansion_, dict) or "contains" not in expansion_:
        raise CannotExpand("it has no compose and no expansion")
    found, pending = [], list(expansion_["contains"])
    while pending:
        item = pending.pop(0)
        if isinstance(item, dict) and isinstance(item.get("system"), str) and isinstance(
                item.get("code"), str):
            found.append(ExpandedConcept(item["system"], item["code"], item.get("version"),
                                         item.get("display"), bool(item.get("abstract")),
                                         bool(item.get("inactive")),
                                         tuple(item.get("designation") or ())))
        if isinstance(item, dict):
            pending += item.get("contains") or []
    if expansion_.get("total", len(found)) != len(found) or expansion_.get("offset", 0):
        raise CannotExpand("its stored expansion is only a page of the whole")
    return tuple(found)


def _composed(value_set: dict) -> tuple[ExpandedConcept, ...]:
    compose = value_set.get("compose")
    if not isinstance(compose, dict):
        return _stored_expansion(value_set)
    selected: Selection = {}
    for include in compose.get("include") or []:
        selected.update(_component(include))
    for exclude in compose.get("exclude") or []:
        for key in _component(exclude):
            selected.pop(key, None)
    active_only = compose.get("inactive") is False
    return tuple(c for c in selected.values() if not (active_only and c.inactive))


def expand_resource(value_set: dict) -> Expansion:
    """Expand a ValueSet resource, from the registry or not (a stored or POSTed one); not
    one that names a supplement not held here ("should not be used in its absence")."""
    if missing := missing_supplements(value_set):
        return Expansion(None, f"required supplements not found: {', '.join(missing)}",
                         _MISSING_SUPPLEMENT)
    url = value_set.get("url")
    canonical = f"{url}|{value_set.get('version', '')}" if url else ""
    outer = _importing.get()
    if canonical and canonical in outer:
        return Expansion(None, f"the value set {url} imports itself")
    token = _importing.set((*outer, canonical))
    budget = None if outer else _work.set([0])  # one budget for an expansion and its imports
    try:
        return Expansion(_composed(value_set))
    except TooCostly as refused:
        if outer:
            raise  # the outermost expansion refuses; an import's failure is not cached
        return Expansion(None, str(refused), refused.issue_code)
    except CannotExpand as refused:
        try:
            return Expansion(_stored_expansion(value_set))
        except CannotExpand:
            return Expansion(None, str(refused), refused.issue_code)
    finally:
        _importing.reset(token)
        if budget is not None:
            _work.reset(budget)


def expansion(canonical: str) -> Expansion:
    """The expansion of the ValueSet with a canonical URL (`url|version`) in the registry;
    made anew where supplements stored through the API apply (`using_stored`), kept until
    the registry changes otherwise."""
    return _expanded(canonical) if stored_supplements() else _expanded_once(canonical)


def _expanded(canonical: str) -> Expansion:
    value_set = find_value_set(canonical)
    if value_set is None:
        return Expansion(None, f"the value set {canonical} is not known to this server",
                         UnknownImport.issue_code)
    return expand_resource(value_set)


_expanded_once = per_registry(_expanded)


def decided_by_system(value_set: dict) -> bool:
    """Whether a ValueSet's codes of each code system are decided by its includes and
    excludes of that system alone: it has a compose and imports no value set (which could
    hold any code)."""
    compose = value_set.get("compose")
    return isinstance(compose, dict) and not any(
        not isinstance(part, dict) or part.get("valueSet")
        for kind in ("include", "exclude") for part in compose.get(kind) or [])


def expand_for_system(value_set: dict, system: str) -> Expansion:
    """The codes of one code system a ValueSet holds, where its includes and excludes of that
    system decide them and the whole cannot be expanded here (vaccine-code's SNOMED CT filter
    beside its list of CVX codes). None (with the reason) when those cannot be either."""
    if not decided_by_system(value_set):
        return Expansion(None, "it has no compose, or imports other value sets, which could "
                               "hold any code")
    compose = value_set["compose"]
    own = {kind: [part for part in compose.get(kind) or [] if part.get("system") == system]
           for kind in ("include", "exclude")}
    # With the supplements it names: without them it is not to be used at all.
    return expand_resource({"resourceType": "ValueSet", "compose": {**compose, **own},
                            **({"extension": value_set["extension"]}
                               if "extension" in value_set else {})})
