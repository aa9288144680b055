"""Which records an IPS `$summary` holds as current is read from their status codes of HL7's
code systems (R4's required bindings: condition-clinical, condition-ver-status,
allergyintolerance-...), wherever those codings stand among a hospital's own."""

from search.helpers import load

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
LOCAL = "http://benhvien-bachmai.vn/fhir/CodeSystem/trang-thai"
PROBLEMS, PAST_PROBLEMS, ALLERGIES = "11450-4", "11348-0", "48765-2"


def _status(local: str, system: str, code: str) -> dict:
    return {"coding": [{"system": LOCAL, "code": local}, {"system": system, "code": code}]}


def test_a_status_coded_by_the_hospital_first_is_read_from_hl7s_coding(client):
    """A resolved pneumonia and a refuted tuberculosis, each with the hospital's own coding
    first, were listed as active problems (and the resolved allergy as current): the first
    coding's code was read, whatever its system."""
    ids = load(client, {"nga": {"resourceType": "Patient", "name": [{"family": "Ngà"}]}})
    subject = {"reference": f"Patient/{ids['nga']}"}
    ids |= load(client, {
        "resolved": {"resourceType": "Condition", "subject": subject,
                     "code": {"text": "Viêm phổi"},
                     "clinicalStatus": _status("khoi", CLINICAL, "resolved")},
        "refuted": {"resourceType": "Condition", "subject": subject, "code": {"text": "Lao"},
                    "verificationStatus": _status("loai-tru", VERIFICATION, "refuted")},
        "active": {"resourceType": "Condition", "subject": subject,
                   "code": {"text": "Tăng huyết áp"},
                   "clinicalStatus": _status("dang-dieu-tri", CLINICAL, "active")},
        "outgrown": {"resourceType": "AllergyIntolerance", "patient": subject,
                     "code": {"text": "Sữa bò"},
                     "clinicalStatus": _status("het", ALLERGY_CLINICAL, "resolved")},
    })
    response = client.get(f"/Patient/{ids['nga']}/$summary")
    assert response.status_code == 200, response.text
    sections = {section["code"]["coding"][0]["code"]: {
        entry["reference"] for entry in section.get("entry", [])}
        for section in response.json()["entry"][0]["resource"]["section"]}
    assert sections[PROBLEMS] == {f"Condition/{ids['active']}"}
    assert sections[PAST_PROBLEMS] == {f"Condition/{ids['resolved']}"}
    assert sections[ALLERGIES] == set()
