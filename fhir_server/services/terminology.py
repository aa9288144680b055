"""Terminology operations on the CodeSystems and ValueSets of the registry (or one stored in
the database: at instance level, or by a canonical URL the registry does not hold):
`CodeSystem/$lookup` (http://hl7.org/fhir/R4/codesystem-operation-lookup.html) and
`ValueSet/$expand`
(http://hl7.org/fhir/R4/valueset-operation-expand.html); the ValueSet and CodeSystem an
invocation names, for these and `$validate-code` (`code_validation.py`)."""

from datetime import UTC, datetime

from fhir_server.conformance.code_systems import (
    CodeSystemIndex,
    code_system,
    find,
    find_value_set,
    versions,
)
from fhir_server.conformance.expansion import (
    ExpandedConcept,
    Expansion,
    expand_resource,
    expansion,
)
from fhir_server.conformance.grammar_systems import BCP_47, grammar_code
from fhir_server.conformance.grammar_systems import NAMES as GRAMMARS
from fhir_server.conformance.held_terminology import held_code_system, index_held
from fhir_server.errors import BadRequest, Issue, NotFound, NotSupported
from fhir_server.search.types.date import parse_date_parameter
from fhir_server.search.types.string import fold
from fhir_server.services.terminology_input import TerminologyInput
from fhir_server.services.versions import format_instant
from fhir_server.storage.resources import WITHOUT_INDEX, ResourceStore

# Codes one expansion lists at most without `count` (a client pages with `offset`).
MAX_EXPANSION = 1000
# Stored versions of one canonical URL looked at, the last stored first.
_MAX_STORED = 20
# Stored ConceptMaps from (or to) one code system a `$translate` without `url` looks at.
_MAX_STORED_MAPS = 100


def _versioned(url: str, version: str | None) -> str:
    """`url|version`; a URL naming its version already must name the same one (400)."""
    if not version:
        return url
    _, bar, named = url.partition("|")
    if bar and named != version:
        raise BadRequest(f"{url} names version {named}, and the version parameter {version}")
    return url if bar else f"{url}|{version}"


def held(kind: str, canonical: str) -> bool:
    """Whether the registry holds the ValueSet, CodeSystem or ConceptMap of a canonical."""
    return (find_value_set(canonical) if kind == "ValueSet" else find(kind, canonical)) is not None


async def stored_terminology(store: ResourceStore, kind: str, url: str,
                             version: str | None) -> dict | None:
    """The ValueSet, CodeSystem or ConceptMap of a canonical URL (and version) stored through
    the API, the last stored."""
    stored = await store.find(kind, {"search.url": url}, _MAX_STORED, WITHOUT_INDEX,
                              [("lastUpdated", -1), ("_id", 1)])
    return next((record.resource for record in stored if record.resource is not None
                 and record.resource.get("url") == url
                 and version in (None, record.resource.get("version"))), None)


async def stored_concept_maps(store: ResourceStore, systems: list[str],
                              reverse: bool) -> list[dict]:
    """The ConceptMaps stored through the API with a group from one of `systems` (to one of
    them, `reverse`): what `$translate` without a `url` searches besides the server's own.
    The most recently stored first, at most _MAX_STORED_MAPS."""
    field = "search.target-system" if reverse else "search.source-system"
    stored = await store.find("ConceptMap", {field: {"$in": systems}}, _MAX_STORED_MAPS,
                              WITHOUT_INDEX, [("lastUpdated", -1), ("_id", 1)])
    return [record.resource for record in stored if record.resource is not None]


def value_set_expansion(given: TerminologyInput, instance: dict | None,
                        operation: str) -> tuple[dict, Expansion]:
    """The ValueSet an invocation names (the instance, a `valueSet` resource or `url` with
    `valueSetVersion`) and its expansion; 400 without one, 404 for an unknown URL."""
    moment = _date(given)
    value_set = instance or given.resource("valueSet", "ValueSet")
    if value_set is not None:
        return value_set, expand_resource(value_set)
    url = given.one("url")
    if not url:
        raise BadRequest(f"{operation} needs the 'url' of a ValueSet (or a 'valueSet')",
                         expression="url")
    canonical = _versioned(url, given.one("valueSetVersion") or _version_on(url, moment))
    found = find_value_set(canonical)
    if found is None and (system := _implicitly_of(url)) is not None:
        raise NotSupported(f"ValueSet {url} is one {system} defines implicitly (all its codes, or "
                           "those under a concept), and this server holds that code system "
                           "without its codes", expression="url")
    if found is None:
        raise NotFound(f"ValueSet {canonical} is not known to this server")
    return found, expansion(canonical)


def _implicitly_of(url: str) -> str | None:
    """The code system whose implicit value set the URL names (loinc.html#implicit,
    snomedct.html#implicit: `http://loinc.org/vs`, `http://snomed.info/sct?fhir_vs=isa/...`)."""
    if url == "http://loinc.org/vs" or url.startswith("http://loinc.org/vs/"):
        return "http://loinc.org"
    if url.startswith("http://snomed.info/sct") and "?fhir_vs" in url:
        return "http://snomed.info/sct"
    return None


def _date(given: TerminologyInput) -> datetime | None:
    """The start of `date` ($expand, $validate-code), if given; 400 if it is no dateTime."""
    when = given.one("date")
    try:
        return None if when is None else parse_date_parameter(when).low
    except ValueError as bad:
        raise BadRequest(f"Invalid date: {bad}", expression="date") from None


def _version_on(url: str, moment: datetime | None) -> str | None:
    """The version of a ValueSet in force at `moment`: of the held versions with a `date`,
    the last one published by then, else the earliest (the oldest definition known here).
    None without a moment, or with one version only."""
    if moment is None:
        return None
    dated = sorted((parse_date_parameter(found["date"]).low, version)
                   for version in versions("ValueSet", url)
                   if isinstance((found := find("ValueSet", f"{url}|{version}")), dict)
                   and isinstance(found.get("date"), str))
    if len(dated) < 2:
        return None
    published = [version for date, version in dated if date <= moment]
    return published[-1] if published else dated[0][1]


def expanded(value_set: dict, result: Expansion) -> tuple[ExpandedConcept, ...]:
    """The concepts of an expansion, or 400 saying why it cannot be made here."""
    if result.concepts is None:
        message = (f"ValueSet {value_set.get('url', '(without url)')} cannot be expanded "
                   f"here: {result.reason}")
        # too-costly as $expand names it, not-supported for what is not held here.
        raise BadRequest(message, issues=[Issue(message, result.issue_code)])
    return result.concepts


# How each operation names its code system (CodeSystem/$validate-code has no `system`;
# $lookup refuses a request without one before it looks).
_NAMED_BY = {"$subsumes": "'system', or codings with one",
             "$validate-code": "'url', or a coding with a system"}


def code_system_index(given: TerminologyInput, instance: dict | None, system: str | None,
                      version: str | None, operation: str) -> CodeSystemIndex:
    """The CodeSystem an invocation names (the instance, a `codeSystem` resource, or
    `system`/`url` with `version`), with its supplements; 400 without one, 404 for an
    unknown one."""
    resource = instance or given.resource("codeSystem", "CodeSystem")
    if resource is not None:
        return index_held(resource)
    if not system:
        raise BadRequest(f"{operation} needs the code system: {_NAMED_BY[operation]}")
    found = held_code_system(_versioned(system, version))
    if found is None:
        raise NotFound(f"CodeSystem {_versioned(system, version)} is not known to this server")
    return found


def _codes_of(index: CodeSystemIndex) -> CodeSystemIndex:
    """The code system, if codes can be of it: 400 for a supplement (whose concepts are
    another code system's)."""
    if (refusal := index.refused_as_system()) is not None:
        raise BadRequest(refusal)
    return index


def unknown_code(index: CodeSystemIndex, code: str) -> str:
    """Why a code is not found in a code system: unknown, or not held here (SNOMED CT is held
    with content `not-present`: its codes exist, just not here)."""
    if index.content == "complete":
        return f"Unknown code '{code}' in the code system {index.url}"
    return (f"The code '{code}' cannot be checked here: the code system {index.url} is held "
            f"with content '{index.content}', not all of its codes")


def _code_not_found(index: CodeSystemIndex, code: str) -> BadRequest | NotFound:
    """404 for a code a code system held in full lacks; 400 not-supported for one whose
    codes are not all held here, as $validate-code and $expand answer."""
    message = unknown_code(index, code)
    return NotFound(message) if index.content == "complete" else NotSupported(message)


def lookup(given: TerminologyInput, instance: dict | None = None) -> dict:
    """The name and version of the code system (`instance`: one stored here), and the
    display, designations and properties of a code (`system` and `code`, or `coding`)."""
    given.at_most_one_of("code", "coding")
    coding = given.coding() or {}
    system, code = given.one("system") or coding.get("system"), given.one("code") or coding.get(
        "code")
    if not system or not code:
        raise BadRequest("$lookup needs 'system' and 'code', or a 'coding' with both")
    if (instance is None and system in GRAMMARS and given.resource("codeSystem", "CodeSystem")
            is None and code_system(system) is None):
        # A grammar: the code is one when it parses, shown as itself.
        if not grammar_code(system, code):
            raise NotFound(f"'{code}' is not a valid code of {GRAMMARS[system]} ({system})")
        return {"resourceType": "Parameters", "parameter": [
            {"name": "name", "valueString": GRAMMARS[system]},
            {"name": "display", "valueString": code}]}
    index = _codes_of(code_system_index(given, instance, system,
                                        given.one("version") or coding.get("version"),
                                        "$lookup"))
    concept = index.find(code)
    if concept is None:
        raise _code_not_found(index, code)
    parameters = [{"name": "name", "valueString": index.resource.get("name", system)}]
    if index.version:
        parameters.append({"name": "version", "valueString": index.version})
    # `display` is 1..1 (OperationDefinition CodeSystem-lookup): a concept without one is
    # shown by its code, as tx.fhir.org does.
    display = concept.display_in(given.one("displayLanguage"), index.language) or concept.code
    parameters.append({"name": "display", "valueString": display})
    for designation in concept.designations:
        parts = [{"name": "language", "valueCode": designation["language"]}
                 ] if "language" in designation else []
        if isinstance(designation.get("use"), dict):
            parts.append({"name": "use", "valueCoding": designation["use"]})
        parts.append({"name": "value", "valueString": str(designation.get("value", ""))})
        parameters.append({"name": "designation", "part": parts})
    wanted = {value for key, value in given.pairs if key == "property"}
    if "*" in wanted:  # "all properties", as the HL7 validator and tx.fhir.org ask
        wanted = set()
    # Values keep the type the CodeSystem gives them; the hierarchy is of codes.
    # The code's definition is a property all code systems have (CodeSystem-lookup).
    # So is `inactive` (codesystem-concept-properties.html).
    hierarchy: list[tuple[str, str, object]] = [
        ("inactive", "valueBoolean", concept.inactive)]
    if concept.definition:
        hierarchy.insert(0, ("definition", "valueString", concept.definition))
    hierarchy += [("parent", "valueCode", p) for p in sorted(index.parents.get(concept.code, ()))]
    hierarchy += [("child", "valueCode", c) for c in sorted(index.children.get(concept.code, ()))]
    shown: list[tuple[str, str, object]] = []
    for name, kind, value in [*concept.typed_properties, *hierarchy]:
        if (not wanted or name in wanted) and (name, kind, value) not in shown:
            shown.append((name, kind, value))
            parameters.append({"name": "property", "part": [
                {"name": "code", "valueCode": name}, {"name": "value", kind: value}]})
    return {"resourceType": "Parameters", "parameter": parameters}


def subsumes(given: TerminologyInput, instance: dict | None) -> dict:
    """How code A relates to code B in one code system's hierarchy (`codeA`/`codeB` with
    `system`, or `codingA`/`codingB`): equivalent, subsumes, subsumed-by or not-subsumed."""
    given.at_most_one_of("codeA", "codingA")
    given.at_most_one_of("codeB", "codingB")
    codings = [given.coding(name) or {} for name in ("codingA", "codingB")]
    codes = [given.one(name) or coding.get("code") for name, coding in zip(
        ("codeA", "codeB"), codings, strict=True)]
    systems = {coding["system"] for coding in codings if "system" in coding}
    system = given.one("system") or (instance or {}).get("url") or next(iter(systems), None)
    code_a, code_b = codes
    if not isinstance(code_a, str) or not isinstance(code_b, str):
        raise BadRequest("$subsumes needs codeA and codeB, or codingA and codingB")
    if systems - {system}:
        raise BadRequest("$subsumes compares codes of one code system: codingA and codingB "
                         f"name {', '.join(sorted(systems))}")
    version = given.one("version") or next(
        (coding["version"] for coding in codings if coding.get("version")), None)
    index = _codes_of(code_system_index(given, instance, system, version, "$subsumes"))
    a, b = index.find(code_a), index.find(code_b)
    if a is None or b is None:
        raise _code_not_found(index, code_a if a is None else code_b)
    # Only an is-a hierarchy (or none said) is subsumption: `grouped-by`, `part-of` and
    # `classified-with` nest concepts with "no particular relationship" of that kind.
    is_a = index.resource.get("hierarchyMeaning", "is-a") == "is-a"
    outcome = ("equivalent" if a.code == b.code
               else "subsumes" if is_a and index.subsumes(a.code, b.code)
               else "subsumed-by" if is_a and index.subsumes(b.code, a.code) else "not-subsumed")
    return {"resourceType": "Parameters", "parameter": [{"name": "outcome", "valueCode": outcome}]}


def _designated(designation: dict, wanted: list[str]) -> bool:
    """Whether a designation is one `designation` asks for (none asked: every one): a
    `urn:ietf:bcp:47|vi` (or bare `vi`) names its language, any other `system|code` its use."""
    if not wanted:
        return True
    use = designation.get("use")
    use = use if isinstance(use, dict) else {}
    for token in wanted:
        system, _, code = token.rpartition("|")
        if system in ("", BCP_47) and designation.get("language") == code:
            return True
        if system != BCP_47 and use.get("code") == code and system in ("", use.get("system")):
            return True
    return False


def _contains(concept: ExpandedConcept, language: str | None, designations: bool,
              wanted: list[str]) -> dict:
    entry: dict = {"system": concept.system}
    if concept.version:
        entry["version"] = concept.version
    entry["code"] = concept.code
    display = concept.display_in(language)
    if display:
        entry["display"] = display
    if concept.abstract:
        entry["abstract"] = True
    if concept.inactive:
        entry["inactive"] = True
    if designations and (chosen := [d for d in concept.designations if _designated(d, wanted)]):
        entry["designation"] = chosen
    return entry


_SYSTEM_VERSION_PARAMETERS = ("exclude-system", "system-version", "check-system-version",
                              "force-system-version")


def _system_versions(given: TerminologyInput, name: str) -> list[tuple[str, str]]:
    """(system, version) of each `name` parameter (`system|version`)."""
    return [(system, version) for key, value in given.pairs if key == name
            for system, _, version in [value.partition("|")]]


def _versions_applied(given: TerminologyInput, value_set: dict, result: Expansion
                      ) -> Expansion:
    """$expand's code system versions: `check-system-version` is an error where the value set
    names another version; `system-version` is the version of a system it names without
    one, `force-system-version` of every include of the system."""
    compose = value_set.get("compose")
    parts = [component for part in ("include", "exclude")
             for component in (compose or {}).get(part) or () if isinstance(component, dict)]
    for system, version in _system_versions(given, "check-system-version"):
        named = {named for c in parts if c.get("system") == system
                 and isinstance(named := c.get("version"), str)}
        if named - {version}:
            raise BadRequest(f"check-system-version: the value set names version "
                             f"{', '.join(sorted(named))} of {system}, not {version}",
                             expression="check-system-version")
    chosen = {system: version for system, version in _system_versions(given, "system-version")}
    forced = dict(_system_versions(given, "force-system-version"))
    for system, version in {**chosen, **forced}.items():
        if held_code_system(system, version) is None:
            raise BadRequest(f"version {version} of the code system {system} is not held here",
                             expression="system-version")
    changed = [_with_version(component, chosen, forced) for component in parts]
    if changed == parts:
        return result
    includes = changed[:len((compose or {}).get("include") or ())]
    excludes = changed[len(includes):]
    return expand_resource({**value_set, "compose": {**(compose or {}), "include": includes,
                                                     **({"exclude": excludes} if excludes
                                                        else {})}})


def _with_version(component: dict, chosen: dict[str, str], forced: dict[str, str]) -> dict:
    system = component.get("system")
    if not isinstance(system, str):
        return component
    version = forced.get(system) or component.get("version") or chosen.get(system)
    return {**component, "version": version} if version else component


def _excluding_systems(given: TerminologyInput, concepts: tuple[ExpandedConcept, ...]
                       ) -> tuple[ExpandedConcept, ...]:
    """`exclude-system`: the concepts of that system (that version) left out."""
    excluded = _system_versions(given, "exclude-system")
    return tuple(c for c in concepts if not any(
        c.system == system and version in ("", c.version) for system, version in excluded))


def expand_value_set(given: TerminologyInput, instance: dict | None = None) -> dict:
    """The ValueSet expanded, narrowed by `filter` (code or display, folded as string search
    folds Vietnamese: accents and case ignored), `activeOnly` and `exclude-system`, displays in
    `displayLanguage`, paged by `offset` and `count`."""
    given.at_most_one_of("url", "valueSet")
    value_set, result = value_set_expansion(given, instance, "$expand")
    result = _versions_applied(given, value_set, result)
    concepts = _excluding_systems(given, expanded(value_set, result))
    language = given.one("displayLanguage")
    asked = [value for name, value in given.pairs if name == "designation"]
    active_only = given.flag("activeOnly")
    # For a user interface: no abstract (not selectable) codes, those for grouping only.
    for_ui = given.flag("excludeNotForUI")
    designations = given.flag("includeDesignations") or bool(asked)
    wanted = fold(given.one("filter") or "")
    contains = []
    # In the order of the compose and of the code systems ("Typically, the order of an
    # expansion follows that defined in the compose element": answer lists keep theirs).
    for concept in concepts:
        display = concept.display_in(language)
        if (active_only and concept.inactive) or (for_ui and concept.abstract) or not (
                wanted in fold(concept.code) or (display and wanted in fold(display))):
            continue
        contains.append(_contains(concept, language, designations, asked))
    offset = given.number("offset", 0)
    count = given.number("count", MAX_EXPANSION)
    expansion_: dict = {
        "timestamp": format_instant(datetime.now(UTC)),
        "total": len(contains),
        "offset": offset,
    }
    # "SHOULD include all of the parameters that affect the $expand operation", and the
    # version of each code system with one (a SHALL): ValueSet.expansion.parameter.
    used: list[dict] = [{"name": "version", "valueUri": uri} for uri in sorted(
        {f"{c.system}|{c.version}" for c in concepts if c.version})]
    used += [{"name": "date", "valueDateTime": date} for date in [given.one("date")] if date]
    used += [{"name": "displayLanguage", "valueCode": language}] if language else []
    used += [{"name": "activeOnly", "valueBoolean": True}] if active_only else []
    used += [{"name": "excludeNotForUI", "valueBoolean": True}] if for_ui else []
    used += [{"name": "includeDesignations", "valueBoolean": True}] if designations else []
    used += [{"name": "designation", "valueString": token} for token in asked]
    # With the value set's definition (compose, ...) besides the expansion.
    include_definition = given.flag("includeDefinition")
    used += [{"name": "includeDefinition", "valueBoolean": True}] if include_definition else []
    used += [{"name": "filter", "valueString": given.one("filter")}] if wanted else []
    used += [{"name": name, "valueUri": value} for name, value in given.pairs
             if name in _SYSTEM_VERSION_PARAMETERS]
    # The page as served: a `count` beyond MAX_EXPANSION, or none on a larger value set, is
    # served as MAX_EXPANSION codes, which the parameters say (the client pages on).
    count = min(count, MAX_EXPANSION)
    if (given.one("count") is not None or given.one("offset") is not None
            or len(contains) > offset + count):
        used += [{"name": "offset", "valueInteger": offset},
                 {"name": "count", "valueInteger": count}]
    if used:
        expansion_["parameter"] = used
    page = contains[offset : offset + count]
    if page:  # FHIR JSON has no empty arrays (http://hl7.org/fhir/R4/json.html)
        expansion_["contains"] = page
    if include_definition:
        kept = {k: v for k, v in value_set.items() if k not in ("resourceType", "expansion")}
    else:
        kept = {k: value_set[k] for k in ("url", "version", "name", "status") if k in value_set}
    return {"resourceType": "ValueSet", **kept, "expansion": expansion_}
