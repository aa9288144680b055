"""A synthetic bulk data set in the style of Synthea's bulk output: Vietnamese patients with
their encounters, diagnoses, vital signs, laboratory reports, prescriptions, procedures,
allergies, immunizations, care plans and BHYT insurance, as one NDJSON file per resource
type with `Type/id` references between the files and US Core / VN Core `meta.profile`s,
deterministic from a seed.

    python -m examples.generator ndjson OUTDIR --patients 20
"""

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from examples import clinical_codes as codes
from examples.clinical_codes import SNOMED_SYSTEM, US_CORE, VN_CORE, Panel, Test
from examples.fhir_json import synthetic_meta
from examples.generator import AS_OF, HISTORY_START, Generator
from examples.vietnam import ACT_CODE_SYSTEM, BHYT_SYSTEM, CHRONIC_DIAGNOSES, LOINC_SYSTEM

TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
ALLERGY_SHARE = 0.2
CHILD_VACCINES_UNTIL = 6  # years of age: the expanded programme on immunization
PROFILES = {"Patient": (US_CORE + "us-core-patient", VN_CORE + "vn-core-patient"),
            "DiagnosticReport": (US_CORE + "us-core-diagnosticreport-lab",)}


def _concept(system: str, code: str, display: str, text: str | None = None) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}],
            "text": text or display}


def _status(code_system: str, code: str) -> dict:
    return {"coding": [{"system": TERMINOLOGY + code_system, "code": code}]}


def _loinc(test: Test | Panel) -> dict:
    return _concept(LOINC_SYSTEM, test.code, test.display, test.text)


def _reference(resource: dict) -> dict:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _years(born: date, on: date) -> float:
    return (on - born).days / 365.25


def _child_weight(age: float) -> tuple[float, float, float]:
    """Body weight in kg of a child of `age` years: lowest, highest, most common."""
    return 3 + 2 * age, 6 + 3.5 * age, 4 + 2.6 * age


@dataclass(frozen=True)
class Visit:
    """An encounter: who it is about, by whom, where and when."""

    patient: dict
    encounter: dict
    practitioner: dict
    organization: dict

    @property
    def diagnosis(self) -> str:
        return self.encounter["reasonCode"][0]["coding"][0]["code"]

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.encounter["period"]["start"])

    @property
    def end(self) -> datetime:
        """The end of the visit; AS_OF while it is in progress."""
        end = self.encounter["period"].get("end")
        return datetime.fromisoformat(end) if end else AS_OF

    @property
    def age(self) -> float:
        return _years(date.fromisoformat(self.patient["birthDate"]), self.start.date())

    def moment(self, share: float) -> datetime:
        return self.start + (self.end - self.start) * share

    def context(self) -> dict:
        return {"subject": _reference(self.patient), "encounter": _reference(self.encounter)}


class BulkGenerator:
    """Resources by type with `Type/id` references between them, the same for the same seed.
    The staff is the one `examples.generator.Generator` makes, each hospital with its
    outpatient department as a Location; Generator also makes the patients and encounters."""

    def __init__(self, seed: int):
        self.people = Generator(seed)
        self.rng = self.people.rng
        self.resources: dict[str, list[dict]] = defaultdict(list)
        self.payer = self._add({
            "resourceType": "Organization", "active": True, "name": "Bảo hiểm xã hội Việt Nam",
            "type": [_concept(TERMINOLOGY + "organization-type", "pay", "Payer", "Bảo hiểm")]})
        hospitals = [self._add(entry["resource"]) for entry in self.people.organization_entries]
        departments = [self._outpatient_department(hospital) for hospital in hospitals]
        self.staff = [  # (practitioner, hospital, department), paired as Generator pairs them
            (self._add(entry["resource"]), hospitals[index % len(hospitals)],
             departments[index % len(hospitals)])
            for index, entry in enumerate(self.people.practitioner_entries)
        ]
        self.medications: dict[str, dict] = {}  # ATC code → Medication

    def patient_record(self) -> None:
        """A patient with BHYT coverage, perhaps an allergy, immunizations and 1-4 visits."""
        practitioner, hospital, department = self.rng.choice(self.staff)
        patient = self._add(self.people.patient(_reference(hospital)["reference"]))
        self._coverage(patient)
        if self.rng.random() < ALLERGY_SHARE:
            self._allergy(patient, practitioner)
        born = date.fromisoformat(patient["birthDate"])
        earliest = max(born, HISTORY_START)
        child = _years(born, AS_OF.date()) < CHILD_VACCINES_UNTIL
        vaccines = codes.CHILD_VACCINES if child else codes.ADULT_VACCINES
        for vaccine in self.rng.sample(vaccines, self.rng.randint(1, 2)):
            self._immunization(patient, practitioner, vaccine, earliest)
        visits = self.rng.randint(1, 4)
        for number in range(visits):  # only the last may still be in progress
            encounter = self.people.encounter(
                *(_reference(r)["reference"] for r in (patient, practitioner, hospital)),
                in_progress=None if number == visits - 1 else False, earliest=earliest)
            encounter["location"] = [{"location": _reference(department)}]
            self._visit(Visit(patient, self._add(encounter), practitioner, hospital))

    def _visit(self, visit: Visit) -> None:
        """What an encounter records besides itself: its diagnosis, vital signs, laboratory
        report, prescription, procedure and care plan, as its diagnosis calls for them."""
        condition = self._condition(visit)
        self._vital_signs(visit)
        panel = codes.PANELS_BY_DIAGNOSIS.get(visit.diagnosis)
        if panel is None and visit.encounter["class"]["code"] != "AMB":
            panel = codes.BLOOD_COUNT
        if panel is not None:
            self._report(visit, panel)
        if visit.diagnosis in codes.MEDICINE_BY_DIAGNOSIS:
            self._prescription(visit, condition, codes.MEDICINE_BY_DIAGNOSIS[visit.diagnosis])
        if visit.diagnosis in codes.PROCEDURE_BY_DIAGNOSIS:
            self._procedure(visit, condition, codes.PROCEDURE_BY_DIAGNOSIS[visit.diagnosis])
        if visit.diagnosis in CHRONIC_DIAGNOSES:
            self._care_plan(visit, condition)

    # -- resources --------------------------------------------------------------------------

    def _condition(self, visit: Visit) -> dict:
        resolved = visit.diagnosis not in CHRONIC_DIAGNOSES and visit.end < AS_OF
        condition = {
            "resourceType": "Condition",
            "clinicalStatus": _status("condition-clinical", "resolved" if resolved else "active"),
            "verificationStatus": _status("condition-ver-status", "confirmed"),
            "category": [_concept(TERMINOLOGY + "condition-category", "encounter-diagnosis",
                                  "Encounter Diagnosis", "Chẩn đoán")],
            "code": visit.encounter["reasonCode"][0],
            **visit.context(),
            "onsetDateTime": _instant(visit.start),
            "recordedDate": _instant(visit.start),
            "recorder": _reference(visit.practitioner),
        }
        if resolved:
            condition["abatementDateTime"] = _instant(visit.end)
        return self._add(condition)

    def _observation(self, visit: Visit, code: dict, profile: str, category: str,
                     taken: datetime, **value: object) -> dict:
        return self._add({
            "resourceType": "Observation",
            "status": "final",
            "category": [_concept(TERMINOLOGY + "observation-category", category,
                                  category.replace("-", " ").title())],
            "code": code,
            **visit.context(),
            "effectiveDateTime": _instant(taken),
            "performer": [_reference(visit.practitioner)],
            **value,
        }, US_CORE + profile)

    def _measured(self, visit: Visit, test: Test, category: str, taken: datetime,
                  usual: tuple[float, float, float] | None = None) -> dict:
        return self._observation(visit, _loinc(test), test.profile, category, taken,
                                 valueQuantity=self._quantity(test, usual))

    def _quantity(self, test: Test, usual: tuple[float, float, float] | None = None) -> dict:
        value = round(self.rng.triangular(*(usual or test.usual)), test.decimals)
        return {"value": value if test.decimals else int(value), "unit": test.unit,
                "system": codes.UCUM_SYSTEM, "code": test.unit}

    def _vital_signs(self, visit: Visit) -> None:
        """Blood pressure (systolic and diastolic components) and the other vital signs."""
        taken = visit.moment(self.rng.uniform(0, 0.1))
        hypertensive = visit.diagnosis in codes.HYPERTENSIVE_DIAGNOSES
        components = [
            {"code": _loinc(test),
             "valueQuantity": self._quantity(test, high if hypertensive else None)}
            for test, high in ((codes.SYSTOLIC, codes.HYPERTENSIVE_SYSTOLIC),
                               (codes.DIASTOLIC, codes.HYPERTENSIVE_DIASTOLIC))
        ]
        self._observation(visit, _concept(LOINC_SYSTEM, *codes.BLOOD_PRESSURE),
                          "us-core-blood-pressure", "vital-signs", taken, component=components)
        unusual = {
            codes.TEMPERATURE: codes.FEVER if visit.diagnosis in codes.FEVER_DIAGNOSES else None,
            codes.BODY_WEIGHT: _child_weight(visit.age) if visit.age < 18 else None,
        }
        for test in codes.VITAL_SIGNS:
            self._measured(visit, test, "vital-signs", taken, unusual.get(test))

    def _report(self, visit: Visit, panel: Panel) -> None:
        taken = visit.moment(self.rng.uniform(0.1, 0.3))
        issued = min(taken + timedelta(hours=self.rng.randint(1, 4)), AS_OF)
        results = [self._measured(visit, test, "laboratory", taken) for test in panel.tests]
        self._add({
            "resourceType": "DiagnosticReport",
            "status": "final",
            "category": [_concept(TERMINOLOGY + "v2-0074", "LAB", "Laboratory", "Xét nghiệm")],
            "code": _loinc(panel),
            **visit.context(),
            "effectiveDateTime": _instant(taken),
            "issued": _instant(issued),
            "performer": [_reference(visit.organization)],
            "result": [_reference(result) for result in results],
        })

    def _prescription(self, visit: Visit, condition: dict, atc: str) -> None:
        name, product, dosage = codes.MEDICINES[atc]
        if atc not in self.medications:
            self.medications[atc] = self._add({
                "resourceType": "Medication", "status": "active",
                "code": _concept(codes.ATC_SYSTEM, atc, name, product)})
        ongoing = visit.diagnosis in CHRONIC_DIAGNOSES or visit.end == AS_OF
        self._add({
            "resourceType": "MedicationRequest",
            "status": "active" if ongoing else "completed",
            "intent": "order",
            "medicationReference": _reference(self.medications[atc]),
            **visit.context(),
            "authoredOn": _instant(visit.moment(self.rng.uniform(0.5, 1))),
            "requester": _reference(visit.practitioner),
            "reasonReference": [_reference(condition)],
            "dosageInstruction": [{"text": dosage}],
        })

    def _procedure(self, visit: Visit, condition: dict, code: tuple[str, str, str]) -> None:
        begun = visit.moment(self.rng.uniform(0.1, 0.5))
        ended = min(begun + timedelta(minutes=self.rng.randint(15, 120)), visit.end)
        self._add({
            "resourceType": "Procedure",
            "status": "completed",
            "code": _concept(SNOMED_SYSTEM, *code),
            **visit.context(),
            "performedPeriod": {"start": _instant(begun), "end": _instant(ended)},
            "performer": [{"actor": _reference(visit.practitioner)}],
            "location": visit.encounter["location"][0]["location"],
            "reasonReference": [_reference(condition)],
        })

    def _care_plan(self, visit: Visit, condition: dict) -> None:
        self._add({
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "category": [_concept(SNOMED_SYSTEM, "736271009", "Outpatient care plan",
                                  "Kế hoạch điều trị ngoại trú")],
            "title": f"Quản lý bệnh mạn tính: {visit.encounter['reasonCode'][0]['text']}",
            **visit.context(),
            "period": {"start": _instant(visit.start)},
            "author": _reference(visit.practitioner),
            "addresses": [_reference(condition)],
            "activity": [{"detail": {"status": "in-progress", "description": text}}
                         for text in ("Dùng thuốc theo đơn, tái khám hằng tháng.",
                                      "Theo dõi chỉ số tại nhà, ăn giảm muối, vận động.")],
        })

    def _coverage(self, patient: dict) -> None:
        """The patient's BHYT card as a Coverage paid by Vietnam Social Security."""
        card = next(i for i in patient["identifier"] if i["system"] == BHYT_SYSTEM)
        self._add({
            "resourceType": "Coverage",
            "identifier": [card],
            "status": "active",
            "type": _concept(ACT_CODE_SYSTEM, "PUBLICPOL", "public healthcare", "Bảo hiểm y tế"),
            "subscriberId": card["value"],
            "beneficiary": _reference(patient),
            "relationship": _status("subscriber-relationship", "self"),
            "period": card["period"],
            "payor": [_reference(self.payer)],
        })

    def _allergy(self, patient: dict, practitioner: dict) -> None:
        code, display, text, category = self.rng.choice(codes.ALLERGIES)
        self._add({
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": _status("allergyintolerance-clinical", "active"),
            "verificationStatus": _status("allergyintolerance-verification", "confirmed"),
            "type": "allergy",
            "category": [category],
            "criticality": self.rng.choice(("low", "high")),
            "code": _concept(SNOMED_SYSTEM, code, display, text),
            "patient": _reference(patient),
            "recordedDate": _instant(AS_OF - timedelta(days=self.rng.randint(30, 900))),
            "recorder": _reference(practitioner),
            "reaction": [{
                "manifestation": [_concept(SNOMED_SYSTEM, *self.rng.choice(codes.REACTIONS))],
                "severity": self.rng.choice(("mild", "moderate"))}],
        })

    def _immunization(self, patient: dict, practitioner: dict, vaccine: tuple[str, str, str],
                      earliest: date) -> None:
        day = earliest + timedelta(days=self.rng.randint(0, (AS_OF.date() - earliest).days))
        given = datetime.combine(day, AS_OF.timetz()) - timedelta(hours=self.rng.randint(3, 9))
        self._add({
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": _concept(codes.CVX_SYSTEM, *vaccine),
            "patient": _reference(patient),
            "occurrenceDateTime": _instant(given),
            "primarySource": True,
            "lotNumber": f"{self.rng.randrange(10**6):06d}",
            "performer": [{"actor": _reference(practitioner)}],
        })

    def _outpatient_department(self, hospital: dict) -> dict:
        return self._add({
            "resourceType": "Location",
            "status": "active",
            "name": f"Khoa Khám bệnh - {hospital['name']}",
            "mode": "instance",
            "physicalType": _concept(TERMINOLOGY + "location-physical-type", "bu", "Building",
                                     "Tòa nhà"),
            "address": hospital["address"][0],
            "managingOrganization": _reference(hospital),
        })

    def _add(self, resource: dict, *profiles: str) -> dict:
        """The resource with an id and the data set's meta (HTEST label, profiles), listed
        under its type."""
        kind = resource["resourceType"]
        profiles = profiles or PROFILES.get(kind, (f"{US_CORE}us-core-{kind.lower()}",))
        added = {
            "resourceType": kind,
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "meta": {**resource.get("meta", synthetic_meta()), "profile": list(profiles)},
            **{key: value for key, value in resource.items()
               if key not in ("resourceType", "meta")},
        }
        self.resources[kind].append(added)
        return added


def bulk_data_set(seed: int, patients: int) -> dict[str, list[dict]]:
    """{resource type: resources} of `patients` patient records, types in name order."""
    generator = BulkGenerator(seed)
    for _ in range(patients):
        generator.patient_record()
    return dict(sorted(generator.resources.items()))


def write_ndjson(directory: Path, data_set: dict[str, list[dict]]) -> list[Path]:
    """One `<Type>.ndjson` file per resource type, as a Bulk Data export writes them."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, resources in data_set.items():
        path = directory / f"{kind}.ndjson"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in resources),
                        encoding="utf-8")
        paths.append(path)
    return paths
