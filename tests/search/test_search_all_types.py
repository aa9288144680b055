"""Search on the resource types beyond the first nine (http://hl7.org/fhir/R4/search.html),
with the parameters of the official R4 definitions: every parameter type (string, token,
date, reference, quantity, number, uri, composite, special `near`), chains and `_has`
across the new types, `_include`/`_revinclude`, `:missing` and `_sort`.

Every search is sent with `Prefer: handling=strict`, so a parameter the server does not
know fails the test instead of being ignored (which would match everything).

Data set: two patients of a Hà Nội hospital (An, Bình), a doctor, the hospital and the
social insurance fund, four hospital locations (three with a position), an encounter, vital
signs, lab results and a hepatitis B screening, conditions, medications and their orders,
a procedure, an allergy, immunizations, a lab report, a care plan, a discharge summary,
health insurance coverage and a claim, a specimen, a lab order, an appointment, a
questionnaire and its response, a DNA sequence and two risk assessments.

Every official R4 example stored and found: tests/search/test_official_examples_search.py.
"""


import pytest
from search.all_types_data import (
    AN_CCCD,
    ATC,
    BHYT,
    CCCD,
    CHROMOSOME,
    CVX,
    DATA,
    ICD10,
    OBS_CATEGORY,
    PHQ9,
    PHQ9_ITEM,
    PROTOCOL,
    SNOMED,
)
from search.helpers import (
    LOINC,
    UCUM,
    assert_bad_parameter,
    expected,
    fill,
    found,
    included,
    load,
    matches,
    ordered_ids,
    search,
)

STRICT = {"Prefer": "handling=strict"}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, DATA)


def _found(client, ids, path: str, params: dict[str, str]) -> set[str]:
    return found(client, path, {k: fill(v, ids, an_cccd=AN_CCCD) for k, v in params.items()},
                 STRICT)


# (type, parameters, expected keys): one row per parameter type and form.
CASES = [
    # string: accent- and case-insensitive prefix, :contains, :exact, several parts
    ("Location", {"name": "benh vien bach mai"}, {"loc_bachmai"}),
    ("Location", {"name": "bach mai"}, set()),  # a prefix of the whole name, not a word
    ("Location", {"name": "BỆNH VIỆN"}, {"loc_bachmai", "loc_vietduc", "loc_choray", "loc_hue"}),
    ("Location", {"name:contains": "ray"}, {"loc_choray"}),
    ("Location", {"name:exact": "Bệnh viện Chợ Rẫy"}, {"loc_choray"}),
    ("Location", {"name:exact": "bệnh viện chợ rẫy"}, set()),
    ("Location", {"address-city": "ha noi"}, {"loc_bachmai", "loc_vietduc", "loc_kho"}),
    ("Location", {"address": "hue"}, {"loc_hue"}),
    ("Immunization", {"lot-number": "ff25"}, {"imm_binh"}),
    ("Questionnaire", {"title": "bang cau hoi"}, {"phq9"}),
    ("Questionnaire", {"name:exact": "PHQ9"}, {"phq9"}),
    ("Observation", {"value-string": "am tinh"}, {"hbsag_an"}),
    ("Observation", {"value-string": "duong"}, {"hbsag_binh"}),
    ("Coverage", {"class-value": "DN4"}, {"cov_an"}),
    ("Composition", {"title": "giay ra"}, {"discharge_an"}),
    # token: code, system|code, |code, system|, :text, :not, identifiers, codes
    ("Condition", {"code": f"{ICD10}|E11"}, {"cond_dm"}),
    ("Condition", {"code": "I10"}, {"cond_htn"}),
    ("Condition", {"code": "|E11"}, set()),
    ("Condition", {"code": f"{ICD10}|"}, {"cond_dm", "cond_htn"}),
    ("Condition", {"code": f"{SNOMED}|E11"}, set()),
    ("Condition", {"code:text": "dai thao duong"}, {"cond_dm"}),
    ("Condition", {"code:text": "tăng huyết"}, {"cond_htn"}),
    ("Condition", {"clinical-status": "active"}, {"cond_dm"}),
    ("Condition", {"clinical-status:not": "active"}, {"cond_htn"}),
    ("Observation", {"category": f"{OBS_CATEGORY}|vital-signs"},
     {"bp_an", "bp_binh", "weight_an", "note"}),
    ("Observation", {"category": "vital-signs", "code:not": "85354-9"}, {"weight_an", "note"}),
    ("Observation", {"status:not": "final"}, {"hbsag_binh", "note"}),
    ("Observation", {"code:text": "negative"}, set()),
    ("Observation", {"value-concept:text": "negative"}, {"hbsag_an"}),
    ("Observation", {"component-code": f"{LOINC}|8480-6"}, {"bp_an", "bp_binh"}),
    ("AllergyIntolerance", {"criticality": "high", "category": "medication"}, {"allergy_an"}),
    ("AllergyIntolerance", {"code": f"{SNOMED}|372687004"}, {"allergy_an"}),
    ("Immunization", {"vaccine-code": f"{CVX}|208"}, {"imm_binh"}),
    ("Immunization", {"vaccine-code": "207,208"}, {"imm_an", "imm_binh"}),
    ("Coverage", {"identifier": f"{BHYT}|DN4010123456789"}, {"cov_an"}),
    ("Coverage", {"identifier": "DN4010123456789", "status": "active"}, {"cov_an"}),
    ("Specimen", {"type": "119297000"}, {"specimen_an"}),
    ("Specimen", {"accession": "XN-2024-0315-017"}, {"specimen_an"}),
    ("ServiceRequest", {"code": f"{LOINC}|2339-0", "intent": "order", "status": "active"},
     {"sr_an"}),
    ("Appointment", {"status": "booked"}, {"appt_an"}),
    ("Claim", {"use": "claim", "status": "active", "priority": "normal"}, {"claim_an"}),
    ("MolecularSequence", {"type": "dna", "chromosome": f"{CHROMOSOME}|1"}, {"seq_an"}),
    ("MolecularSequence", {"referenceseqid": "NC_000001.11"}, {"seq_ref"}),
    ("Medication", {"code": f"{ATC}|A10BA02"}, {"med_metformin"}),
    ("Medication", {"form": "385055001"}, {"med_metformin"}),
    ("MedicationRequest", {"code": "N02BE01"}, {"mr_paracetamol"}),
    ("MedicationRequest", {"status": "active", "intent": "order"}, {"mr_an", "mr_paracetamol"}),
    ("Procedure", {"code:text": "cat ruot"}, {"proc_an"}),
    ("CarePlan", {"status": "active", "intent": "plan"}, {"careplan_an"}),
    ("Composition", {"type": f"{LOINC}|18842-5", "status": "final"}, {"discharge_an"}),
    ("QuestionnaireResponse", {"status": "completed"}, {"qr_an"}),
    ("DiagnosticReport", {"status": "final", "code": "24323-8"}, {"dr_an"}),
    # date: precision ranges, prefixes, Periods, several values (AND)
    ("Observation", {"date": "2024-03-15"}, {"bp_an", "glucose_an"}),
    ("Observation", {"date": "2024-03-15T01:30:00Z"}, {"bp_an"}),
    ("Observation", {"date": "ge2024-05-01"}, {"bp_binh", "hbsag_binh", "lmp_binh"}),
    ("Observation", {"date": "lt2024"}, {"glucose_binh", "hbsag_an"}),
    ("Observation", {"date": "sa2023-12-31"},
     {"weight_an", "bp_an", "glucose_an", "bp_binh", "hbsag_binh", "lmp_binh"}),
    ("Observation", {"date": "eb2024-01-15"}, {"glucose_binh", "hbsag_an"}),
    ("Observation", {"date": "2024-01"}, {"weight_an"}),
    ("Observation", {"date": "2024-01-10"}, set()),
    ("Observation", {"date": "le2024-01-10"}, {"weight_an", "glucose_binh", "hbsag_an"}),
    ("Observation", {"code": "2339-0", "date": "ne2024-03-15"}, {"glucose_binh"}),
    ("Observation", {"date": "ge2024-01-01", "_lastUpdated": "gt2000"},
     {"weight_an", "bp_an", "glucose_an", "bp_binh", "hbsag_binh", "lmp_binh"}),
    ("Condition", {"onset-date": "lt2020"}, {"cond_dm"}),
    ("Condition", {"onset-date": "2019"}, {"cond_dm"}),
    ("Condition", {"recorded-date": "2024-03"}, {"cond_dm"}),
    ("Condition", {"abatement-date": "le2023-01-01"}, {"cond_htn"}),
    ("MedicationRequest", {"authoredon": "gt2024-01-01"}, {"mr_an", "mr_paracetamol"}),
    ("Procedure", {"date": "2024-02"}, {"proc_an"}),
    ("Immunization", {"date": "2021-08"}, {"imm_binh"}),
    ("DiagnosticReport", {"issued": "ge2024-03-15T02:00:00Z"}, {"dr_an"}),
    ("DiagnosticReport", {"issued": "lt2024-03-15T02:00:00Z"}, set()),
    ("CarePlan", {"date": "2024-06-01"}, set()),  # eq: the plan's period is not inside
    ("CarePlan", {"date": "ge2024-06-01"}, {"careplan_an"}),
    ("CarePlan", {"date": "le2024-04-01"}, {"careplan_an"}),
    ("Composition", {"date": "2024-03-20"}, {"discharge_an"}),
    ("Specimen", {"collected": "2024-03-15"}, {"specimen_an"}),
    ("ServiceRequest", {"occurrence": "2024-03-15"}, {"sr_an"}),
    ("Appointment", {"date": "ge2024-04-01T01:00:00Z"}, {"appt_an"}),
    ("Appointment", {"date": "gt2024-04-02"}, set()),
    ("QuestionnaireResponse", {"authored": "2024-03-16"}, {"qr_an"}),
    ("Claim", {"created": "2024-03"}, {"claim_an"}),
    ("RiskAssessment", {"date": "2024-05-02"}, {"risk_binh"}),
    ("AllergyIntolerance", {"date": "2021"}, {"allergy_an"}),
    # reference: id, Type/id, absolute (this server), :Type, :identifier, canonical
    ("Observation", {"subject": "Patient/{an}"},
     {"bp_an", "glucose_an", "weight_an", "hbsag_an"}),
    ("Observation", {"patient": "{binh}"}, {"bp_binh", "glucose_binh", "hbsag_binh", "lmp_binh"}),
    ("Observation", {"subject:Patient": "{binh}", "code": "2339-0"}, {"glucose_binh"}),
    ("Observation", {"performer": "Practitioner/{doctor}"}, {"glucose_an"}),
    ("Observation", {"encounter": "{enc_an}"}, {"glucose_an"}),
    ("Procedure", {"location": "Location/{loc_bachmai}"}, {"proc_an"}),
    ("Appointment", {"actor": "Location/{loc_bachmai}"}, {"appt_an"}),
    ("Appointment", {"practitioner": "{doctor}", "patient": "{an}"}, {"appt_an"}),
    ("Claim", {"provider": "Organization/{bachmai}", "patient": "{an}"}, {"claim_an"}),
    ("Coverage", {"payor": "Organization/{bhxh}", "beneficiary": "{an}"}, {"cov_an"}),
    ("DiagnosticReport", {"result": "Observation/{glucose_an}"}, {"dr_an"}),
    ("CarePlan", {"condition": "{cond_dm}"}, {"careplan_an"}),
    ("Composition", {"author": "{doctor}", "encounter": "{enc_an}"}, {"discharge_an"}),
    ("MedicationRequest", {"medication": "Medication/{med_amlodipine}"}, {"mr_binh"}),
    ("MedicationRequest", {"requester": "{doctor}", "subject": "{an}"}, {"mr_an"}),
    ("Immunization", {"patient": "Patient/{binh}"}, {"imm_binh"}),
    ("Specimen", {"subject": "{an}"}, {"specimen_an"}),
    ("MolecularSequence", {"patient": "{an}"}, {"seq_an"}),
    ("RiskAssessment", {"subject": "Patient/{binh}"}, {"risk_binh"}),
    ("QuestionnaireResponse", {"questionnaire": PHQ9}, {"qr_an"}),
    ("QuestionnaireResponse", {"author": "{doctor}", "patient": "{an}"}, {"qr_an"}),
    # quantity: number, number|system|code, number||unit, prefixes, components
    ("Observation", {"value-quantity": "7.2"}, {"glucose_an"}),
    ("Observation", {"value-quantity": "7"}, {"glucose_an"}),  # 7 is [6.5, 7.5)
    ("Observation", {"value-quantity": "7.0"}, set()),
    ("Observation", {"value-quantity": "ap7"}, {"glucose_an"}),
    ("Observation", {"value-quantity": f"gt6|{UCUM}|mmol/L"}, {"glucose_an"}),
    ("Observation", {"value-quantity": f"lt6|{UCUM}|mmol/L"}, {"glucose_binh"}),
    ("Observation", {"value-quantity": "le7.2||mmol/L"}, {"glucose_an", "glucose_binh"}),
    ("Observation", {"value-quantity": f"65|{UCUM}|kg"}, {"weight_an"}),
    ("Observation", {"value-quantity": "65||kilogram"}, {"weight_an"}),
    ("Observation", {"value-quantity": f"65|{UCUM}|mmol/L"}, set()),
    ("Observation", {"value-quantity": f"ge100|{UCUM}|mm[Hg]"}, set()),
    ("Observation", {"component-value-quantity": f"gt130|{UCUM}|mm[Hg]"}, {"bp_an"}),
    ("Observation", {"combo-value-quantity": "gt100"}, {"bp_an", "bp_binh"}),
    ("Questionnaire", {"context-quantity": f"18|{UCUM}|a"}, {"phq9"}),
    # number
    ("RiskAssessment", {"probability": "gt0.2"}, {"risk_an"}),
    ("RiskAssessment", {"probability": "0.27"}, {"risk_an"}),
    ("RiskAssessment", {"probability": "lt0.1"}, {"risk_binh"}),
    ("RiskAssessment", {"probability": "0.3"}, {"risk_an"}),  # [0.25, 0.35)
    ("RiskAssessment", {"probability": "0.30"}, set()),
    ("MolecularSequence", {"variant-start": "12345"}, {"seq_an"}),
    ("MolecularSequence", {"window-start": "ge10000", "window-end": "le20000"}, {"seq_an"}),
    ("MolecularSequence", {"window-end": "lt20000"}, {"seq_ref"}),
    # uri: exact, :below, :above
    ("Questionnaire", {"url": PHQ9}, {"phq9"}),
    ("Questionnaire", {"url": "http://benhvien-bachmai.vn/fhir"}, set()),
    ("Questionnaire", {"url:below": "http://benhvien-bachmai.vn/fhir"}, {"phq9"}),
    ("Questionnaire", {"url:above": f"{PHQ9}/_history/2"}, {"phq9"}),
    ("Questionnaire", {"definition": PHQ9_ITEM}, {"phq9"}),
    ("Procedure", {"instantiates-uri": PROTOCOL}, {"proc_an"}),
    # composite: token$quantity, token$token, token$date, token$number$number
    ("Observation", {"component-code-value-quantity": f"{LOINC}|8480-6$gt130"}, {"bp_an"}),
    ("Observation", {"component-code-value-quantity": "8480-6$gt100"}, {"bp_an", "bp_binh"}),
    # 140 is the systolic value: the diastolic component must hold both parts
    ("Observation", {"component-code-value-quantity": "8462-4$gt130"}, set()),
    ("Observation", {"component-code-value-quantity": f"8462-4$lt80|{UCUM}|mm[Hg]"},
     {"bp_binh"}),
    ("Observation", {"code-value-quantity": f"2339-0$gt6|{UCUM}|mmol/L"}, {"glucose_an"}),
    ("Observation", {"code-value-quantity": "29463-7$gt6"}, {"weight_an"}),
    ("Observation", {"combo-code-value-quantity": "8480-6$gt130"}, {"bp_an"}),
    ("Observation", {"combo-code-value-quantity": "2339-0$gt6"}, {"glucose_an"}),
    ("Observation", {"code-value-concept": f"{LOINC}|5196-1${SNOMED}|260385009"}, {"hbsag_an"}),
    ("Observation", {"code-value-concept": "5196-1$10828004"}, {"hbsag_binh"}),
    ("Observation", {"code-value-concept": "5196-1$260385009,5196-1$10828004"},
     {"hbsag_an", "hbsag_binh"}),
    ("Observation", {"code-value-concept": "2339-0$260385009"}, set()),
    ("Observation", {"code-value-date": "8665-2$lt2024-05"}, {"lmp_binh"}),
    ("Observation", {"code-value-date": "8665-2$2024-04-10"}, {"lmp_binh"}),
    ("Observation", {"code-value-date": "8665-2$gt2024-05"}, set()),
    ("Questionnaire", {"context-type-value": f"focus${SNOMED}|35489007"}, {"phq9"}),
    ("Questionnaire", {"context-type-quantity": "age$ge18"}, {"phq9"}),
    ("Questionnaire", {"context-type-quantity": "age$gt18"}, set()),
    ("MolecularSequence", {"chromosome-window-coordinate": "1$le12000$ge18000"}, {"seq_an"}),
    ("MolecularSequence", {"chromosome-window-coordinate": "2$le12000$ge18000"}, set()),
    ("MolecularSequence", {"chromosome-variant-coordinate": "1$ge12000$le13000"}, {"seq_an"}),
    ("MolecularSequence", {"referenceseqid-variant-coordinate": "NC_000001.11$5500$5501"},
     {"seq_ref"}),
    ("MolecularSequence", {"referenceseqid-variant-coordinate": "NC_000001.11$12345$12346"},
     set()),
    # special: Location?near=latitude|longitude|distance|units (from Hoàn Kiếm lake)
    ("Location", {"near": "21.0288|105.8522|1|km"}, {"loc_vietduc"}),
    ("Location", {"near": "21.0288|105.8522|5|km"}, {"loc_vietduc", "loc_bachmai"}),
    ("Location", {"near": "21.0288|105.8522|5000|m"}, {"loc_vietduc", "loc_bachmai"}),
    ("Location", {"near": "21.0288|105.8522|2000|m"}, {"loc_vietduc"}),
    ("Location", {"near": "21.0288|105.8522"}, {"loc_vietduc", "loc_bachmai"}),  # default 10 km
    ("Location", {"near": "21.0288|105.8522|600|km"}, {"loc_vietduc", "loc_bachmai", "loc_hue"}),
    ("Location", {"near": "21.0288|105.8522|400|[mi_i]"},
     {"loc_vietduc", "loc_bachmai", "loc_hue"}),
    ("Location", {"near": "21.0288|105.8522|300|[mi_i]"}, {"loc_vietduc", "loc_bachmai"}),
    ("Location", {"near": "10.7769|106.7009|10|km"}, {"loc_choray"}),
    ("Location", {"near": "10.7769|106.7009|10|km", "name": "benh vien cho"}, {"loc_choray"}),
    ("Location", {"near": "10.7769|106.7009|10|km,21.0288|105.8522|1|km"},
     {"loc_choray", "loc_vietduc"}),
    ("Location", {"near": "0|0|100|km"}, set()),
    # chains across the new types
    ("Observation", {"subject:Patient.identifier": f"{CCCD}|{{an_cccd}}"},
     {"bp_an", "glucose_an", "weight_an", "hbsag_an"}),
    ("Observation", {"patient.name": "binh", "code": "2339-0"}, {"glucose_binh"}),
    ("MedicationRequest", {"medication.code": f"{ATC}|A10BA02"}, {"mr_an"}),
    ("MedicationRequest", {"requester:Practitioner.name": "hoa"},
     {"mr_an", "mr_binh", "mr_paracetamol"}),
    ("DiagnosticReport", {"result.code": "2339-0"}, {"dr_an"}),
    ("DiagnosticReport", {"result.value-quantity": "gt7"}, {"dr_an"}),
    ("DiagnosticReport", {"result.subject:Patient.gender": "male"}, {"dr_an"}),
    ("DiagnosticReport", {"result.subject:Patient.gender": "female"}, set()),
    ("Procedure", {"location.address-city": "ha noi"}, {"proc_an"}),
    ("Procedure", {"location.near": "21.0288|105.8522|5|km"}, {"proc_an"}),
    ("Immunization", {"patient.gender": "female"}, {"imm_binh"}),
    ("Claim", {"provider:Organization.name": "benh vien bach", "patient.birthdate": "1985"},
     {"claim_an"}),
    ("Coverage", {"payor:Organization.name": "bao hiem"}, {"cov_an"}),
    ("CarePlan", {"condition.code": f"{ICD10}|E11"}, {"careplan_an"}),
    ("Appointment", {"location.name": "benh vien bach"}, {"appt_an"}),
    # _has with the new types (and nested)
    ("Patient", {"_has:Observation:patient:code": "2339-0"}, {"an", "binh"}),
    ("Patient", {"_has:Observation:patient:value-quantity": "gt6"}, {"an"}),
    ("Patient", {"_has:Observation:patient:component-code-value-quantity": "8480-6$gt130"},
     {"an"}),
    ("Patient", {"_has:Condition:patient:code": f"{ICD10}|I10"}, {"binh"}),
    ("Patient", {"_has:Immunization:patient:vaccine-code": "208"}, {"binh"}),
    ("Patient", {"_has:Observation:patient:_has:DiagnosticReport:result:status": "final"},
     {"an"}),
    ("Medication", {"_has:MedicationRequest:medication:status": "active"}, {"med_metformin"}),
    ("Practitioner", {"_has:Appointment:practitioner:status": "booked"}, {"doctor"}),
    ("Location", {"_has:Procedure:location:code": "80146002"}, {"loc_bachmai"}),
    ("Organization", {"_has:Coverage:payor:status": "active"}, {"bhxh"}),
    ("Condition", {"_has:CarePlan:condition:status": "active"}, {"cond_dm"}),
    # :missing
    ("Observation", {"subject:missing": "true"}, {"note"}),
    ("Observation", {"date:missing": "true"}, {"note"}),
    ("Observation", {"component-code-value-quantity:missing": "false"}, {"bp_an", "bp_binh"}),
    ("Observation", {"value-quantity:missing": "false", "patient": "{binh}"}, {"glucose_binh"}),
    ("MedicationRequest", {"medication:missing": "true"}, {"mr_paracetamol"}),
    ("MedicationRequest", {"medication:missing": "false"}, {"mr_an", "mr_binh"}),
    ("Condition", {"abatement-date:missing": "false"}, {"cond_htn"}),
    ("Condition", {"abatement-date:missing": "true"}, {"cond_dm"}),
    ("Location", {"near:missing": "true"}, {"loc_kho"}),
    ("Location", {"near:missing": "false"},
     {"loc_bachmai", "loc_vietduc", "loc_choray", "loc_hue"}),
    ("Immunization", {"lot-number:missing": "false"}, {"imm_an", "imm_binh"}),
    ("Questionnaire", {"url:missing": "false"}, {"phq9"}),
    ("RiskAssessment", {"probability:missing": "true"}, set()),
]


@pytest.mark.parametrize(("resource_type", "params", "keys"), CASES,
                         ids=[f"{t}?{'&'.join(f'{k}={v}' for k, v in p.items())}"
                              for t, p, _ in CASES])
def test_search(client, ids, resource_type, params, keys):
    assert _found(client, ids, f"/{resource_type}", params) == expected(ids, keys)


def test_the_cases_cover_twenty_new_types_and_every_parameter_type():
    new_types = {t for t, _, _ in CASES} - {"Patient", "Practitioner", "Organization"}
    assert len(new_types) >= 20, sorted(new_types)


@pytest.mark.parametrize(
    ("resource_type", "params", "name"),
    [
        ("Location", {"near": "91|105.8522|1|km"}, "near"),
        ("Location", {"near": "21.0288|181|1|km"}, "near"),
        ("Location", {"near": "21.0288"}, "near"),
        ("Location", {"near": "bac|ninh|1|km"}, "near"),
        ("Location", {"near": "21.0288|105.8522|-1|km"}, "near"),
        ("Location", {"near": "21.0288|105.8522|1|parsec"}, "near"),
        ("Location", {"near": "21.0288|105.8522|xa|km"}, "near"),
        ("Location", {"near": "21.0288|105.8522|1|km|extra"}, "near"),
        ("Location", {"near:exact": "21.0288|105.8522"}, "near"),
        ("Observation", {"component-code-value-quantity": "8480-6"},
         "component-code-value-quantity"),
        ("Observation", {"component-code-value-quantity": "8480-6$cao"},
         "component-code-value-quantity"),
        ("Observation", {"code-value-date": "8665-2$2024-13-45"}, "code-value-date"),
        ("Observation", {"value-quantity": "bay|http://unitsofmeasure.org|mmol/L"},
         "value-quantity"),
        ("Observation", {"value-quantity": "7|mmol/L"}, "value-quantity"),
        ("Observation", {"date": "15/03/2024"}, "date"),
        ("RiskAssessment", {"probability": "cao"}, "probability"),
        ("Condition", {"clinical-status:contains": "act"}, "clinical-status"),
        ("Observation", {"subject:missing": "maybe"}, "subject"),
    ],
)
def test_bad_values_are_a_400_naming_the_parameter(client, ids, resource_type, params, name):
    assert_bad_parameter(client.get(f"/{resource_type}", params=params), name)


def test_include_medication_of_medication_requests(client, ids):
    bundle = search(client, "/MedicationRequest",
                    {"_include": "MedicationRequest:medication"}, STRICT)
    assert {r["id"] for r in matches(bundle)} == expected(
        ids, {"mr_an", "mr_binh", "mr_paracetamol"})
    assert {(r["resourceType"], r["id"]) for r in included(bundle)} == {
        ("Medication", ids["med_metformin"]), ("Medication", ids["med_amlodipine"])}


def test_revinclude_observations_of_a_patient(client, ids):
    bundle = search(client, "/Patient", {"_id": ids["binh"],
                                        "_revinclude": "Observation:subject"}, STRICT)
    assert [r["id"] for r in matches(bundle)] == [ids["binh"]]
    assert {(r["resourceType"], r["id"]) for r in included(bundle)} == {
        ("Observation", ids[k]) for k in ("bp_binh", "glucose_binh", "hbsag_binh", "lmp_binh")}


def test_include_iterate_from_report_to_result_to_performer(client, ids):
    bundle = search(client, "/DiagnosticReport",
                    [("code", "24323-8"), ("_include", "DiagnosticReport:result"),
                     ("_include:iterate", "Observation:performer")], STRICT)
    assert [r["id"] for r in matches(bundle)] == [ids["dr_an"]]
    assert {(r["resourceType"], r["id"]) for r in included(bundle)} == {
        ("Observation", ids["glucose_an"]), ("Practitioner", ids["doctor"])}


def test_include_and_revinclude_across_claim_coverage_and_organizations(client, ids):
    bundle = search(client, "/Coverage", [("_include", "Coverage:payor"),
                                          ("_include", "Coverage:beneficiary")], STRICT)
    assert [r["id"] for r in matches(bundle)] == [ids["cov_an"]]
    assert {(r["resourceType"], r["id"]) for r in included(bundle)} == {
        ("Organization", ids["bhxh"]), ("Patient", ids["an"])}
    bundle = search(client, "/Medication", {"_revinclude": "MedicationRequest:medication",
                                           "code": "A10BA02"}, STRICT)
    assert {(r["resourceType"], r["id"]) for r in included(bundle)} == {
        ("MedicationRequest", ids["mr_an"])}
    bundle = search(client, "/Location", {"near": "21.0288|105.8522|1|km",
                                         "_revinclude": "Appointment:location"}, STRICT)
    assert included(bundle) == []
    bundle = search(client, "/Location", {"name": "benh vien bach mai",
                                         "_revinclude": "Appointment:location"}, STRICT)
    assert {(r["resourceType"], r["id"]) for r in included(bundle)} == {
        ("Appointment", ids["appt_an"])}


@pytest.mark.parametrize(
    ("resource_type", "params", "keys"),
    [
        ("Observation", {"code": "85354-9,2339-0", "_sort": "-date"},
         ["bp_binh", "glucose_an", "bp_an", "glucose_binh"]),
        ("Observation", {"code": "85354-9,2339-0", "_sort": "date", "_count": "1"},
         ["glucose_binh", "bp_an", "glucose_an", "bp_binh"]),
        ("MedicationRequest", {"_sort": "authoredon"}, ["mr_binh", "mr_an", "mr_paracetamol"]),
        ("MedicationRequest", {"_sort": "-authoredon", "_count": "2"},
         ["mr_paracetamol", "mr_an", "mr_binh"]),
        ("Immunization", {"_sort": "-date"}, ["imm_an", "imm_binh"]),
        ("Condition", {"_sort": "onset-date"}, ["cond_dm", "cond_htn"]),
        ("RiskAssessment", {"_sort": "-probability"}, ["risk_an", "risk_binh"]),
    ],
)
def test_sort_by_a_date_or_number_of_a_new_type(client, ids, resource_type, params, keys):
    assert ordered_ids(client, f"/{resource_type}", params, STRICT) == [ids[k] for k in keys]


def test_searches_by_post_form_body_on_a_new_type(client, ids):
    response = client.post("/Observation/_search",
                           data={"component-code-value-quantity": "8480-6$gt130"},
                           headers=STRICT)
    assert response.status_code == 200, response.text
    assert [e["resource"]["id"] for e in response.json()["entry"]] == [ids["bp_an"]]
