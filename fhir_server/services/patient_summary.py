"""`Patient/$summary` (IPS 2.0.0, http://hl7.org/fhir/uv/ips/OperationDefinition/summary): an
International Patient Summary of the record, made on request: a `document` Bundle with an IPS
Composition first, then the Patient, the resources of each section and what they refer to.

Section codes and which sections are required come from the IPS Composition profile; which
records fill a section (active problems, allergies that are not refuted, ...) is the
server's clinical choice below. A required section with nothing to show gets an
`emptyReason`: `unavailable` (the record holds none) or `withheld` (the token may not read
that type). Nothing is stored: each call summarises the record as it is then.
"""

import html
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.definitions import registry
from fhir_server.conformance.search_parameters import compartment_members
from fhir_server.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    NotImplementedFeature,
    Unprocessable,
)
from fhir_server.search.compiler import Compiler
from fhir_server.search.index import compartment_filter, outside_compartments
from fhir_server.search.types import date as dates
from fhir_server.services.documents import (
    MAX_RESOURCES,
    DocumentAssembly,
    Record,
    document_bundle,
)
from fhir_server.services.held_identifiers import holds_now
from fhir_server.services.replaced_patients import current
from fhir_server.services.versions import format_instant, stored_current
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import WITHOUT_INDEX, ResourceStore

IPS_COMPOSITION = "http://hl7.org/fhir/uv/ips/StructureDefinition/Composition-uv-ips"
_EMPTY_REASONS = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
# The most recently updated records of one type a summary holds; more are left out.
MAX_PER_TYPE = 500
# Patients with one identifier read to find the one summarised (merged records among them).
_MOST_HOLDING = 50
_ENDED = {"inactive", "remission", "resolved"}
_NOT_TRUE = {"entered-in-error", "refuted"}
_NOT_CURRENT = {"entered-in-error", "cancelled", "stopped", "completed", "not-taken", "revoked",
                "draft", "unknown"}
_UNDONE = {"entered-in-error", "not-done", "cancelled"}
# Where the status codes of R4's required bindings are (condition-clinical, ...).
_HL7_CODE_SYSTEMS = "http://terminology.hl7.org/CodeSystem/"


def _code(resource: dict, element: str) -> str | None:
    """The code of a status CodeableConcept element (clinicalStatus, verificationStatus):
    its coding of HL7's code system, which the required binding asks for, wherever it stands
    among the hospital's own codings; else the first coding's."""
    concept = resource.get(element)
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return None
    codings = [coding for coding in codings if isinstance(coding, dict)]
    ordered = sorted(codings, key=lambda coding: not str(coding.get("system", ""))
                     .startswith(_HL7_CODE_SYSTEMS))
    code = ordered[0].get("code") if ordered else None
    return code if isinstance(code, str) else None


def _categories(resource: dict) -> set[object]:
    return {
        coding.get("code")
        for category in resource.get("category") or []
        if isinstance(category, dict)
        for coding in category.get("coding") or []
        if isinstance(coding, dict)
    }


def _current_condition(resource: dict) -> bool:
    return (_code(resource, "clinicalStatus") not in _ENDED
            and _code(resource, "verificationStatus") not in _NOT_TRUE)


def _past_condition(resource: dict) -> bool:
    return (_code(resource, "clinicalStatus") in _ENDED
            and _code(resource, "verificationStatus") not in _NOT_TRUE)


def _status_not(statuses: set[str]) -> Callable[[dict], bool]:
    return lambda resource: resource.get("status") not in statuses


def _supply_lasting(dispense: dict) -> bool:
    """A dispense whose supply lasts until today (the server's local date) or later: handed
    over (or prepared) that many days ago at most, by its `daysSupply` in days; one under way
    counts."""
    status = dispense.get("status")
    if status in ("preparation", "in-progress", "on-hold"):
        return True
    supply = dispense.get("daysSupply")
    days = supply.get("value") if isinstance(supply, dict) else None
    given = dispense.get("whenHandedOver") or dispense.get("whenPrepared")
    if status != "completed" or not isinstance(days, int | float) or not isinstance(given, str):
        return False
    if not (isinstance(supply, dict) and supply.get("code", "d") == "d"):
        return False
    # A hundred years either way: a made-up supply must not overflow the date.
    lasting = max(min(float(days), 36_500.0), -36_500.0)
    try:
        # The local day it was handed over on, the last it may have been when only its
        # month or year is known (`2025-07`); the date as written, `given[:10]`, was the
        # day before for an evening in the Americas, and a partial date none at all.
        handed = dates.local_date(dates.parse_date(given).high)
        return handed + timedelta(days=lasting) >= dates.local_today()
    except ValueError:
        return False
    except OverflowError:  # past the calendar's last day (9999-12-31), or before its first
        return lasting >= 0


def _observation_of(*categories: str) -> Callable[[dict], bool]:
    return lambda resource: (bool(_categories(resource) & set(categories))
                             and resource.get("status") not in _UNDONE)


def _social_history(resource: dict) -> bool:
    """An Observation of category social-history, or one the section's entry slices name by
    its code (IPS tobacco and alcohol use, which need no category: VN Core's smoking status
    has category `survey`)."""
    codes = {(coding.get("system"), coding.get("code"))
             for coding in (resource.get("code") or {}).get("coding") or []
             if isinstance(coding, dict)}
    return _observation_of("social-history")(resource) or (
        resource.get("status") not in _UNDONE
        and bool(codes & _entry_codes("sectionSocialHistory")))


@dataclass(frozen=True)
class SectionRule:
    slice: str  # of Composition.section in the IPS Composition profile
    title: str
    sources: tuple[tuple[str, Callable[[dict], bool]], ...]  # resource type, which to keep


SECTIONS = (
    SectionRule("sectionProblems", "Active Problems", (("Condition", _current_condition),)),
    SectionRule("sectionAllergies", "Allergies and Intolerances", (
        ("AllergyIntolerance", _current_condition),)),
    SectionRule("sectionMedications", "Medication Summary", (
        ("MedicationStatement", _status_not(_NOT_CURRENT - {"unknown"})),
        ("MedicationRequest", _status_not(_NOT_CURRENT)),
        # IPS 2.0.0 takes these too: one being given, and a supply the patient still takes.
        ("MedicationAdministration", lambda resource: resource.get("status") == "in-progress"),
        ("MedicationDispense", _supply_lasting))),
    SectionRule("sectionImmunizations", "Immunizations", (
        ("Immunization", _status_not({"entered-in-error"})),)),
    SectionRule("sectionResults", "Results", (
        ("Observation", _observation_of("laboratory", "imaging")),
        ("DiagnosticReport", _status_not(_UNDONE)))),
    SectionRule("sectionProceduresHx", "History of Procedures", (
        ("Procedure", _status_not(_UNDONE)),)),
    SectionRule("sectionMedicalDevices", "Medical Devices", (
        ("DeviceUseStatement", _status_not({"entered-in-error"})),)),
    SectionRule("sectionVitalSigns", "Vital Signs", (
        ("Observation", _observation_of("vital-signs")),)),
    SectionRule("sectionPastProblems", "History of Past Problems", (
        ("Condition", _past_condition),)),
    SectionRule("sectionPlanOfCare", "Plan of Care", (
        ("CarePlan", _status_not({"entered-in-error", "revoked", "completed"})),)),
    SectionRule("sectionSocialHistory", "Social History", (
        ("Observation", _social_history),)),
)


@cache
def _profile_elements() -> dict[str, dict]:
    profile = registry().structure_definition(IPS_COMPOSITION)
    if profile is None:  # the IPS package was left out of this server's definitions
        raise NotImplementedFeature(f"$summary needs the profile {IPS_COMPOSITION}, which "
                                    "this server does not have")
    return {element["id"]: element for element in profile["snapshot"]["element"]}


@cache
def _entry_codes(section: str) -> frozenset[tuple[str, str]]:
    """(system, code) of the `Observation.code` patterns of the profiles a section's entry
    slices take (`smokingTobaccoUse`: Observation-tobaccouse-uv-ips, LOINC 72166-2)."""
    prefix = f"Composition.section:{section}.entry:"
    codes = set()
    for element_id, element in _profile_elements().items():
        if not element_id.startswith(prefix):
            continue
        for kind in element.get("type") or ():
            for url in kind.get("targetProfile") or ():
                profile = registry().structure_definition(url) or {"snapshot": {"element": []}}
                for target in profile["snapshot"]["element"]:
                    if target["id"] == "Observation.code":
                        codes |= {(coding["system"], coding["code"]) for coding in
                                  (target.get("patternCodeableConcept") or {}).get("coding", ())}
    return frozenset(codes)


def section_codes() -> dict[str, tuple[dict, bool]]:
    """IPS Composition section slice → (its LOINC coding, whether it is required)."""
    elements = _profile_elements()
    codes = {}
    for rule in SECTIONS:
        prefix = f"Composition.section:{rule.slice}"
        coding = elements[f"{prefix}.code"]["patternCodeableConcept"]["coding"][0]
        codes[rule.slice] = (coding, elements[prefix]["min"] > 0)
    return codes


def _about(resource: dict, patient: set[str], unnamed: bool = False) -> bool:
    """Whether a record is about the patient (its `subject` or `patient`), not one they are
    only in the compartment of (the asserter of another's Condition, the performer of
    another's Observation); `unnamed`: what a record naming no subject counts as."""
    for element in ("subject", "patient"):
        reference = resource.get(element)
        if isinstance(reference, dict):
            return reference.get("reference") in patient
    return unnamed


def _shown(resource: dict) -> tuple[str, str, str]:
    """What, when and status of a record, for a section's table."""
    what: object = "-"
    for element in ("code", "medicationCodeableConcept", "vaccineCode", "type"):
        concept = resource.get(element)
        if isinstance(concept, dict):
            codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
            what = concept.get("text") or next(
                (c.get("display") or c.get("code") for c in codings), what)
            break
    else:
        reference = resource.get("medicationReference") or {}
        what = reference.get("display") or reference.get("reference") or what
    when = next((str(resource[e]) for e in ("onsetDateTime", "effectiveDateTime",
                 "occurrenceDateTime", "performedDateTime", "authoredOn", "recordedDate",
                 "issued", "date") if e in resource), "")
    for element in ("onsetPeriod", "effectivePeriod", "performedPeriod"):
        period = resource.get(element)
        if not when and isinstance(period, dict):
            when = f"{period.get('start', '')} - {period.get('end', '')}".strip(" -")
    status = resource.get("status") or _code(resource, "clinicalStatus") or ""
    return str(what), when, str(status)


def _narrative(rows: list[tuple[str, str, str]], empty: str) -> dict:
    if not rows:
        body = f"<p>{html.escape(empty)}</p>"
    else:
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in rows)
        body = f"<table><tr><th>Item</th><th>Date</th><th>Status</th></tr>{cells}</table>"
    return {"status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


@dataclass
class PatientSummary:
    assembly: DocumentAssembly
    author: dict  # the Organization the document comes from (this server's hospital)

    @property
    def store(self) -> ResourceStore:
        return self.assembly.store

    @property
    def permissions(self) -> Permissions:
        return self.assembly.permissions

    async def patient(self, patient_id: str | None, identifier: str | None) -> CurrentVersion:
        """The Patient summarised: by id (404 unknown, 410 deleted), or the one Patient with
        an identifier (`system|value`; 404 none, 422 several, not counting a record that no
        longer holds it or merged into another (`replaced-by` it),
        beside one that is not)."""
        if patient_id is not None:
            return await stored_current(self.store, "Patient", patient_id)
        if not identifier or not identifier.rpartition("|")[2]:  # absent, or with no value
            raise BadRequest("Patient/$summary needs the patient's id in the path, or an "
                             "identifier", expression="identifier")
        if not self.permissions.allows("Patient", "s"):
            raise Forbidden("The token's scopes do not allow searching Patient by identifier")
        query, _ = await Compiler(self.store.project, self.assembly.base).compile(
            "Patient", [("identifier", identifier)], strict=True)
        found = await self.store.find("Patient", query, _MOST_HOLDING, WITHOUT_INDEX)
        if not found:
            raise NotFound(f"No Patient has the identifier '{identifier}'")
        # A record that no longer holds the number (`old`, its period ended), or merged
        # into another (R4 link-type), is none beside one that does, or its survivor.
        found = [version for version in found
                 if holds_now(version.resource or {}, identifier)] or found
        found = current(found) or found
        if len(found) > 1:
            raise Unprocessable(f"Several patients have the identifier '{identifier}': name "
                                "one by its id (Patient/[id]/$summary)")
        return found[0]

    async def document(self, patient: CurrentVersion, now: datetime) -> dict:
        patient_reference = f"Patient/{patient.id}"
        own = compartment_filter("Patient", [patient.id], self.assembly.base)
        about = {patient_reference, f"{self.assembly.base}/{patient_reference}"}
        records: dict[str, list[CurrentVersion]] = {}
        sections: list[dict] = []
        included: list[Record] = [("Patient", patient)]
        seen = {("Patient", patient.id)}  # an Observation may be a result and a vital sign
        for rule in SECTIONS:
            coding, required = section_codes()[rule.slice]
            kept, withheld = [], False
            for kind, keep in rule.sources:
                if not self.permissions.allows(kind, "r"):
                    withheld = True
                    continue
                if kind not in records:
                    records[kind] = await self.store.find(
                        kind, own, MAX_PER_TYPE, WITHOUT_INDEX, [("lastUpdated", -1), ("_id", 1)])
                kept += [(kind, r) for r in records[kind]
                         if _about(r.resource or {}, about) and keep(r.resource or {})]
            if kept or required:
                sections.append(_section(rule, coding, kept, withheld))
                for kind, record in kept:
                    if (kind, record.id) not in seen:
                        seen.add((kind, record.id))
                        included.append((kind, record))
        # Of a type patients' records hold, this patient's (the Encounters the entries refer
        # to, say) and those of no patient (a Procedure with no subject): another patient's
        # record is no part of it. No other Patient (one `link` names): an IPS has one.
        members = compartment_members("Patient")
        nobodys = outside_compartments("Patient", self.assembly.base)

        def within(kind: str) -> dict | None:
            if kind == "Patient":
                return None
            if kind not in members:
                return {}
            # No patient's record is the launch patient's to read, when that is all a
            # patient/ token grants on the type.
            return ({"$or": [own, nobodys]}
                    if self.permissions.allows_outside_compartment(kind, "r") else own)

        # A record this patient is only in the compartment of (the performer of another's
        # Observation, which one of theirs refers to) is the other's: not in their summary.
        included += await self.assembly.referenced(
            included, within, rounds=MAX_RESOURCES,
            keep=lambda kind, resource: kind not in members or _about(resource, about,
                                                                      unnamed=True))
        author_url = f"urn:uuid:{uuid.uuid4()}"
        composition = {
            "resourceType": "Composition",
            "id": str(uuid.uuid4()),
            "text": _narrative([], "International Patient Summary of the record held here."),
            "status": "final",
            "type": _profile_elements()["Composition.type"]["patternCodeableConcept"],
            "subject": {"reference": patient_reference},
            "date": format_instant(now),
            "author": [{"reference": author_url}],
            "title": "International Patient Summary",
            "section": sections,
        }
        return document_bundle([
            # A RESTful fullUrl, as the entries have: its relative references (`Patient/1`)
            # then resolve within the Bundle (bundle.html#references).
            {"fullUrl": f"{self.assembly.base}/Composition/{composition['id']}",
             "resource": composition},
            *(self.assembly.entry(kind, _summarised(kind, record.resource or {}), record.id)
              for kind, record in included),
            {"fullUrl": author_url, "resource": self.author},
        ], now)


def _summarised(kind: str, resource: dict) -> dict:
    """A resource as the summary shows it: a Patient whose birth date is not known says so
    (Patient-uv-ips: birthDate 1..1, "populate if known"; data-absent-reason otherwise)."""
    if kind != "Patient" or "birthDate" in resource or "_birthDate" in resource:
        return resource
    absent = {"url": _ABSENT_REASON, "valueCode": "unknown"}
    return {**resource, "_birthDate": {"extension": [absent]}}


def _section(rule: SectionRule, coding: dict, kept: list[tuple[str, CurrentVersion]],
             withheld: bool) -> dict:
    section: dict = {"title": rule.title, "code": {"coding": [coding]}}
    if kept:
        section["text"] = _narrative([_shown(r.resource or {}) for _, r in kept], "")
        section["entry"] = [{"reference": f"{kind}/{r.id}"} for kind, r in kept]
        return section
    reason = "withheld" if withheld else "unavailable"
    section["text"] = _narrative([], "Not shared with this client." if withheld
                                 else "No information held in this record.")
    section["emptyReason"] = {"coding": [{"system": _EMPTY_REASONS, "code": reason}]}
    return section
