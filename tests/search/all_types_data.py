"""The data set of tests/search/test_search_all_types.py: two patients of a Hà Nội hospital
and their clinical record across twenty-odd resource types, as resources by key."""

from search.helpers import LOINC, UCUM, ref

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
BHYT = "http://fhir.hl7.org.vn/core/sid/bhyt"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
CVX = "http://hl7.org/fhir/sid/cvx"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CHROMOSOME = "http://terminology.hl7.org/CodeSystem/chromosome-human"
CONTEXT_TYPE = "http://terminology.hl7.org/CodeSystem/usage-context-type"
PHQ9 = "http://benhvien-bachmai.vn/fhir/Questionnaire/phq-9"
PHQ9_ITEM = "http://benhvien-bachmai.vn/fhir/StructureDefinition/phq9#item1"
PROTOCOL = "http://benhvien-bachmai.vn/quy-trinh/cat-ruot-thua"
AN_CCCD = "001085004321"
BINH_CCCD = "079190006789"


def _concept(system: str, code: str, display: str | None = None, text: str | None = None):
    coding = {"system": system, "code": code} | ({"display": display} if display else {})
    return {"coding": [coding]} | ({"text": text} if text else {})


def _quantity(value: float, code: str, unit: str | None = None) -> dict:
    return {"value": value, "unit": unit or code, "system": UCUM, "code": code}


def _patient(cccd: str, family: str, given: list[str], gender: str, birth: str, city: str):
    return {"resourceType": "Patient", "identifier": [{"system": CCCD, "value": cccd}],
            "name": [{"use": "official", "family": family, "given": given}],
            "gender": gender, "birthDate": birth, "address": [{"city": city, "country": "VN"}]}


def _location(name: str, city: str, position: tuple[float, float] | None) -> dict:
    location = {"resourceType": "Location", "status": "active", "name": name,
                "address": {"city": city, "country": "VN"}}
    if position:
        location["position"] = {"latitude": position[0], "longitude": position[1]}
    return location


def _observation(subject: str | None, code: str, when: dict, category: str = "laboratory",
                 status: str = "final", **value) -> dict:
    observation = {"resourceType": "Observation", "status": status,
                   "category": [_concept(OBS_CATEGORY, category)],
                   "code": _concept(LOINC, code), **when, **value}
    if subject:
        observation["subject"] = ref(subject)
    return observation


def _blood_pressure(subject: str, when: str, systolic: float, diastolic: float) -> dict:
    return _observation(subject, "85354-9", {"effectiveDateTime": when}, "vital-signs",
                        component=[
                            {"code": _concept(LOINC, "8480-6"),
                             "valueQuantity": _quantity(systolic, "mm[Hg]")},
                            {"code": _concept(LOINC, "8462-4"),
                             "valueQuantity": _quantity(diastolic, "mm[Hg]")},
                        ])


def _medication_request(subject: str, authored: str, status: str, **medication) -> dict:
    return {"resourceType": "MedicationRequest", "status": status, "intent": "order",
            "subject": ref(subject), "authoredOn": authored, "requester": ref("doctor"),
            **medication}


def _immunization(patient: str, code: str, when: str, lot: str) -> dict:
    return {"resourceType": "Immunization", "status": "completed",
            "vaccineCode": _concept(CVX, code), "patient": ref(patient),
            "occurrenceDateTime": when, "lotNumber": lot}


def _risk(subject: str, probability: float, when: str) -> dict:
    return {"resourceType": "RiskAssessment", "status": "final", "subject": ref(subject),
            "occurrenceDateTime": when,
            "prediction": [{"outcome": {"text": "Biến cố tim mạch trong 10 năm"},
                            "probabilityDecimal": probability}]}


DATA = {
    "an": _patient(AN_CCCD, "Nguyễn", ["Văn", "An"], "male", "1985-03-12", "Hà Nội"),
    "binh": _patient(BINH_CCCD, "Trần", ["Thị", "Bình"], "female", "1990-07-04",
                     "Hồ Chí Minh"),
    "doctor": {"resourceType": "Practitioner", "name": [{"family": "Lê", "given": ["Thị", "Hoa"]}]},
    "bachmai": {"resourceType": "Organization", "name": "Bệnh viện Bạch Mai"},
    "bhxh": {"resourceType": "Organization", "name": "Bảo hiểm xã hội Việt Nam"},
    "loc_bachmai": _location("Bệnh viện Bạch Mai", "Hà Nội", (21.0007, 105.8406)),
    "loc_vietduc": _location("Bệnh viện Việt Đức", "Hà Nội", (21.0285, 105.8467)),
    "loc_choray": _location("Bệnh viện Chợ Rẫy", "Hồ Chí Minh", (10.7578, 106.6595)),
    "loc_hue": _location("Bệnh viện Trung ương Huế", "Huế", (16.4637, 107.5878)),
    "loc_kho": _location("Kho dược Bạch Mai", "Hà Nội", None),
    "enc_an": {"resourceType": "Encounter", "status": "finished",
               "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                         "code": "IMP"},
               "subject": ref("an"), "period": {"start": "2024-03-15", "end": "2024-03-20"}},
    # Observations: blood pressure panels, glucose, weight over a period, HBsAg, LMP.
    "bp_an": _blood_pressure("an", "2024-03-15T08:30:00+07:00", 140, 90),
    "bp_binh": _blood_pressure("binh", "2024-05-02T14:00:00+07:00", 118, 76),
    "glucose_an": _observation("an", "2339-0", {"effectiveDateTime": "2024-03-15T09:00:00+07:00"},
                               valueQuantity=_quantity(7.2, "mmol/L"),
                               performer=[ref("doctor")], encounter=ref("enc_an")),
    "glucose_binh": _observation("binh", "2339-0", {"effectiveDateTime": "2023-11-20"},
                                 valueQuantity=_quantity(5.1, "mmol/L")),
    "weight_an": _observation("an", "29463-7", {"effectivePeriod": {"start": "2024-01-01",
                                                                   "end": "2024-01-31"}},
                              "vital-signs", valueQuantity=_quantity(65, "kg", "kilogram")),
    "hbsag_an": _observation("an", "5196-1", {"effectiveDateTime": "2022-07-01"},
                             valueCodeableConcept=_concept(SNOMED, "260385009", "Negative",
                                                           "Âm tính")),
    "hbsag_binh": _observation("binh", "5196-1", {"effectiveDateTime": "2024-06-10"},
                               status="preliminary",
                               valueCodeableConcept=_concept(SNOMED, "10828004", "Positive",
                                                             "Dương tính")),
    "lmp_binh": _observation("binh", "8665-2", {"effectiveDateTime": "2024-05-02"},
                             "survey", valueDateTime="2024-04-10"),
    "note": _observation(None, "8867-4", {}, "vital-signs", status="registered"),
    "cond_dm": {"resourceType": "Condition", "subject": ref("an"),
                "clinicalStatus": _concept(CLINICAL, "active"),
                "code": _concept(ICD10, "E11", text="Đái tháo đường type 2"),
                "onsetDateTime": "2019-06", "recordedDate": "2024-03-15"},
    "cond_htn": {"resourceType": "Condition", "subject": ref("binh"),
                 "clinicalStatus": _concept(CLINICAL, "resolved"),
                 "code": _concept(ICD10, "I10", text="Tăng huyết áp vô căn"),
                 "onsetDateTime": "2020-02-01", "abatementDateTime": "2023-01-01"},
    "med_metformin": {"resourceType": "Medication",
                      "code": _concept(ATC, "A10BA02", "metformin", "Metformin 500 mg"),
                      "form": _concept(SNOMED, "385055001", "Tablet")},
    "med_amlodipine": {"resourceType": "Medication",
                       "code": _concept(ATC, "C08CA01", "amlodipine", "Amlodipin 5 mg")},
    "mr_an": _medication_request("an", "2024-03-15", "active",
                                 medicationReference=ref("med_metformin")),
    "mr_binh": _medication_request("binh", "2023-11-20", "completed",
                                   medicationReference=ref("med_amlodipine")),
    "mr_paracetamol": _medication_request(
        "binh", "2024-06-01", "active",
        medicationCodeableConcept=_concept(ATC, "N02BE01", "paracetamol")),
    "proc_an": {"resourceType": "Procedure", "status": "completed", "subject": ref("an"),
                "code": _concept(SNOMED, "80146002", "Appendectomy", "Cắt ruột thừa"),
                "performedDateTime": "2024-02-10", "location": ref("loc_bachmai"),
                "instantiatesUri": [PROTOCOL]},
    "allergy_an": {"resourceType": "AllergyIntolerance", "patient": ref("an"),
                   "clinicalStatus": _concept(
                       "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                       "active"),
                   "category": ["medication"], "criticality": "high",
                   "code": _concept(SNOMED, "372687004", "Amoxicillin"),
                   "recordedDate": "2021-05-05"},
    "imm_binh": _immunization("binh", "208", "2021-08-15", "FF2593"),
    "imm_an": _immunization("an", "207", "2021-09-20", "3005F21A"),
    "dr_an": {"resourceType": "DiagnosticReport", "status": "final", "subject": ref("an"),
              "code": _concept(LOINC, "24323-8", "Comprehensive metabolic panel"),
              "effectiveDateTime": "2024-03-15", "issued": "2024-03-15T10:00:00+07:00",
              "result": [ref("glucose_an")]},
    "careplan_an": {"resourceType": "CarePlan", "status": "active", "intent": "plan",
                    "subject": ref("an"), "addresses": [ref("cond_dm")],
                    "period": {"start": "2024-03-15", "end": "2024-09-15"}},
    "discharge_an": {"resourceType": "Composition", "status": "final",
                     "type": _concept(LOINC, "18842-5", "Discharge summary"),
                     "subject": ref("an"), "encounter": ref("enc_an"), "date": "2024-03-20",
                     "author": [ref("doctor")], "title": "Giấy ra viện"},
    "cov_an": {"resourceType": "Coverage", "status": "active",
               "identifier": [{"system": BHYT, "value": "DN4010123456789"}],
               "beneficiary": ref("an"), "payor": [ref("bhxh")],
               "class": [{"type": _concept(
                   "http://terminology.hl7.org/CodeSystem/coverage-class", "plan"),
                   "value": "DN4", "name": "Doanh nghiệp"}]},
    "claim_an": {"resourceType": "Claim", "status": "active",
                 "type": _concept("http://terminology.hl7.org/CodeSystem/claim-type",
                                  "institutional"),
                 "use": "claim", "patient": ref("an"), "created": "2024-03-20",
                 "provider": ref("bachmai"),
                 "priority": _concept("http://terminology.hl7.org/CodeSystem/processpriority",
                                      "normal"),
                 "insurance": [{"sequence": 1, "focal": True, "coverage": ref("cov_an")}]},
    "specimen_an": {"resourceType": "Specimen", "status": "available", "subject": ref("an"),
                    "type": _concept(SNOMED, "119297000", "Blood specimen"),
                    "accessionIdentifier": {"system": "http://benhvien-bachmai.vn/sid/xn",
                                            "value": "XN-2024-0315-017"},
                    "collection": {"collectedDateTime": "2024-03-15T07:45:00+07:00"}},
    "sr_an": {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
              "code": _concept(LOINC, "2339-0"), "subject": ref("an"),
              "occurrenceDateTime": "2024-03-15", "requester": ref("doctor")},
    "appt_an": {"resourceType": "Appointment", "status": "booked",
                "start": "2024-04-01T09:00:00+07:00", "end": "2024-04-01T09:30:00+07:00",
                "participant": [{"actor": ref("an"), "status": "accepted"},
                                {"actor": ref("doctor"), "status": "accepted"},
                                {"actor": ref("loc_bachmai"), "status": "accepted"}]},
    "phq9": {"resourceType": "Questionnaire", "url": PHQ9, "name": "PHQ9",
             "title": "Bảng câu hỏi sức khỏe bệnh nhân (PHQ-9)", "status": "active",
             "useContext": [
                 {"code": {"system": CONTEXT_TYPE, "code": "age"},
                  "valueQuantity": {"value": 18, "unit": "năm", "system": UCUM, "code": "a"}},
                 {"code": {"system": CONTEXT_TYPE, "code": "focus"},
                  "valueCodeableConcept": _concept(SNOMED, "35489007", "Depressive disorder")},
             ],
             "item": [{"linkId": "1", "definition": PHQ9_ITEM, "type": "choice",
                       "text": "Ít hứng thú hoặc không thích làm việc gì"}]},
    "qr_an": {"resourceType": "QuestionnaireResponse", "questionnaire": PHQ9,
              "status": "completed", "subject": ref("an"), "authored": "2024-03-16",
              "author": ref("doctor")},
    "seq_an": {"resourceType": "MolecularSequence", "type": "dna", "coordinateSystem": 0,
               "patient": ref("an"),
               "referenceSeq": {"chromosome": _concept(CHROMOSOME, "1"),
                                "genomeBuild": "GRCh38", "windowStart": 10000,
                                "windowEnd": 20000},
               "variant": [{"start": 12345, "end": 12346, "observedAllele": "T",
                            "referenceAllele": "C"}]},
    "seq_ref": {"resourceType": "MolecularSequence", "type": "dna", "coordinateSystem": 0,
                "patient": ref("binh"),
                "referenceSeq": {"referenceSeqId": _concept(
                    "http://www.ncbi.nlm.nih.gov/nuccore", "NC_000001.11"),
                    "windowStart": 5000, "windowEnd": 6000},
                "variant": [{"start": 5500, "end": 5501, "observedAllele": "G",
                             "referenceAllele": "A"}]},
    "risk_an": _risk("an", 0.27, "2024-03-15"),
    "risk_binh": _risk("binh", 0.05, "2024-05-02"),
}
