"""Clinical code tables of the synthetic bulk data set, with Vietnamese texts: vital signs and
laboratory tests (LOINC, UCUM units), medicines (WHO ATC), procedures and allergies
(SNOMED CT) and vaccines (CVX), keyed by the ICD-10 diagnoses of `examples.vietnam`."""

from dataclasses import dataclass

SNOMED_SYSTEM = "http://snomed.info/sct"
ATC_SYSTEM = "http://www.whocc.no/atc"
CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
UCUM_SYSTEM = "http://unitsofmeasure.org"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
VN_CORE = "http://fhir.ehealth.gov.vn/core/StructureDefinition/"


@dataclass(frozen=True)
class Test:
    """An observation code (LOINC) and the values it usually takes."""

    code: str
    display: str
    text: str
    unit: str  # UCUM
    usual: tuple[float, float, float]  # lowest, highest, most common
    decimals: int = 0
    profile: str = "us-core-observation-lab"


HEART_RATE = Test("8867-4", "Heart rate", "Mạch", "/min", (58, 110, 80), 0, "us-core-heart-rate")
TEMPERATURE = Test("8310-5", "Body temperature", "Nhiệt độ", "Cel", (36.2, 37.4, 36.8), 1,
                   "us-core-body-temperature")
RESPIRATORY_RATE = Test("9279-1", "Respiratory rate", "Nhịp thở", "/min", (14, 24, 18), 0,
                        "us-core-respiratory-rate")
OXYGEN_SATURATION = Test("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry",
                         "SpO2", "%", (93, 100, 98), 0, "us-core-pulse-oximetry")
BODY_WEIGHT = Test("29463-7", "Body weight", "Cân nặng", "kg", (42, 85, 56), 1,
                   "us-core-body-weight")
VITAL_SIGNS = (HEART_RATE, TEMPERATURE, RESPIRATORY_RATE, OXYGEN_SATURATION, BODY_WEIGHT)
BLOOD_PRESSURE = ("85354-9", "Blood pressure panel with all children optional", "Huyết áp")
SYSTOLIC = Test("8480-6", "Systolic blood pressure", "Huyết áp tâm thu", "mm[Hg]",
                (100, 139, 118))
DIASTOLIC = Test("8462-4", "Diastolic blood pressure", "Huyết áp tâm trương", "mm[Hg]",
                 (60, 89, 74))
HYPERTENSIVE_SYSTOLIC, HYPERTENSIVE_DIASTOLIC = (140, 185, 152), (88, 115, 94)
FEVER = (37.8, 40.2, 38.7)
HYPERTENSIVE_DIAGNOSES = {"I10", "I50.9", "I21.9", "I63.9"}
FEVER_DIAGNOSES = {"A91", "A09", "J06.9", "J18.9", "N39.0"}


@dataclass(frozen=True)
class Panel:
    """A laboratory report (LOINC panel) and its tests."""

    code: str
    display: str
    text: str
    tests: tuple[Test, ...]


BLOOD_COUNT = Panel("58410-2", "CBC panel - Blood by Automated count",
                    "Tổng phân tích tế bào máu ngoại vi", (
    Test("718-7", "Hemoglobin [Mass/volume] in Blood", "Huyết sắc tố", "g/dL", (9, 16, 13.2), 1),
    Test("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "Số lượng bạch cầu",
         "10*3/uL", (3, 18, 8), 1),
    Test("777-3", "Platelets [#/volume] in Blood by Automated count", "Số lượng tiểu cầu",
         "10*3/uL", (25, 420, 230)),
))
PANELS_BY_DIAGNOSIS = {
    "E11.9": Panel("55399-0", "Diabetes tracking panel", "Xét nghiệm theo dõi đái tháo đường", (
        Test("15074-8", "Glucose [Moles/volume] in Blood", "Glucose máu", "mmol/L",
             (5.6, 15, 8.4), 1),
        Test("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "HbA1c", "%",
             (6, 11, 7.4), 1),
    )),
    "E78.5": Panel("57698-3", "Lipid panel with direct LDL - Serum or Plasma", "Bộ mỡ máu", (
        Test("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma", "Cholesterol toàn phần",
             "mmol/L", (4.4, 8.5, 6.1), 1),
        Test("14927-8", "Triglyceride [Moles/volume] in Serum or Plasma", "Triglycerid",
             "mmol/L", (1.2, 5.5, 2.4), 1),
    )),
    "B18.1": Panel("24325-3", "Hepatic function 2000 panel - Serum or Plasma",
                   "Xét nghiệm chức năng gan", (
        Test("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
             "ALT (GPT)", "U/L", (18, 220, 62)),
        Test("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or "
             "Plasma", "AST (GOT)", "U/L", (18, 190, 55)),
    )),
}

# ATC code: (INN, Vietnamese product, dosage instruction)
MEDICINES = {
    "C08CA01": ("amlodipine", "Amlodipin 5 mg", "Uống 1 viên/ngày vào buổi sáng"),
    "A10BA02": ("metformin", "Metformin 500 mg", "Uống 1 viên x 2 lần/ngày sau ăn"),
    "C10AA05": ("atorvastatin", "Atorvastatin 20 mg", "Uống 1 viên/ngày vào buổi tối"),
    "N02BE01": ("paracetamol", "Paracetamol 500 mg",
                "Uống 1 viên khi sốt trên 38,5 °C, cách nhau ít nhất 4 giờ"),
    "J01CA04": ("amoxicillin", "Amoxicilin 500 mg", "Uống 1 viên x 3 lần/ngày trong 7 ngày"),
    "A02BC01": ("omeprazole", "Omeprazol 20 mg", "Uống 1 viên trước ăn sáng 30 phút"),
    "R03AC02": ("salbutamol", "Salbutamol 100 mcg/liều xịt", "Xịt 2 nhát khi khó thở"),
    "J05AF07": ("tenofovir disoproxil", "Tenofovir 300 mg", "Uống 1 viên/ngày"),
    "C03CA01": ("furosemide", "Furosemid 40 mg", "Uống 1 viên vào buổi sáng"),
    "B01AC06": ("acetylsalicylic acid", "Aspirin 81 mg", "Uống 1 viên/ngày sau ăn trưa"),
}
MEDICINE_BY_DIAGNOSIS = {
    "I10": "C08CA01", "E11.9": "A10BA02", "E78.5": "C10AA05", "J06.9": "N02BE01",
    "A91": "N02BE01", "A09": "N02BE01", "J18.9": "J01CA04", "N39.0": "J01CA04",
    "K29.7": "A02BC01", "J45.9": "R03AC02", "J44.1": "R03AC02", "B18.1": "J05AF07",
    "I50.9": "C03CA01", "I21.9": "B01AC06", "I63.9": "B01AC06", "M54.5": "N02BE01",
}

# ICD-10 diagnosis: (SNOMED CT procedure, display, Vietnamese text)
PROCEDURE_BY_DIAGNOSIS = {
    "K35.8": ("80146002", "Appendectomy", "Phẫu thuật cắt ruột thừa"),
    "S72.0": ("52734007", "Total replacement of hip", "Phẫu thuật thay khớp háng"),
    "S52.5": ("274474001", "Bone immobilization", "Bó bột cẳng tay"),
    "S06.0": ("77477000", "Computerized axial tomography", "Chụp cắt lớp vi tính sọ não"),
    "I63.9": ("77477000", "Computerized axial tomography", "Chụp cắt lớp vi tính sọ não"),
    "I21.9": ("29303009", "Electrocardiographic procedure", "Đo điện tâm đồ"),
    "I50.9": ("29303009", "Electrocardiographic procedure", "Đo điện tâm đồ"),
    "J18.9": ("399208008", "Plain chest X-ray", "Chụp X-quang ngực thẳng"),
    "J44.1": ("399208008", "Plain chest X-ray", "Chụp X-quang ngực thẳng"),
    "R10.4": ("16310003", "Diagnostic ultrasonography", "Siêu âm ổ bụng"),
}

# (SNOMED CT code, display, Vietnamese text, AllergyIntolerance.category)
ALLERGIES = (
    ("91936005", "Allergy to penicillin", "Dị ứng penicilin", "medication"),
    ("293586001", "Allergy to aspirin", "Dị ứng aspirin", "medication"),
    ("300913006", "Shellfish allergy", "Dị ứng hải sản có vỏ", "food"),
    ("91935009", "Allergy to peanuts", "Dị ứng lạc (đậu phộng)", "food"),
    ("232347008", "Dander (animal) allergy", "Dị ứng lông động vật", "environment"),
)
REACTIONS = (  # SNOMED CT manifestation, display, Vietnamese text
    ("271807003", "Eruption of skin", "Phát ban"),
    ("126485001", "Urticaria", "Mày đay"),
    ("267036007", "Dyspnea", "Khó thở"),
)

# (CVX code, display, Vietnamese text): the expanded programme for children, others for adults
CHILD_VACCINES = (
    ("19", "BCG", "Vắc xin phòng lao (BCG)"),
    ("08", "Hep B, adolescent or pediatric", "Vắc xin viêm gan B"),
    ("05", "measles", "Vắc xin sởi"),
    ("134", "Japanese Encephalitis IM", "Vắc xin viêm não Nhật Bản"),
)
ADULT_VACCINES = (
    ("140", "Influenza, seasonal, injectable, preservative free", "Vắc xin cúm mùa"),
    ("208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, "
     "30 mcg/0.3mL dose", "Vắc xin COVID-19"),
    ("115", "Tdap", "Vắc xin uốn ván - bạch hầu - ho gà"),
)
