"""`Patient/$match` (http://hl7.org/fhir/R4/patient-operation-match.html): the stored
patients who may be the one described, graded `certain`, `probable` or `possible`, best first.

Candidates are those sharing an identifier, or a family name or phone number with the same
birth date. A shared identifier (same system, or one the two VN Core guides alias, and
value) is certain. Otherwise the demographics are weighed, names compared without case or
accents (`Nguyễn` is `nguyen`): family name 0.3, a given name 0.2, birth date 0.3, gender
0.1, phone 0.1; probable from 0.8, possible from 0.5. A different birth date, gender or
personal ID number (CCCD) rules a candidate out.
"""

from dataclasses import dataclass
from functools import partial

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.identifier_systems import canonical_system
from fhir_server.conformance.identifiers import CCCD_SYSTEM
from fhir_server.conformance.validation import validate_resource
from fhir_server.errors import BadRequest
from fhir_server.search.compiler import Compiler
from fhir_server.search.types.string import fold
from fhir_server.services.access import require_search
from fhir_server.services.bundle_assembly import searchset_bundle
from fhir_server.services.parameters import positive_integer
from fhir_server.services.versions import Version
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import WITHOUT_INDEX, ResourceStore

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
# Candidates looked at for one request; the best `count` of them are answered.
MAX_CANDIDATES = 200
DEFAULT_COUNT = 10
_WEIGHTS = {"family": 0.3, "given": 0.2, "birthDate": 0.3, "gender": 0.1, "phone": 0.1}
_GRADES = ((0.8, "probable"), (0.5, "possible"))


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


def _identifiers(patient: dict) -> set[tuple[str, str]]:
    return {(canonical_system(i["system"]), i["value"]) for i in patient.get("identifier") or []
            if isinstance(i, dict) and isinstance(i.get("system"), str)
            and isinstance(i.get("value"), str)}


def _names(patient: dict, part: str) -> set[str]:
    found = set()
    for name in patient.get("name") or []:
        if not isinstance(name, dict):
            continue
        texts = name.get(part) if part == "given" else [name.get(part)]
        found |= {fold(text) for text in texts or [] if isinstance(text, str) and text.strip()}
    return found


def _phones(patient: dict) -> set[str]:
    return {"".join(c for c in t["value"] if c.isdigit())[-9:]
            for t in patient.get("telecom") or []
            if isinstance(t, dict) and t.get("system") == "phone"
            and isinstance(t.get("value"), str)}


def _criteria(patient: dict) -> list[list[tuple[str, str]]]:
    """Searches whose union holds every candidate."""
    searches = [[("identifier", f"{system}|{value}")] for system, value in _identifiers(patient)]
    birth_date = patient.get("birthDate")
    if isinstance(birth_date, str):
        searches += [[("family", family), ("birthdate", birth_date)]
                     for family in _names(patient, "family")]
        searches += [[("phone", phone), ("birthdate", birth_date)]
                     for phone in _phones(patient) if phone]
    return searches


def grade(wanted: dict, candidate: dict) -> tuple[float, str] | None:
    """(score, match grade) of a stored Patient against the one described; None when it
    cannot be that patient."""
    mine, theirs = _identifiers(wanted), _identifiers(candidate)
    if mine & theirs:
        return 1.0, "certain"
    cccd = canonical_system(CCCD_SYSTEM)
    if any(s == cccd for s, _ in mine) and any(s == cccd for s, _ in theirs):
        return None  # both have a personal ID number, and not the same one
    score = 0.0
    for element in ("birthDate", "gender"):
        if element in wanted and element in candidate:
            if wanted[element] != candidate[element]:
                return None
            score += _WEIGHTS[element]
    for part in ("family", "given"):
        if _names(wanted, part) & _names(candidate, part):
            score += _WEIGHTS[part]
    if _phones(wanted) & _phones(candidate):
        score += _WEIGHTS["phone"]
    score = round(score, 2)
    return next(((score, name) for floor, name in _GRADES if score >= floor), None)


@dataclass
class PatientMatch:
    store: ResourceStore
    base: str
    permissions: Permissions

    async def matches(self, request: MatchRequest) -> dict:
        searches = _criteria(request.patient)
        if not searches:
            raise BadRequest("Patient/$match needs an identifier (system and value), or a "
                             "family name or phone number with a birth date",
                             expression="resource")
        compiler = Compiler(self.store.project, self.base,
                            partial(require_search, self.permissions))
        queries = [(await compiler.compile("Patient", criteria, strict=True))[0]
                   for criteria in searches]
        candidates = await self.store.find("Patient", {"$or": queries}, MAX_CANDIDATES,
                                           WITHOUT_INDEX)
        graded = [(graded, record) for record in candidates
                  if (graded := grade(request.patient, record.resource or {})) is not None]
        graded.sort(key=lambda item: (-item[0][0], item[1].id))
        if request.only_certain:
            certain = [item for item in graded if item[0][1] == "certain"]
            graded = certain if len(certain) == 1 else []
        return _bundle(self.base, graded[: request.count])


def _bundle(base: str, graded: list[tuple[tuple[float, str], CurrentVersion]]) -> dict:
    bundle = searchset_bundle(
        base, [(Version.from_current("Patient", record), "match") for _, record in graded],
        [{"relation": "self", "url": f"{base}/Patient/$match"}], len(graded))
    for entry, ((score, match_grade), _) in zip(bundle.get("entry", []), graded, strict=True):
        entry["search"] = {"extension": [{"url": MATCH_GRADE, "valueCode": match_grade}],
                           "mode": "match", "score": score}
    return bundle
