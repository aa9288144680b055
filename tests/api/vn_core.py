"""VN Core (Ministry of Health) profile instances for the HTTP tests."""

import copy

from api.helpers import unique_cccd

VN_CORE = "http://fhir.ehealth.gov.vn/core/StructureDefinition/"
VN_CORE_PATIENT = VN_CORE + "vn-core-patient"
NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def vn_core_patient(**extra) -> dict:
    """A Patient that conforms to VN Core: IPS's name and birthDate, the CCCD slice with
    its fixed use, type and system, a name text."""
    patient = {
        "resourceType": "Patient",
        "identifier": [{
            "use": "official",
            "type": {"coding": [{"system": V2_0203, "code": "NI",
                                 "display": "National unique individual identifier"}]},
            "system": NATIONAL_ID,
            "value": unique_cccd(),
        }],
        "name": [{"text": "Nguyễn Văn An", "family": "Nguyễn", "given": ["Văn", "An"]}],
        "gender": "male",
        "birthDate": "1985-03-12",
        "address": [{"text": "12 Phố Huế, Hai Bà Trưng, Hà Nội", "country": "VN"}],
    }
    patient.update(copy.deepcopy(extra))
    return patient


def without_name_text(patient: dict) -> dict:
    """The same Patient breaking one VN Core rule: Patient.name.text is 1..1."""
    broken = copy.deepcopy(patient)
    del broken["name"][0]["text"]
    return broken
