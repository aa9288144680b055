"""`Patient/$match` (http://hl7.org/fhir/R4/patient-operation-match.html): the stored
patients who may be the one described, graded `certain`, `probable` or `possible`, best first.

Candidates are those sharing an identifier, or a family name or phone number with the same
birth date. A shared identifier (as a search finds it: a system the two VN Core guides
alias, a BHYT card's holder number) is certain, unless the birth date or gender contradicts
it (possible then: a mistyped number may be another person's). Otherwise the demographics
are weighed, names compared without case or accents (`Nguyễn` is `nguyen`): family name
0.3, the personal name 0.2 (the last word of the given names, the Vietnamese tên: middle
names such as Văn and Thị tell little; a different one takes 0.2 off), birth date 0.3 (0.1
when one is less precise and agrees), gender 0.1, phone 0.1; probable from 0.8, possible
from 0.5. A different birth date, gender (`unknown` is none) or personal ID number (CCCD)
rules a candidate out (identifiers marked `old`, or whose period has ended, count for
neither), and so does a `link` `replaced-by` another (a merged record).
A name given as `text` alone is read both ways, family name first (Kinh: `Trần Thị Hồng
Nhung`) and last (Ê-đê, Jrai and others: `H'Hen Niê`); the better reading counts.
"""

import re
from dataclasses import dataclass
from functools import partial

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.identifier_systems import canonical_system
from fhir_server.conformance.identifiers import CCCD_SYSTEM
from fhir_server.conformance.validation import validate_resource
from fhir_server.errors import BadRequest
from fhir_server.search.compiler import Compiler
from fhir_server.search.index import parameter_entries
from fhir_server.search.types.string import fold
from fhir_server.services.access import require_search
from fhir_server.services.bundle_assembly import searchset_bundle
from fhir_server.services.held_identifiers import held_now
from fhir_server.services.parameters import positive_integer
from fhir_server.services.replaced_patients import current
from fhir_server.services.search_warnings import warning_entry
from fhir_server.services.versions import Version
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import WITHOUT_INDEX, ResourceStore

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
# Candidates looked at for one request; the best `count` of them are answered.
MAX_CANDIDATES = 200
DEFAULT_COUNT = 10
_WEIGHTS = {"family": 0.3, "given": 0.2, "birthDate": 0.3, "gender": 0.1, "phone": 0.1}
_GRADES = ((0.8, "probable"), (0.5, "possible"))
_LESS_PRECISE = 0.1  # a birth year against a birth date in it


@dataclass(frozen=True)
class MatchRequest:
    patient: dict
    only_certain: bool
    count: int


def parse_match(patient: object, pairs: list[tuple[str, str]]) -> MatchRequest:
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise BadRequest("Patient/$match needs a Patient as its resource parameter",
                         expression="resource")
    validate_resource(patient)  # the R4 structure (a `name` that is no array is 400)
    values = dict(pairs)
    only_certain = values.get("onlyCertainMatches", "false")
    if only_certain not in ("true", "false"):
        raise BadRequest("onlyCertainMatches takes true or false",
                         expression="onlyCertainMatches")
    count = positive_integer(values.get("count", str(DEFAULT_COUNT)), "count")
    return MatchRequest(patient, only_certain == "true", min(count, MAX_CANDIDATES))


def _name_words(name: object, family_last: bool) -> tuple[str | None, list[str]]:
    """A HumanName's family name and given-name words, folded; one with `text` alone is
    read family name first (`Trần Thị Hồng Nhung`) or, `family_last`, last (`H'Hen Niê`)."""
    if not isinstance(name, dict):
        return None, []
    given = [fold(word) for text in name.get("given") or [] if isinstance(text, str)
             for word in text.split()]
    family = name.get("family")
    text = name.get("text")
    words = [fold(word) for word in text.split()] if isinstance(text, str) else []
    if isinstance(family, str) and family.strip():
        return fold(family), given or _given_in_text(words, fold(family).split())
    if not given and len(words) > 1:
        return (words[-1], words[:-1]) if family_last else (words[0], words[1:])
    return None, given


def _given_in_text(words: list[str], family: list[str]) -> list[str]:
    """The given names of a name's text that holds its family name first or last (`text`
    `Nguyễn Văn Nam` beside `family` `Nguyễn`, and no `given`): the rest of its words."""
    size = len(family)
    if len(words) <= size:
        return []
    return words[size:] if words[:size] == family else (
        words[:-size] if words[-size:] == family else [])


@dataclass(frozen=True)
class _Person:
    """What a Patient is matched by, read once."""

    identifiers: frozenset[tuple[str, str]]  # (canonical system, value)
    # As a search finds them: a BHYT card also as its holder's BHYT number and BHXH code.
    identifier_keys: frozenset[str]
    families: frozenset[str]
    personal_names: frozenset[str]  # the last word of each name's given names (the tên)
    phones: frozenset[str]  # without the country or trunk prefix: their last 9 digits
    birth_date: object
    gender: object

    @classmethod
    def of(cls, patient: dict, family_last: bool = False) -> "_Person":
        names = [_name_words(name, family_last) for name in patient.get("name") or []]
        # Its identifiers now: one marked `old` or whose period has ended (a corrected,
        # mistyped number) may be another person's, and neither matches nor differs.
        held = [i for i in patient.get("identifier") or []
                if isinstance(i, dict) and held_now(i)]
        return cls(
            frozenset((canonical_system(i["system"]), i["value"]) for i in held
                      if isinstance(i.get("system"), str) and isinstance(i.get("value"), str)),
            frozenset(key for key in parameter_entries(
                "Patient", "identifier", {**patient, "identifier": held})
                      if key.startswith("sc:")),
            frozenset(family for family, _ in names if family is not None),
            frozenset(given[-1] for _, given in names if given),
            frozenset("".join(c for c in t["value"] if c.isdigit())[-9:]
                      for t in patient.get("telecom") or []
                      if isinstance(t, dict) and t.get("system") == "phone"
                      and isinstance(t.get("value"), str)),
            patient.get("birthDate"),
            # `unknown` says nothing of the person: no gender to agree or differ with.
            gender if (gender := patient.get("gender")) != "unknown" else None,
        )


def _readings(patient: dict) -> list[_Person]:
    """The patient with its names given as text alone read family name first, and, when
    that differs, family name last: several of Vietnam's peoples write it last."""
    first, last = _Person.of(patient), _Person.of(patient, family_last=True)
    return [first] if last == first else [first, last]


def _written_as(phone: str) -> dict:
    """The filter of a phone index entry (`c:<value>`) holding a number however it was
    written: `0912345678`, `0912 345 678`, `+84 912 345 678`, `84-912-345-678`."""
    digits = r"\D*".join(re.escape(digit) for digit in phone)
    return {"search.phone": {"$regex": rf"^c:\D*(?:(?:84|0)\D*)?{digits}\D*$"}}


def _name_word(family: str) -> dict:
    """The filter of a name index entry (`f:<folded text>`) holding a folded family name as
    one of its words: `H'Hen Niê` stored as text alone is a candidate by `Niê`."""
    return {"search.name": {"$regex": rf"^f:(?:.*\s)?{re.escape(family)}(?:\s|$)"}}


_Search = tuple[list[tuple[str, str]], dict]


def _criteria(readings: list[_Person]) -> list[list[_Search]]:
    """Searches, each with a filter to add to it, whose union holds every candidate of each
    reading of the patient (they differ in names only), in tiers read in turn: those by
    identifier first, then by demographics, so that a common family name born on the same
    day (Nguyễn: thousands a day in a national index) cannot crowd out the patient whose
    identifier is the one given."""
    person = readings[0]
    by_identifier: list[_Search] = [
        ([("identifier", f"{system}|{value}")], {}) for system, value in person.identifiers]
    by_demographics: list[_Search] = []
    if isinstance(birth_date := person.birth_date, str):
        families = sorted(set().union(*(reading.families for reading in readings)))
        by_demographics += [([("family", family), ("birthdate", birth_date)], {})
                            for family in families]
        # A stored name of `text` alone has no `family` to search: by a word of its text.
        by_demographics += [([("birthdate", birth_date)], _name_word(family))
                            for family in families]
        by_demographics += [([("birthdate", birth_date)], _written_as(phone))
                            for phone in person.phones if phone]
    return [tier for tier in (by_identifier, by_demographics) if tier]


def _birth_dates(wanted: object, stored: object) -> float | None:
    """What the birth dates add: 0.3 when the same, 0.1 when one is less precise and they
    agree, None when they differ (0 when one is not known)."""
    if not isinstance(wanted, str) or not isinstance(stored, str):
        return 0.0
    if wanted == stored:
        return _WEIGHTS["birthDate"]
    return _LESS_PRECISE if stored.startswith(wanted) or wanted.startswith(stored) else None


def best_grade(wanted: list[_Person], candidate: list[_Person]) -> tuple[float, str] | None:
    """The best grade of any reading of the patient described against any of a stored one;
    None when none can be that patient."""
    grades = [found for one in wanted for other in candidate
              if (found := grade(one, other)) is not None]
    return max(grades, key=lambda found: found[0], default=None)


def grade(wanted: _Person, candidate: _Person) -> tuple[float, str] | None:
    """(score, match grade) of a stored Patient against the one described; None when it
    cannot be that patient."""
    birth = _birth_dates(wanted.birth_date, candidate.birth_date)
    both_genders = wanted.gender is not None and candidate.gender is not None
    gender_differs = both_genders and wanted.gender != candidate.gender
    if wanted.identifier_keys & candidate.identifier_keys:
        return (1.0, "certain") if birth is not None and not gender_differs else (
            0.5, "possible")
    cccd = canonical_system(CCCD_SYSTEM)
    if (any(s == cccd for s, _ in wanted.identifiers)
            and any(s == cccd for s, _ in candidate.identifiers)):
        return None  # both have a personal ID number, and not the same one
    if birth is None or gender_differs:
        return None
    score = birth + (_WEIGHTS["gender"] if both_genders else 0)
    if wanted.families & candidate.families:
        score += _WEIGHTS["family"]
    if wanted.personal_names and candidate.personal_names:
        shared = wanted.personal_names & candidate.personal_names
        score += _WEIGHTS["given"] if shared else -_WEIGHTS["given"]
    if wanted.phones & candidate.phones:
        score += _WEIGHTS["phone"]
    score = round(score, 2)
    return next(((score, name) for floor, name in _GRADES if score >= floor), None)


@dataclass
class PatientMatch:
    store: ResourceStore
    base: str
    permissions: Permissions

    async def matches(self, request: MatchRequest) -> dict:
        wanted = _readings(request.patient)
        searches = _criteria(wanted)
        if not searches:
            raise BadRequest("Patient/$match needs an identifier (system and value), or a "
                             "family name or phone number with a birth date",
                             expression="resource")
        compiler = Compiler(self.store.project, self.base,
                            partial(require_search, self.permissions))
        found: dict[str, CurrentVersion] = {}
        for tier in searches:
            if len(found) >= MAX_CANDIDATES:
                break
            queries = [{"$and": [(await compiler.compile("Patient", criteria, strict=True))[0],
                                 written]}
                       for criteria, written in tier]
            query = {"$and": [{"$or": queries}, {"_id": {"$nin": list(found)}}]}
            for record in await self.store.find("Patient", query, MAX_CANDIDATES - len(found),
                                                WITHOUT_INDEX):
                found[record.id] = record
        # A record merged into another must no longer be used (R4 link-type): its survivor
        # is the match, and the two are no certain matches "to be merged".
        candidates = current(list(found.values()))
        graded = [(graded, record) for record in candidates
                  if (graded := best_grade(wanted, _readings(record.resource or {})))
                  is not None]
        graded.sort(key=lambda item: (-item[0][0], item[1].id))
        if not request.only_certain:
            return _bundle(self.base, graded[: request.count])
        certain = [item for item in graded if item[0][1] == "certain"]
        if len(certain) < 2:
            return _bundle(self.base, certain)
        # None is returned then ("If there are multiple potential matches, then the match
        # should not return the results with this flag set to true"): say why.
        bundle = _bundle(self.base, [])
        bundle.setdefault("entry", []).append(warning_entry(
            f"{len(certain)} patients are certain matches of the one described (records of "
            "one person to be merged?); onlyCertainMatches returns none of them then: ask "
            "without it to see them", "multiple-matches"))
        return bundle


def _bundle(base: str, graded: list[tuple[tuple[float, str], CurrentVersion]]) -> dict:
    bundle = searchset_bundle(
        base, [(Version.from_current("Patient", record), "match") for _, record in graded],
        [{"relation": "self", "url": f"{base}/Patient/$match"}], len(graded))
    for entry, ((score, match_grade), _) in zip(bundle.get("entry", []), graded, strict=True):
        entry["search"] = {"extension": [{"url": MATCH_GRADE, "valueCode": match_grade}],
                           "mode": "match", "score": score}
    return bundle
