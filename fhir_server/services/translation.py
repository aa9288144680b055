"""`ConceptMap/$translate` (http://hl7.org/fhir/R4/conceptmap-operation-translate.html): the
matches of a code in one ConceptMap (by `url`, instance or a `conceptMap` resource) or in
every ConceptMap of the registry and those stored through the API that map the code's system
(`stored_concept_maps`), narrowed by `source`/`target` value sets and
`targetsystem`; `reverse` maps from target to source. A code a group does not map follows
the group's `unmapped` rule (http://hl7.org/fhir/R4/conceptmap.html#unmapped). A target that
`dependsOn` other elements applies only when the `dependency` parameters give them those
values; its `product`s are part of its match."""

from fhir_server.conformance.code_systems import find
from fhir_server.conformance.definitions import registry
from fhir_server.conformance.json_format import canonical_json
from fhir_server.errors import BadRequest, NotFound
from fhir_server.services.terminology_input import TerminologyInput

# Read from target to source, a narrower target is a wider source (and so on).
_REVERSED = {"wider": "narrower", "narrower": "wider", "subsumes": "specializes",
             "specializes": "subsumes"}
_NO_MATCH = frozenset({"unmatched", "disjoint"})
# `unmapped` (R4 gives no equivalence): the code itself is the same concept; a fixed
# fallback code only overlaps it.
_UNMAPPED_EQUIVALENCE = {"provided": "equal", "fixed": "inexact"}
Dependencies = frozenset[tuple[str, str | None, str]]  # (element, system, code) given


def _codings(given: TerminologyInput) -> list[dict]:
    code, coding, concept = given.one_coded(" (with 'system')")
    codings = ([{"system": given.one("system"), "code": code, "version": given.one("version")}]
               if code is not None else [coding] if coding else (concept or {}).get("coding", []))
    if not all(c.get("system") for c in codings):
        raise BadRequest("$translate needs the system of the code to translate",
                         expression="system")
    return codings


def _canonical(resource: dict, side: str) -> str | None:
    value = resource.get(f"{side}Uri") or resource.get(f"{side}Canonical")
    return value.split("|")[0] if isinstance(value, str) else None


def names_one_map(given: TerminologyInput, instance: dict | None) -> bool:
    """Whether the invocation names the ConceptMap to use (else every one applies)."""
    return bool(instance or given.resource("conceptMap", "ConceptMap") or given.one("url"))


def other_maps(concept_maps: list[dict]) -> list[str]:
    """The canonical URLs the `other-map` rules of these ConceptMaps name, that the server's
    own do not hold (http://hl7.org/fhir/R4/conceptmap.html#unmapped)."""
    return sorted({rule["url"] for concept_map in concept_maps
                   for group in concept_map.get("group") or [] if isinstance(group, dict)
                   if isinstance(rule := group.get("unmapped"), dict)
                   and rule.get("mode") == "other-map" and isinstance(rule.get("url"), str)
                   and find("ConceptMap", rule["url"]) is None})


def coded_systems(given: TerminologyInput) -> list[str]:
    """The systems of the codes to translate."""
    return sorted({coding["system"] for coding in _codings(given)})


def _concept_maps(given: TerminologyInput, instance: dict | None,
                  stored: list[dict]) -> list[dict]:
    """The ConceptMaps to use (the one named, or all); with `source`/`target` only those
    between those value sets, also when one is named: a map into another value set has no
    translation into the one asked for."""
    named = instance or given.resource("conceptMap", "ConceptMap")
    url = given.one("url")
    if named is not None:
        maps = [named]
    elif url:
        version = given.one("conceptMapVersion")
        found = find("ConceptMap", f"{url}|{version}" if version else url)
        if found is None:
            raise NotFound(f"ConceptMap {url} is not known to this server")
        maps = [found]
    else:
        maps = [*registry().all("ConceptMap"), *stored]
    source, target = given.one("source"), given.one("target")
    if given.flag("reverse"):
        source, target = target, source
    return [m for m in maps
            if (not source or _canonical(m, "source") == source.split("|")[0])
            and (not target or _canonical(m, "target") == target.split("|")[0])]


def _match(equivalence: str, system: str | None, version: str | None, code: str | None,
           display: str | None, source: str | None) -> dict:
    parts: list[dict] = [{"name": "equivalence", "valueCode": equivalence}]
    if code:
        coding = {"system": system, "version": version, "code": code, "display": display}
        parts.append({"name": "concept",
                      "valueCoding": {k: v for k, v in coding.items() if v}})
    if source:
        parts.append({"name": "source", "valueUri": source})
    return {"name": "match", "part": parts}


class _GroupIndex:
    """The elements of each group by source code and by target code, built once per
    invocation: looking each code up by scanning every element made a large ConceptMap
    and a CodeableConcept of many codings quadratic."""

    def __init__(self, stored: list[dict]) -> None:
        self._by_source: dict[int, dict[str, list[dict]]] = {}
        self._by_target: dict[int, dict[str, list[tuple[dict, dict]]]] = {}
        # ConceptMaps stored through the API by url, the most recent of each, for `other-map`.
        self.stored: dict[str, dict] = {}
        # The matches of a code in a map an `other-map` rule names, once per invocation: maps
        # naming each other group by group made the paths through them grow as groups^maps
        # (five maps of 25 groups held the server 3.7 s).
        self.followed: dict[tuple[str, str, str, str | None], list[dict]] = {}
        for concept_map in stored:
            self.stored.setdefault(str(concept_map.get("url")), concept_map)

    def sources(self, group: dict, code: str) -> list[dict]:
        found = self._by_source.get(id(group))
        if found is None:
            found = self._by_source[id(group)] = {}
            for element in _elements(group):
                if isinstance(element.get("code"), str):
                    found.setdefault(element["code"], []).append(element)
        return found.get(code, [])

    def targets(self, group: dict, code: str) -> list[tuple[dict, dict]]:
        """(element, target) of each target with that code."""
        found = self._by_target.get(id(group))
        if found is None:
            found = self._by_target[id(group)] = {}
            for element in _elements(group):
                for target in element.get("target") or []:
                    if isinstance(target.get("code"), str):
                        found.setdefault(target["code"], []).append((element, target))
        return found.get(code, [])


def _elements(group: dict) -> list[dict]:
    return [e for e in group.get("element") or [] if isinstance(e, dict)]


def _unmapped(group: dict, code: str, source: str | None, seen: set[str],
              target_system: str | None, index: _GroupIndex,
              dependencies: Dependencies) -> list[dict]:
    """The matches of a code the group has no element for
    (http://hl7.org/fhir/R4/conceptmap-definitions.html#ConceptMap.group.unmapped)."""
    rule = group.get("unmapped")
    if not isinstance(rule, dict):
        return []
    mode, target = rule.get("mode"), group.get("target")
    if mode == "provided":
        return [_match(_UNMAPPED_EQUIVALENCE["provided"], target, group.get("targetVersion"),
                       code, None, source)]
    if mode == "fixed" and rule.get("code"):
        return [_match(_UNMAPPED_EQUIVALENCE["fixed"], target, group.get("targetVersion"),
                       rule["code"], rule.get("display"), source)]
    url = rule.get("url") if mode == "other-map" else None
    other = (find("ConceptMap", url) or index.stored.get(url)) if isinstance(url, str) else None
    if other is None:
        return []
    key = (str(url), str(group.get("source")), code, target_system)
    if key not in index.followed:
        index.followed[key] = []  # a map reached again through itself adds nothing
        index.followed[key] = _forward(other, {"system": group.get("source"), "code": code},
                                       target_system, seen, index, dependencies)
    return index.followed[key]


def _dependencies(given: TerminologyInput) -> Dependencies:
    """The `dependency` parameters: (element, system, code) of each coding of each."""
    found = set()
    for dependency in given.complex.get("dependency", []):
        parts = {part.get("name"): part for part in dependency.get("part") or []
                 if isinstance(part, dict)}
        element = parts.get("element", {}).get("valueUri")
        concept = parts.get("concept", {}).get("valueCodeableConcept")
        codings = concept.get("coding") if isinstance(concept, dict) else None
        if not isinstance(element, str) or not isinstance(codings, list) or not all(
                isinstance(c, dict) and isinstance(c.get("code"), str) for c in codings):
            raise BadRequest("A dependency has an element (valueUri) and a concept "
                             "(valueCodeableConcept with coded codings)",
                             expression="dependency")
        found |= {(element, coding.get("system"), coding["code"]) for coding in codings}
    return frozenset(found)


def _applies(target: dict, dependencies: Dependencies) -> bool:
    """ConceptMap.group.element.target.dependsOn: "This mapping is only applicable if the
    specified element can be resolved, and it has the specified value"."""
    return all((d.get("property"), d.get("system"), d.get("value")) in dependencies
               or (d.get("property"), None, d.get("value")) in dependencies
               for d in target.get("dependsOn") or [] if isinstance(d, dict))


def _products(target: dict) -> list[dict]:
    """The match's `product` parts: the other elements the mapping sets."""
    return [{"name": "product", "part": [
        {"name": "element", "valueUri": product.get("property")},
        {"name": "concept", "valueCoding": {k: v for k, v in (
            ("system", product.get("system")), ("code", product.get("value")),
            ("display", product.get("display"))) if v}}]}
        for product in target.get("product") or [] if isinstance(product, dict)]


def _forward(concept_map: dict, coding: dict, target_system: str | None,
             seen: set[str], index: _GroupIndex, dependencies: Dependencies) -> list[dict]:
    """Source → target matches of one ConceptMap (its `other-map`s followed once each)."""
    url = concept_map.get("url")
    if url in seen:
        return []
    seen = seen | {url} if url else seen
    matches = []
    for group in concept_map.get("group") or []:
        if (group.get("source") != coding["system"]
                or (target_system and group.get("target") != target_system)
                or (coding.get("version") and group.get("sourceVersion")
                    not in (None, coding["version"]))):
            continue
        elements = index.sources(group, coding["code"])
        for element in elements:
            for target in element.get("target") or []:
                if not _applies(target, dependencies):
                    continue
                match = _match(target.get("equivalence", "equivalent"), group.get("target"),
                               group.get("targetVersion"), target.get("code"),
                               target.get("display"), url)
                match["part"] += _products(target)
                matches.append(match)
        if not elements:
            matches += _unmapped(group, coding["code"], url, seen, target_system, index,
                                 dependencies)
    return matches


def _backward(concept_map: dict, coding: dict, target_system: str | None,
              index: _GroupIndex) -> list[dict]:
    """Target → source matches of one ConceptMap (`reverse=true`)."""
    matches = []
    for group in concept_map.get("group") or []:
        if (group.get("target") != coding["system"]
                or (target_system and group.get("source") != target_system)):
            continue
        for element, target in index.targets(group, coding["code"]):
            equivalence = target.get("equivalence", "equivalent")
            matches.append(_match(_REVERSED.get(equivalence, equivalence),
                                  group.get("source"), group.get("sourceVersion"),
                                  element.get("code"), element.get("display"),
                                  concept_map.get("url")))
    return matches


def translate(given: TerminologyInput, instance: dict | None = None,
              stored: list[dict] | None = None) -> dict:
    """Parameters `result` (a match other than unmatched/disjoint), `message`, `match`;
    `stored`: ConceptMaps stored through the API to search besides the registry's."""
    codings = _codings(given)
    reverse, target_system = given.flag("reverse"), given.one("targetsystem")
    matches: list[dict] = []
    shown: set[bytes] = set()  # each match once (a list lookup made many matches quadratic)
    index, dependencies = _GroupIndex(stored or []), _dependencies(given)
    for concept_map in _concept_maps(given, instance, stored or []):
        for coding in codings:
            found = (_backward(concept_map, coding, target_system, index) if reverse
                     else _forward(concept_map, coding, target_system, set(), index,
                                   dependencies))
            for match in found:
                key = canonical_json(match)
                if key not in shown:
                    shown.add(key)
                    matches.append(match)
    result = any(m["part"][0]["valueCode"] not in _NO_MATCH for m in matches)
    parameters: list[dict] = [{"name": "result", "valueBoolean": result}]
    if not result:
        asked = ", ".join(f"{c['system']}|{c['code']}" for c in codings)
        parameters.append({"name": "message", "valueString":
                           f"No mapping found for {asked}" if not matches else
                           f"{asked} has only unmatched or disjoint mappings"})
    return {"resourceType": "Parameters", "parameter": parameters + matches}
