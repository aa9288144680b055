"""Compartment search in all five R4 compartments (http://hl7.org/fhir/R4/search.html#
searchcontexts, http://hl7.org/fhir/R4/compartmentdefinition.html): `GET [Compartment]/[id]/
[type]` finds the resources of that type that the CompartmentDefinition's parameters link to
the focal resource (Patient: Observation.subject and .performer; Encounter:
Observation.encounter; Practitioner: Encounter.practitioner/participant; RelatedPerson:
Observation.performer, Coverage.policy-holder; Device: Observation.subject and .device...),
combined with other parameters, paged, and following updates and deletes.

Data set: a Hà Nội family (An, his mother Mai as a RelatedPerson, his sister Bình), two
doctors, a blood pressure monitor; An's inpatient stay with doctor Hoa, a home visit where his
mother took the reading, Bình's visit to doctor Minh; observations, a condition, an order, a
procedure, a care plan, a report, an appointment and the family's health insurance.
"""

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome
from search.helpers import LOINC, expected, fill, found, load, paged, ref
from security.helpers import fhir_client

STRICT = {"Prefer": "handling=strict"}
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"


def _observation(code: str, subject: str, encounter: str | None = None,
                 performer: str | None = None, device: str | None = None) -> dict:
    observation = {"resourceType": "Observation", "status": "final",
                   "code": {"coding": [{"system": LOINC, "code": code}]},
                   "subject": ref(subject), "effectiveDateTime": "2024-03-15T08:00:00+07:00"}
    if encounter:
        observation["encounter"] = ref(encounter)
    if performer:
        observation["performer"] = [ref(performer)]
    if device:
        observation["device"] = ref(device)
    return observation


def _encounter(subject: str, participant: str, kind: str) -> dict:
    return {"resourceType": "Encounter", "status": "finished",
            "class": {"system": ACT_CODE, "code": kind}, "subject": ref(subject),
            "participant": [{"individual": ref(participant)}]}


DATA = {
    "an": {"resourceType": "Patient", "name": [{"family": "Nguyễn", "given": ["Văn", "An"]}],
           "gender": "male", "birthDate": "1985-03-12"},
    "binh": {"resourceType": "Patient", "name": [{"family": "Nguyễn", "given": ["Thị", "Bình"]}],
             "gender": "female", "birthDate": "1990-07-04"},
    "mother": {"resourceType": "RelatedPerson", "patient": ref("an"),
               "relationship": [{"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                   "code": "MTH"}]}],
               "name": [{"family": "Trần", "given": ["Thị", "Mai"]}]},
    "hoa": {"resourceType": "Practitioner", "name": [{"family": "Lê", "given": ["Thị", "Hoa"]}]},
    "minh": {"resourceType": "Practitioner", "name": [{"family": "Phạm", "given": ["Minh"]}]},
    "monitor": {"resourceType": "Device", "status": "active",
                "deviceName": [{"name": "Máy đo huyết áp Omron", "type": "user-friendly-name"}]},
    "bhxh": {"resourceType": "Organization", "name": "Bảo hiểm xã hội Việt Nam"},
    "stay": _encounter("an", "hoa", "IMP"),
    "home": _encounter("an", "mother", "HH"),
    "visit": _encounter("binh", "minh", "AMB"),
    # blood pressure in hospital, measured with the monitor
    "o_bp": _observation("85354-9", "an", "stay", "hoa", "monitor"),
    # glucose at home, measured by his mother
    "o_glucose": _observation("2339-0", "an", "home", "mother"),
    "o_binh": _observation("8867-4", "binh", "visit", "minh"),
    # the monitor's own calibration check, and Bình's weight as reported by An
    "o_device": _observation("69758-4", "monitor"),
    "o_reported": _observation("29463-7", "binh", performer="an"),
    "condition": {"resourceType": "Condition", "subject": ref("an"), "encounter": ref("stay"),
                  "asserter": ref("hoa"),
                  "code": {"coding": [{"system": ICD10, "code": "I10"}]}},
    "condition_binh": {"resourceType": "Condition", "subject": ref("binh"),
                       "asserter": ref("mother"),
                       "code": {"coding": [{"system": ICD10, "code": "J45"}]}},
    "order": {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
              "subject": ref("an"), "encounter": ref("stay"), "requester": ref("hoa"),
              "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc",
                                                        "code": "C08CA01"}]}},
    "procedure": {"resourceType": "Procedure", "status": "completed", "subject": ref("an"),
                  "encounter": ref("stay"), "performer": [{"actor": ref("hoa")}],
                  "code": {"coding": [{"system": SNOMED, "code": "80146002"}]}},
    "report": {"resourceType": "DiagnosticReport", "status": "final", "subject": ref("an"),
               "encounter": ref("stay"), "performer": [ref("hoa")],
               "code": {"coding": [{"system": LOINC, "code": "24323-8"}]},
               "result": [ref("o_bp")]},
    "careplan": {"resourceType": "CarePlan", "status": "active", "intent": "plan",
                 "subject": ref("an"), "encounter": ref("stay"),
                 "activity": [{"detail": {"status": "in-progress",
                                          "performer": [ref("mother")]}}]},
    "appointment": {"resourceType": "Appointment", "status": "booked",
                    "start": "2024-04-01T09:00:00+07:00", "end": "2024-04-01T09:30:00+07:00",
                    "participant": [{"actor": ref(a), "status": "accepted"}
                                    for a in ("an", "hoa", "mother", "monitor")]},
    "coverage": {"resourceType": "Coverage", "status": "active", "beneficiary": ref("an"),
                 "policyHolder": ref("mother"), "payor": [ref("bhxh")]},
}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, DATA)


@pytest.mark.parametrize(
    ("path", "params", "keys"),
    [
        # Patient: through subject, performer, patient, actor, beneficiary, link...
        ("Patient/{an}/Observation", {}, {"o_bp", "o_glucose", "o_reported"}),
        ("Patient/{binh}/Observation", {}, {"o_binh", "o_reported"}),
        ("Patient/{an}/Observation", {"code": f"{LOINC}|2339-0"}, {"o_glucose"}),
        ("Patient/{an}/Observation", {"encounter": "{stay}"}, {"o_bp"}),
        ("Patient/{an}/Encounter", {}, {"stay", "home"}),
        ("Patient/{an}/Condition", {}, {"condition"}),
        ("Patient/{an}/MedicationRequest", {}, {"order"}),
        ("Patient/{an}/Procedure", {}, {"procedure"}),
        ("Patient/{an}/DiagnosticReport", {}, {"report"}),
        ("Patient/{an}/CarePlan", {}, {"careplan"}),
        ("Patient/{an}/Appointment", {}, {"appointment"}),
        ("Patient/{an}/Coverage", {}, {"coverage"}),
        ("Patient/{an}/RelatedPerson", {}, {"mother"}),
        ("Patient/{an}/Patient", {}, {"an"}),
        ("Patient/{binh}/Appointment", {}, set()),
        # Encounter: through encounter (and the Encounter itself)
        ("Encounter/{stay}/Observation", {}, {"o_bp"}),
        ("Encounter/{home}/Observation", {}, {"o_glucose"}),
        ("Encounter/{stay}/Condition", {}, {"condition"}),
        ("Encounter/{stay}/MedicationRequest", {}, {"order"}),
        ("Encounter/{stay}/Procedure", {}, {"procedure"}),
        ("Encounter/{stay}/DiagnosticReport", {}, {"report"}),
        ("Encounter/{stay}/CarePlan", {}, {"careplan"}),
        ("Encounter/{stay}/Encounter", {}, {"stay"}),
        ("Encounter/{visit}/Condition", {}, set()),
        # Practitioner: through practitioner/participant, performer, asserter, requester...
        ("Practitioner/{hoa}/Encounter", {}, {"stay"}),
        ("Practitioner/{minh}/Encounter", {}, {"visit"}),
        ("Practitioner/{hoa}/Observation", {}, {"o_bp"}),
        ("Practitioner/{hoa}/Condition", {}, {"condition"}),
        ("Practitioner/{hoa}/MedicationRequest", {}, {"order"}),
        ("Practitioner/{hoa}/Procedure", {}, {"procedure"}),
        ("Practitioner/{hoa}/DiagnosticReport", {}, {"report"}),
        ("Practitioner/{hoa}/Appointment", {}, {"appointment"}),
        ("Practitioner/{minh}/Observation", {"status": "final"}, {"o_binh"}),
        ("Practitioner/{hoa}/Practitioner", {}, {"hoa"}),
        # RelatedPerson: through performer, participant, asserter, policy-holder, actor...
        ("RelatedPerson/{mother}/Observation", {}, {"o_glucose"}),
        ("RelatedPerson/{mother}/Encounter", {}, {"home"}),
        ("RelatedPerson/{mother}/Condition", {}, {"condition_binh"}),
        ("RelatedPerson/{mother}/CarePlan", {}, {"careplan"}),
        ("RelatedPerson/{mother}/Appointment", {}, {"appointment"}),
        ("RelatedPerson/{mother}/Coverage", {}, {"coverage"}),
        ("RelatedPerson/{mother}/RelatedPerson", {}, {"mother"}),
        # Device: through subject and device, actor
        ("Device/{monitor}/Observation", {}, {"o_bp", "o_device"}),
        ("Device/{monitor}/Observation", {"code": "69758-4"}, {"o_device"}),
        ("Device/{monitor}/Appointment", {}, {"appointment"}),
        ("Device/{monitor}/DiagnosticReport", {}, set()),
    ],
)
def test_compartment_search(client, ids, path, params, keys):
    query = {name: fill(value, ids) for name, value in params.items()}
    assert found(client, "/" + fill(path, ids), query, STRICT) == expected(ids, keys)


def test_a_compartment_search_pages(client, ids):
    pages = paged(client, f"/Patient/{ids['an']}/Observation", {"_count": "1"})
    assert len(pages) == 3
    assert all(len(page["entry"]) == 1 for page in pages)
    self_link = next(link["url"] for link in pages[0]["link"] if link["relation"] == "self")
    assert f"/Patient/{ids['an']}/Observation" in self_link


def test_a_compartment_search_by_post_answers_as_by_get(client, ids):
    """`POST [compartment]/[id]/[type]/_search` with a form body, query parameters too."""
    path = f"/Patient/{ids['an']}/Observation"
    get = client.get(path, params={"code": "2339-0", "_count": "5"})
    post = client.post(f"{path}/_search?_count=5", content=b"code=2339-0",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert get.status_code == post.status_code == 200, post.text
    assert [e["resource"]["id"] for e in post.json()["entry"]] == \
        [e["resource"]["id"] for e in get.json()["entry"]]
    assert post.json()["entry"]


@pytest.mark.parametrize(
    "path",
    [
        "Patient/{an}/Medication",
        "Patient/{an}/Organization",
        "Encounter/{stay}/Patient",
        "Encounter/{stay}/Appointment",
        "Practitioner/{hoa}/Coverage",
        "RelatedPerson/{mother}/MedicationRequest",
        "Device/{monitor}/Encounter",
        "Device/{monitor}/Condition",
    ],
)
def test_a_type_outside_the_compartment_is_a_400(client, ids, path):
    assert_outcome(client.get("/" + fill(path, ids)), 400)


@pytest.mark.parametrize(
    "path",
    ["Organization/{bhxh}/Observation", "Location/1/Observation", "Medication/1/Patient",
     "NoSuchType/1/Observation", "patient/{an}/Observation"],
)
def test_an_unknown_compartment_type_is_a_404(client, ids, path):
    assert_outcome(client.get("/" + fill(path, ids)), 404)


def test_an_unknown_resource_type_in_a_compartment_is_a_404(client, ids):
    assert_outcome(client.get(f"/Patient/{ids['an']}/NoSuchType"), 404)


def test_a_compartment_search_needs_the_scope_of_the_type_searched(server, issuer, ids):
    with fhir_client(server.base, issuer.token(scope="user/Patient.rs")) as http:
        assert_outcome(http.get(f"/Patient/{ids['an']}/Observation"), 403)
        assert http.get(f"/Patient/{ids['an']}/Patient").status_code == 200


def _update(client, resource_type: str, resource_id: str, change) -> None:
    resource = client.get(f"/{resource_type}/{resource_id}").json()
    change(resource)
    response = client.put(f"/{resource_type}/{resource_id}", json=resource,
                          headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text


def test_an_update_moves_a_resource_between_compartments(client, ids):
    """A new version is indexed anew: An's reading re-filed under Bình leaves An's
    compartment and joins hers; moved to another encounter, it leaves the first."""
    reading = {"resourceType": "Observation", "status": "final",
               "code": {"coding": [{"system": LOINC, "code": "8310-5"}]},
               "subject": {"reference": f"Patient/{ids['an']}"},
               "encounter": {"reference": f"Encounter/{ids['stay']}"},
               "performer": [{"reference": f"Practitioner/{ids['hoa']}"}]}
    response = client.post("/Observation", json=reading, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    moved = response.json()["id"]
    code = {"code": "8310-5"}
    assert found(client, f"/Patient/{ids['an']}/Observation", code) == {moved}
    assert found(client, f"/Encounter/{ids['stay']}/Observation", code) == {moved}

    def to_binh(resource: dict) -> None:
        resource["subject"] = {"reference": f"Patient/{ids['binh']}"}
        resource["encounter"] = {"reference": f"Encounter/{ids['visit']}"}
        resource["performer"] = [{"reference": f"Practitioner/{ids['minh']}"}]

    _update(client, "Observation", moved, to_binh)
    assert found(client, f"/Patient/{ids['an']}/Observation", code) == set()
    assert found(client, f"/Patient/{ids['binh']}/Observation", code) == {moved}
    assert found(client, f"/Encounter/{ids['stay']}/Observation", code) == set()
    assert found(client, f"/Encounter/{ids['visit']}/Observation", code) == {moved}
    assert found(client, f"/Practitioner/{ids['hoa']}/Observation", code) == set()
    assert found(client, f"/Practitioner/{ids['minh']}/Observation", code) == {moved}

    def no_subject(resource: dict) -> None:
        del resource["subject"]

    _update(client, "Observation", moved, no_subject)
    assert found(client, f"/Patient/{ids['binh']}/Observation", code) == set()
    assert found(client, f"/Encounter/{ids['visit']}/Observation", code) == {moved}

    assert client.delete(f"/Observation/{moved}").status_code in (200, 204)
    assert found(client, f"/Encounter/{ids['visit']}/Observation", code) == set()


def test_the_capability_statement_names_the_compartments_searched(client):
    """CapabilityStatement.rest.compartment: each compartment a `[type]/[id]/*` search
    answers, by its CompartmentDefinition."""
    declared = client.get("/metadata").json()["rest"][0]["compartment"]
    assert declared == [f"http://hl7.org/fhir/CompartmentDefinition/{name}" for name in (
        "patient", "encounter", "relatedPerson", "practitioner", "device")]
    for kind in ("Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"):
        response = client.get(f"/{kind}/nobody/*", params={"_summary": "count"})
        assert response.status_code == 200, (kind, response.text)
