"""Synthetic Vietnamese health records as FHIR R4 JSON, deterministic from a seed.

Names, addresses, CCCD and BHYT numbers, hospitals, visits with ICD-10 reasons and clinical
notes, all made up by one `random.Random(seed)`: no external data, no network. Hospital names
and addresses are public; their facility codes and everything else are synthetic, and every
resource carries the HTEST ("test health data") security label.

    python -m examples.generator demo                      # rewrite examples/demo/demo-bundle.json
    python -m examples.generator bundles 200 --out DIR     # 200 patient transaction Bundles
    python -m examples.generator bundles 200 --out DIR --shared-refs conditional
    python -m examples.generator ndjson DIR --patients 20  # a multi-type Bulk Data set
"""

import argparse
import base64
import copy
import hashlib
import json
import random
import uuid
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Literal, TypeVar, get_args

from examples.fhir_json import (
    address_element,
    conditional_reference,
    has_diagnosis,
    identifier_criteria,
    identifier_element,
    patient_group,
    synthetic_meta,
    transaction_bundle,
)
from examples.pdf import text_pdf
from examples.vietnam import (
    ACT_CODE_SYSTEM,
    BHYT_SYSTEM,
    CARE_SETTING_BY_CODE,
    CARE_SETTINGS,
    CCCD_SYSTEM,
    CHRONIC_DIAGNOSES,
    FACILITY_SYSTEM,
    FAMILY_NAMES,
    GIVEN_NAMES,
    HOSPITALS,
    ICD10_SYSTEM,
    LOINC_SYSTEM,
    MARITAL_STATUSES,
    MIDDLE_NAMES,
    MOBILE_PREFIXES,
    MRN_SYSTEM,
    NOTE_TYPES,
    PROGRESS_NOTE,
    PROVINCES,
    SPECIALTIES,
    STREETS,
    CareSetting,
    Hospital,
    Province,
)

DEMO_SEED = 2025
DEMO_PATH = Path(__file__).parent / "demo" / "demo-bundle.json"
SharedRefs = Literal["inline", "conditional"]
SHARED_REFS = get_args(SharedRefs)

VN_TZ = timezone(timedelta(hours=7))
AS_OF = datetime(2025, 6, 30, 17, 0, tzinfo=VN_TZ)  # "now" for the data, fixed for determinism
HISTORY_START = AS_OF.date() - timedelta(days=3 * 365)  # the earliest visit
PATIENT_AGES = (0.25, 95, 35)  # youngest, oldest, most common; a visit fits after birth
PRACTITIONER_AGES = (27, 63, 40)
IN_PROGRESS_SHARE = 0.15
PDF_SHARE = 0.3
STAFF_HOSPITALS, STAFF_PRACTITIONERS = 3, 5


T = TypeVar("T")


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _age(birth_date: date) -> int:
    today = AS_OF.date()
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (not had_birthday)


class Generator:
    """Synthetic FHIR R4 resources and transaction Bundles, the same for the same seed.

    A generator has a staff of STAFF_HOSPITALS organizations and STAFF_PRACTITIONERS
    practitioners shared by the patient Bundles it makes. With `shared_refs="inline"` each
    patient Bundle carries them as conditional creates (self-contained); with
    `"conditional"` it refers to them as `Type?identifier=...`, so load `staff_bundle()` first.
    """

    def __init__(self, seed: int, shared_refs: SharedRefs = "inline"):
        if shared_refs not in SHARED_REFS:
            raise ValueError(f"shared_refs must be one of {SHARED_REFS}, not {shared_refs!r}")
        self.rng = random.Random(seed)
        self.shared_refs = shared_refs
        self._issued: set[str] = set()
        hospitals = self.rng.sample(HOSPITALS, STAFF_HOSPITALS)
        self.organization_entries = [self._entry(self.organization(h)) for h in hospitals]
        self.practitioner_entries = [
            self._entry(self.practitioner()) for _ in range(STAFF_PRACTITIONERS)
        ]

    # -- resources --------------------------------------------------------------------------

    def patient(self, organization_ref: str | None = None) -> dict:
        province = self._pick(PROVINCES)
        patient = {"resourceType": "Patient", "meta": synthetic_meta(),
                   **self._person(province, PATIENT_AGES)}
        age = _age(date.fromisoformat(patient["birthDate"]))
        insurance = self._bhyt_identifier(province, age)  # draws before the MRN: determinism
        mrn = identifier_element(MRN_SYSTEM, self._serial("MRN-", 8), use="usual")
        patient["identifier"] += [insurance, mrn]
        street = f"Số {self.rng.randint(1, 350)} đường {self.rng.choice(STREETS)}"
        patient["address"] = [address_element(province, street, self.rng.choice(province.districts),
                                       use="home")]
        if age >= 18:
            code = self._pick({code: weight for code, (*_, weight) in MARITAL_STATUSES.items()})
            display, text, _ = MARITAL_STATUSES[code]
            patient["maritalStatus"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                "code": code, "display": display}], "text": text}
        patient["communication"] = [{"language": {
            "coding": [{"system": "urn:ietf:bcp:47", "code": "vi", "display": "Vietnamese"}],
            "text": "Tiếng Việt"}, "preferred": True}]
        if organization_ref:
            patient["managingOrganization"] = {"reference": organization_ref}
        return patient

    def practitioner(self) -> dict:
        practitioner = {"resourceType": "Practitioner", "meta": synthetic_meta(),
                        **self._person(self._pick(PROVINCES), PRACTITIONER_AGES)}
        graduated = int(practitioner["birthDate"][:4]) + 24
        practitioner["qualification"] = [{
            "code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0360",
                                 "code": "MD", "display": "Doctor of Medicine"}],
                     "text": f"Bác sĩ {self.rng.choice(SPECIALTIES)}"},
            "period": {"start": str(graduated)},
            "issuer": {"display": "Bộ Y tế"},
        }]
        return practitioner

    def organization(self, hospital: Hospital | None = None) -> dict:
        hospital = hospital or self.rng.choice(HOSPITALS)
        area = hospital.province.area_code
        number = f"{self.rng.randrange(10 ** (10 - len(area))):0{10 - len(area)}d}"
        return {
            "resourceType": "Organization",
            "meta": synthetic_meta(),
            "identifier": [{"use": "official", "system": FACILITY_SYSTEM, "value": hospital.code}],
            "active": True,
            "type": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                "code": "prov", "display": "Healthcare Provider"}], "text": "Bệnh viện"}],
            "name": hospital.name,
            "telecom": [{"system": "phone", "value": f"+84 {area} {number[:-4]} {number[-4:]}",
                         "use": "work"}],
            "address": [
                address_element(hospital.province, hospital.line, hospital.district, "work")
            ],
        }

    def encounter(self, patient_ref: str, practitioner_ref: str, organization_ref: str, *,
                  in_progress: bool | None = None, earliest: date = HISTORY_START) -> dict:
        """A visit starting on or after `earliest`; in progress at AS_OF with probability
        IN_PROGRESS_SHARE unless `in_progress` says."""
        if in_progress is None:
            in_progress = self.rng.random() < IN_PROGRESS_SHARE
        setting, reason, period = self._visit(in_progress, earliest)
        return {
            "resourceType": "Encounter",
            "meta": synthetic_meta(),
            "status": "in-progress" if in_progress else "finished",
            "class": {"system": ACT_CODE_SYSTEM, "code": setting.code, "display": setting.display},
            "subject": {"reference": patient_ref},
            "participant": [{
                "type": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "ATND", "display": "attender"}]}],
                "individual": {"reference": practitioner_ref}}],
            "period": period,
            "reasonCode": [reason],
            "serviceProvider": {"reference": organization_ref},
        }

    def document_reference(self, patient_ref: str, encounter_ref: str, author_ref: str, *,
                           encounter: dict | None = None) -> dict:
        """A clinical note of the encounter; given the `encounter` resource, its type, date
        and text follow that visit, otherwise a made-up finished one."""
        if encounter is None:
            setting, reason, period = self._visit(in_progress=False, earliest=HISTORY_START)
        else:
            setting = CARE_SETTING_BY_CODE[encounter["class"]["code"]]
            reason, period = encounter["reasonCode"][0], encounter["period"]
        if "end" in period:
            written = datetime.fromisoformat(period["end"])
            note_type = self.rng.choice(setting.note_types)
        else:
            start = datetime.fromisoformat(period["start"])
            written = start + (AS_OF - start) * self.rng.uniform(0.5, 1)
            note_type = PROGRESS_NOTE
        display, title = NOTE_TYPES[note_type]
        lines = [title.upper(), f"Ngày: {written:%d/%m/%Y %H:%M}",
                 f"Chẩn đoán: {reason['coding'][0]['code']} - {reason['text']}",
                 *self._examination(), f"Hướng xử trí: {self.rng.choice(setting.plans)}"]
        if self.rng.random() < PDF_SHARE:
            content_type, data = "application/pdf", text_pdf(lines)
        else:
            content_type, data = "text/plain; charset=utf-8", "\n".join(lines).encode()
        return {
            "resourceType": "DocumentReference",
            "meta": synthetic_meta(),
            "status": "current",
            "docStatus": "final",
            "type": {"coding": [{"system": LOINC_SYSTEM, "code": note_type, "display": display}],
                     "text": title},
            "subject": {"reference": patient_ref},
            "date": _instant(written),
            "author": [{"reference": author_ref}],
            "content": [{"attachment": {
                "contentType": content_type,
                "language": "vi",
                "data": base64.b64encode(data).decode(),
                "size": len(data),
                "hash": base64.b64encode(hashlib.sha1(data).digest()).decode(),
                "title": f"{title} {written:%d/%m/%Y}",
                "creation": _instant(written),
            }}],
            "context": {"encounter": [{"reference": encounter_ref}], "period": period},
        }

    # -- bundles ----------------------------------------------------------------------------

    def patient_bundle(self, n_encounters: int = 3, n_documents: int = 2) -> dict:
        """One patient's record as a transaction: the Patient, `n_encounters` visits at one
        hospital with one practitioner, and `n_documents` notes of those visits."""
        practitioner, organization = self._pick_staff()
        if self.shared_refs == "inline":
            shared = copy.deepcopy([practitioner, organization])
            refs = practitioner["fullUrl"], organization["fullUrl"]
        else:
            shared = []
            refs = (conditional_reference(practitioner["resource"]),
                    conditional_reference(organization["resource"]))
        return transaction_bundle(self._patient_record(*refs, n_encounters, n_documents) + shared)

    def staff_bundle(self) -> dict:
        """A transaction creating the organizations and practitioners patient Bundles share."""
        shared = self.organization_entries + self.practitioner_entries
        return transaction_bundle(copy.deepcopy(shared))

    def demo_bundle(self, n_patients: int = 20) -> dict:
        """A self-contained transaction: the staff, `n_patients` records and a Group of the
        patients with a chronic disease; everything referenced by urn:uuid."""
        entries = copy.deepcopy(self.organization_entries + self.practitioner_entries)
        chronic_patients = []
        for _ in range(n_patients):
            practitioner, organization = self._pick_staff()
            n_encounters = self.rng.randint(1, 4)
            record = self._patient_record(practitioner["fullUrl"], organization["fullUrl"],
                                          n_encounters, self.rng.randint(1, n_encounters + 1))
            entries += record
            if has_diagnosis(record, CHRONIC_DIAGNOSES):
                chronic_patients.append(record[0]["fullUrl"])
        group = patient_group("Bệnh nhân quản lý bệnh mạn tính", chronic_patients)
        return transaction_bundle([*entries, self._entry(group)])

    # -- parts ------------------------------------------------------------------------------

    def _pick(self, weights: dict[T, float]) -> T:
        return self.rng.choices(tuple(weights), weights=tuple(weights.values()))[0]

    def _serial(self, prefix: str, digits: int) -> str:
        """`prefix` and `digits` random digits, never issued before by this generator."""
        while True:
            value = f"{prefix}{self.rng.randrange(10**digits):0{digits}d}"
            if value not in self._issued:
                self._issued.add(value)
                return value

    def _uuid_url(self) -> str:
        return f"urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"

    def _entry(self, resource: dict) -> dict:
        """A transaction entry POSTing the resource; conditional on its first identifier."""
        request = {"method": "POST", "url": resource["resourceType"]}
        if "identifier" in resource:
            request["ifNoneExist"] = identifier_criteria(resource)
        return {"fullUrl": self._uuid_url(), "resource": resource, "request": request}

    def _pick_staff(self) -> tuple[dict, dict]:
        """A practitioner's entry and the entry of the organization they work at."""
        index = self.rng.randrange(len(self.practitioner_entries))
        organizations = self.organization_entries
        return self.practitioner_entries[index], organizations[index % len(organizations)]

    def _patient_record(self, practitioner_ref: str, organization_ref: str, n_encounters: int,
                        n_documents: int) -> list[dict]:
        """Entries of a Patient, their encounters (oldest first) and their notes."""
        if n_documents and not n_encounters:
            raise ValueError("documents belong to an encounter: n_encounters must be > 0")
        patient = self._entry(self.patient(organization_ref))
        earliest = max(date.fromisoformat(patient["resource"]["birthDate"]), HISTORY_START)
        encounters = [  # only the latest may still be in progress
            self.encounter(patient["fullUrl"], practitioner_ref, organization_ref,
                           in_progress=None if number == n_encounters - 1 else False,
                           earliest=earliest)
            for number in range(n_encounters)
        ]
        encounters.sort(key=lambda encounter: encounter["period"]["start"])
        encounter_entries = [self._entry(encounter) for encounter in encounters]
        documents = []
        for _ in range(n_documents):
            visit = self.rng.choice(encounter_entries)
            documents.append(self._entry(self.document_reference(
                patient["fullUrl"], visit["fullUrl"], practitioner_ref,
                encounter=visit["resource"])))
        return [patient, *encounter_entries, *documents]

    def _person(self, province: Province, ages: tuple[float, float, float]) -> dict:
        """What a Patient and a Practitioner share: CCCD, name, phone, gender, birthDate."""
        gender = self.rng.choice(("male", "female"))
        youngest, oldest, commonest = ages
        age_in_days = self.rng.triangular(youngest, oldest, commonest) * 365.25
        birth_date = AS_OF.date() - timedelta(days=int(age_in_days))
        family = self._pick(FAMILY_NAMES)
        middle = self._pick(MIDDLE_NAMES[gender])
        given = self.rng.choice(GIVEN_NAMES[gender])
        phone = f"{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**7):07d}"
        return {
            "identifier": [
                identifier_element(CCCD_SYSTEM, self._cccd(province, gender, birth_date))
            ],
            "active": True,
            "name": [{"use": "official", "text": f"{family} {middle} {given}",
                      "family": family, "given": [middle, given]}],
            "telecom": [{"system": "phone", "value": f"+84 {phone[:3]} {phone[3:6]} {phone[6:]}",
                         "use": "mobile"}],
            "gender": gender,
            "birthDate": birth_date.isoformat(),
        }

    def _cccd(self, province: Province, gender: str, birth_date: date) -> str:
        """Province (3 digits), century and sex (0/1: male/female born 1900-1999, 2/3: born
        2000-2099), year of birth (2 digits), then 6 random digits."""
        century_and_sex = (0 if birth_date.year < 2000 else 2) + (gender == "female")
        return self._serial(f"0{province.code}{century_and_sex}{birth_date.year % 100:02d}", 6)

    def _bhyt_identifier(self, province: Province, age: int) -> dict:
        """Beneficiary group (2 letters) and benefit level (1 digit) by age, province (2 digits)
        and the 10-digit social insurance number; valid for the calendar year."""
        if age < 6:
            group, level = "TE", 1  # children under six
        elif age < 18:
            group, level = "HS", 4  # pupils
        elif age >= 60:
            group, level = "HT", 3  # retirees
        else:
            group, level = self._pick({"DN": 50, "HC": 15, "GD": 35}), 4  # employees, households
        number = self._serial(f"{group}{level}{province.code}", 10)
        identifier = identifier_element(BHYT_SYSTEM, number)
        identifier["period"] = {"start": f"{AS_OF.year}-01-01", "end": f"{AS_OF.year}-12-31"}
        return identifier

    def _visit(self, in_progress: bool, earliest: date) -> tuple[CareSetting, dict, dict]:
        """Where, why and when: a care setting, a reasonCode and a period (ended before AS_OF,
        or started shortly before it when in progress)."""
        setting = self._pick(CARE_SETTINGS)
        code, display = self.rng.choice(setting.diagnoses)
        reason = {"coding": [{"system": ICD10_SYSTEM, "code": code, "display": display}],
                  "text": display}
        shortest, longest = setting.minutes
        if in_progress:
            start = AS_OF - timedelta(minutes=self.rng.randint(5, shortest))
            return setting, reason, {"start": _instant(start)}
        latest_start = AS_OF.date() - timedelta(days=longest // 1440 + 2)
        day = latest_start - timedelta(days=self.rng.randint(0, (latest_start - earliest).days))
        start = datetime.combine(day, time(self.rng.randint(*setting.hours),
                                           self.rng.randrange(60)), VN_TZ)
        end = start + timedelta(minutes=self.rng.randint(shortest, longest))
        return setting, reason, {"start": _instant(start), "end": _instant(end)}

    def _examination(self) -> list[str]:
        temperature = f"{self.rng.triangular(36.3, 39.5, 36.8):.1f}".replace(".", ",")
        return ["Khám: bệnh nhân tỉnh, tiếp xúc tốt.",
                f"Mạch {self.rng.randint(62, 110)} lần/phút, huyết áp "
                f"{self.rng.randint(100, 160)}/{self.rng.randint(60, 95)} mmHg, "
                f"nhiệt độ {temperature} °C."]


def demo_bundle() -> dict:
    """The demo data set, as committed in examples/demo/demo-bundle.json."""
    return Generator(DEMO_SEED).demo_bundle()


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.generator",
                                     description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="write the demo transaction Bundle")
    demo.add_argument("--out", type=Path, default=DEMO_PATH)
    bundles = commands.add_parser("bundles", help="write N patient transaction Bundles")
    bundles.add_argument("count", type=int)
    bundles.add_argument("--out", type=Path, required=True, help="directory")
    bundles.add_argument("--seed", type=int, default=1)
    bundles.add_argument("--shared-refs", choices=SHARED_REFS, default="inline")
    bundles.add_argument("--encounters", type=int, default=3)
    bundles.add_argument("--documents", type=int, default=2)
    ndjson = commands.add_parser(
        "ndjson", help="write a multi-type NDJSON data set (one file per type) like Synthea's")
    ndjson.add_argument("out", type=Path, help="directory")
    ndjson.add_argument("--patients", type=int, default=20)
    ndjson.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    if args.command == "demo":
        _write_json(args.out, demo_bundle())
        return
    if args.command == "ndjson":
        from examples.clinical import bulk_data_set, write_ndjson  # it builds on this module

        write_ndjson(args.out, bulk_data_set(args.seed, args.patients))
        return
    generator = Generator(args.seed, shared_refs=args.shared_refs)
    if args.shared_refs == "conditional":  # "00-" sorts it before the patients: load it first
        _write_json(args.out / "00-staff.json", generator.staff_bundle())
    for number in range(1, args.count + 1):
        bundle = generator.patient_bundle(args.encounters, args.documents)
        _write_json(args.out / f"patient-{number:06d}.json", bundle)


if __name__ == "__main__":
    main()
