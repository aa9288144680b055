"""`Patient/[id]/$everything`, `Patient/$everything` and `Encounter/[id]/$everything`
(http://hl7.org/fhir/R4/operation-patient-everything.html,
http://hl7.org/fhir/R4/operation-encounter-everything.html): the compartment's resources
("match") and the resources they reference outside it ("include": practitioners,
organizations, locations, medications) exactly once, in `searchset` pages linked by `next`
(keyset: no page repeats or skips a row, also while others write, and none is empty); the
parameters start/end (care dates), _since, _type, _count and includeProvenance, by GET and
by POST of a Parameters resource; only what the token may read.

Data set: patient An of Bạch Mai hospital, his inpatient stay (ward of endocrinology, doctor
Hoa) and care from 2019 (doctor Minh) to 2024, with readings with and without a date, a
condition, two prescriptions (one of metformin by reference), an allergy recorded without a
date and his health insurance; his sister Bình with one reading. Tests that write use
patients of their own.
"""

from collections import Counter

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome
from search.helpers import load, ref
from security.helpers import fhir_client

from operations.everything_helpers import (
    everything_pages,
    observation,
    page_entries,
    page_outcomes,
)

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ATC = "http://www.whocc.no/atc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"


DATA = {
    "bachmai": {"resourceType": "Organization", "name": "Bệnh viện Bạch Mai"},
    "bhxh": {"resourceType": "Organization", "name": "Bảo hiểm xã hội Việt Nam"},
    "ward": {"resourceType": "Location", "name": "Khoa Nội tiết - Đái tháo đường",
             "managingOrganization": ref("bachmai")},
    "hoa": {"resourceType": "Practitioner", "name": [{"family": "Lê", "given": ["Thị", "Hoa"]}]},
    "minh": {"resourceType": "Practitioner", "name": [{"family": "Phạm", "given": ["Minh"]}]},
    "metformin": {"resourceType": "Medication",
                  "code": {"coding": [{"system": ATC, "code": "A10BA02"}]}},
    "an": {"resourceType": "Patient", "name": [{"family": "Nguyễn", "given": ["Văn", "An"]}],
           "gender": "male", "birthDate": "1985-03-12", "managingOrganization": ref("bachmai")},
    "binh": {"resourceType": "Patient", "name": [{"family": "Trần", "given": ["Thị", "Bình"]}],
             "gender": "female", "birthDate": "1990-07-04"},
    "stay": {"resourceType": "Encounter", "status": "finished",
             "class": {"system": ACT_CODE, "code": "IMP"}, "subject": ref("an"),
             "period": {"start": "2024-03-15T08:00:00+07:00", "end": "2024-03-20T10:00:00+07:00"},
             "participant": [{"individual": ref("hoa")}],
             "location": [{"location": ref("ward")}], "serviceProvider": ref("bachmai")},
    "o_2019": observation("an", "2339-0", {"effectiveDateTime": "2019-05-01"},
                           performer=[ref("minh")]),
    "o_bp": observation("an", "85354-9", {"effectiveDateTime": "2024-03-15T09:00:00+07:00"},
                         encounter=ref("stay"), performer=[ref("hoa")]),
    "o_weight": observation("an", "29463-7", {"effectivePeriod": {"start": "2024-01-01",
                                                                  "end": "2024-12-31"}}),
    "o_nodate": observation("an", "8302-2"),
    "condition": {"resourceType": "Condition", "subject": ref("an"),
                  "code": {"coding": [{"system": ICD10, "code": "E11"}]},
                  "onsetDateTime": "2024-03-10"},
    "mr_2024": {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                "subject": ref("an"), "encounter": ref("stay"), "authoredOn": "2024-03-16",
                "medicationReference": ref("metformin"), "requester": ref("hoa")},
    "mr_2019": {"resourceType": "MedicationRequest", "status": "completed", "intent": "order",
                "subject": ref("an"), "authoredOn": "2019-06-01",
                "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "C08CA01"}]},
                "requester": ref("minh")},
    "allergy": {"resourceType": "AllergyIntolerance", "patient": ref("an"),
                "clinicalStatus": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active"}]},
                "code": {"text": "Dị ứng penicillin"}},
    "coverage": {"resourceType": "Coverage", "status": "active", "beneficiary": ref("an"),
                 "payor": [ref("bhxh")]},
    "o_binh": observation("binh", "8867-4", {"effectiveDateTime": "2024-05-02"},
                           performer=[ref("hoa")]),
    # In the patient's compartment by `patient`, as HAPI FHIR and Microsoft's server put a
    # Device (R4's CompartmentDefinition leaves it out).
    "pacemaker": {"resourceType": "Device", "patient": ref("an"),
                  "deviceName": [{"name": "Máy tạo nhịp tim", "type": "user-friendly-name"}]},
}
AN_RECORD = {"an", "stay", "o_2019", "o_bp", "o_weight", "o_nodate", "condition", "mr_2024",
             "mr_2019", "allergy", "coverage", "pacemaker"}
AN_REFERENCED = {"hoa", "minh", "bachmai", "bhxh", "ward", "metformin"}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, DATA)


def _keys(ids: dict[str, str], entries: list[dict]) -> Counter:
    """The data-set keys of the entries (type and id), counted; others as `Type/id`."""
    by_id = {(DATA[k]["resourceType"], v): k for k, v in ids.items()}
    return Counter(by_id.get((e["resource"]["resourceType"], e["resource"]["id"]),
                             f"{e['resource']['resourceType']}/{e['resource']['id']}")
                   for e in entries)


def _everything(http, ids, key: str = "an", params=None, kind: str = "Patient") -> list[dict]:
    return page_entries(everything_pages(http, f"/{kind}/{ids[key]}/$everything", params))


def _once(ids, entries) -> set[str]:
    """The keys of the entries, each checked to come once."""
    counted = _keys(ids, entries)
    assert all(n == 1 for n in counted.values()), counted
    return set(counted)


def test_everything_is_the_record_and_what_it_references_once(client, ids):
    entries = _everything(client, ids)
    assert _once(ids, entries) == AN_RECORD | AN_REFERENCED
    modes = {_keys(ids, [e]).most_common(1)[0][0]: e["search"]["mode"] for e in entries}
    assert {k for k, mode in modes.items() if mode == "match"} == AN_RECORD
    assert {k for k, mode in modes.items() if mode == "include"} == AN_REFERENCED
    assert entries[0]["resource"]["id"] == ids["an"]  # the focal resource first
    for entry in entries:
        resource = entry["resource"]
        assert entry["fullUrl"].endswith(f"/{resource['resourceType']}/{resource['id']}")


@pytest.mark.parametrize("count", [1, 4, 7, 16, 17, 100])
def test_count_pages_without_repeats_or_empty_pages(client, ids, count):
    pages = everything_pages(client, f"/Patient/{ids['an']}/$everything", {"_count": str(count)})
    total = len(AN_RECORD | AN_REFERENCED)
    assert [len(p["entry"]) for p in pages] == [count] * (total // count) + (
        [total % count] if total % count else [])
    assert _once(ids, page_entries(pages)) == AN_RECORD | AN_REFERENCED


def test_a_cursor_pages_only_the_record_it_came_from(client, ids):
    """Pasted into another patient's `$everything`, or one of other `_type`s, it answered a
    page of that record from the first's position."""
    first = client.get(f"/Patient/{ids['an']}/$everything", params={"_count": "2"}).json()
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    cursor = url.partition("_cursor=")[2].partition("&")[0]
    assert client.get(url).status_code == 200
    for path, params in [(f"/Patient/{ids['binh']}/$everything", {"_count": "2"}),
                         (f"/Patient/{ids['an']}/$everything",
                          {"_count": "2", "_type": "Observation"})]:
        response = client.get(path, params={**params, "_cursor": cursor})
        assert "_cursor" in str(assert_outcome(response, 400)), params


@pytest.mark.parametrize("count", ["0", "-1", "zwei", "1.5"])
def test_a_bad_count_is_a_400(client, ids, count):
    assert_outcome(client.get(f"/Patient/{ids['an']}/$everything", params={"_count": count}),
                   400)


@pytest.mark.parametrize(
    ("params", "record", "referenced"),
    [
        # care in 2024: the 2019 reading and prescription (and doctor Minh, referred to by
        # them only) are out; what has no care date (the allergy, the reading without a
        # date, the coverage, the patient) stays in
        ({"start": "2024-01-01", "end": "2024-12-31"},
         AN_RECORD - {"o_2019", "mr_2019"}, AN_REFERENCED - {"minh"}),
        # no start: everything up to the end
        ({"end": "2023-12-31"},
         {"an", "o_2019", "mr_2019", "o_nodate", "allergy", "coverage", "pacemaker"},
         {"minh", "bachmai", "bhxh"}),
        # no end: everything from the start on; the weight's period overlaps March, and the
        # condition lasts from its onset on (no abatement)
        ({"start": "2024-03-12"},
         AN_RECORD - {"o_2019", "mr_2019"}, AN_REFERENCED - {"minh"}),
        ({"start": "2024-03-17", "end": "2024-03-18"},
         {"an", "stay", "o_weight", "o_nodate", "allergy", "coverage", "pacemaker", "condition"},
         {"hoa", "bachmai", "bhxh", "ward"}),
        ({"start": "2024-03", "end": "2024-03"},
         AN_RECORD - {"o_2019", "mr_2019"}, AN_REFERENCED - {"minh"}),
        ({"start": "2025", "end": "2026"},
         {"an", "o_nodate", "allergy", "coverage", "pacemaker", "condition"}, {"bachmai", "bhxh"}),
    ],
)
def test_start_and_end_select_care_dates(client, ids, params, record, referenced):
    entries = _everything(client, ids, params=params)
    assert _once(ids, entries) == record | referenced
    assert {k for k in _once(ids, [e for e in entries if e["search"]["mode"] == "match"])} == \
        record


def test_a_care_date_is_the_first_date_a_resource_has(client):
    """A ServiceRequest ordered (authoredOn) in 2017 with no occurrence, a DiagnosticReport
    issued in 2009 with no effective date: each has a care date, and is left out of 2013; a
    ServiceRequest to occur in 2013 is in, whenever it was ordered."""
    chi = {"resourceType": "Patient", "name": [{"family": "Lê", "given": ["Chi"]}]}
    ids = load(client, {"chi": chi})
    subject = {"reference": f"Patient/{ids['chi']}"}
    request = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
               "subject": subject, "code": {"text": "Siêu âm bụng"}}
    ids |= load(client, {
        "ordered": {**request, "authoredOn": "2017-03-05"},
        "to_occur": {**request, "authoredOn": "2017-03-05", "occurrenceDateTime": "2013-04-01"},
        "issued": {"resourceType": "DiagnosticReport", "status": "final", "subject": subject,
                   "code": {"text": "Xét nghiệm máu"}, "issued": "2009-08-10T08:25:44+07:00"},
    })
    entries = page_entries(everything_pages(client, f"/Patient/{ids['chi']}/$everything",
                                            {"start": "2013-01-01", "end": "2013-12-31"}))
    assert sorted(e["resource"]["id"] for e in entries) == sorted([ids["chi"], ids["to_occur"]])


def test_what_the_record_refers_to_in_no_patients_compartment_comes_too(client):
    """Patient-everything: "any resource referenced from those". A Specimen without subject
    (of a type patients' records hold) is in no patient's record: it comes; another
    patient's Specimen does not."""
    ids = load(client, {"dao": {"resourceType": "Patient", "name": [{"family": "Đào"}]},
                        "other": {"resourceType": "Patient", "name": [{"family": "Khác"}]},
                        "unowned": {"resourceType": "Specimen", "type": {"text": "Máu"}}})
    ids |= load(client, {"theirs": {"resourceType": "Specimen", "type": {"text": "Máu"},
                                    "subject": {"reference": f"Patient/{ids['other']}"}}})
    ids |= load(client, {"order": {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "code": {"text": "Đường huyết"}, "subject": {"reference": f"Patient/{ids['dao']}"},
        "specimen": [{"reference": f"Specimen/{ids[key]}"} for key in ("unowned", "theirs")]}})
    entries = page_entries(everything_pages(client, f"/Patient/{ids['dao']}/$everything"))
    served = {(e["resource"]["id"], e["search"]["mode"]) for e in entries}
    assert served == {(ids["dao"], "match"), (ids["order"], "match"),
                      (ids["unowned"], "include")}


def test_the_binaries_attachments_hold_their_content_in_come_too(client, server):
    """Patient-everything: "including binaries and attachments". A document's content and a
    report's presented form, by relative or absolute URL; an attachment elsewhere does not
    come, nor a Binary no attachment names."""
    ids = load(client, {"dao": {"resourceType": "Patient", "name": [{"family": "Đào"}]},
                        **{key: {"resourceType": "Binary", "contentType": "text/plain",
                                 "data": "aGVsbG8="} for key in ("letter", "scan", "loose")}})
    ids |= load(client, {
        "summary": {"resourceType": "DocumentReference", "status": "current",
                    "subject": {"reference": f"Patient/{ids['dao']}"}, "content": [
                        {"attachment": {"url": f"Binary/{ids['letter']}"}},
                        {"attachment": {"url": "https://elsewhere.example/Binary/x"}}]},
        "report": {"resourceType": "DiagnosticReport", "status": "final",
                   "code": {"text": "X-quang"}, "subject": {"reference": f"Patient/{ids['dao']}"},
                   "presentedForm": [{"url": f"{server.base}/Binary/{ids['scan']}"}]}})
    entries = page_entries(everything_pages(client, f"/Patient/{ids['dao']}/$everything"))
    served = {(e["resource"]["resourceType"], e["resource"]["id"], e["search"]["mode"])
              for e in entries}
    assert served == {("Patient", ids["dao"], "match"),
                      ("DocumentReference", ids["summary"], "match"),
                      ("DiagnosticReport", ids["report"], "match"),
                      ("Binary", ids["letter"], "include"), ("Binary", ids["scan"], "include")}


@pytest.mark.parametrize("params", [{"start": "2024-13-01"}, {"end": "gestern"},
                                    {"_since": "2024-01-01T10:00:00"}, {"start": "ge2024"},
                                    {"end": "2024-01-01", "start": "2024-06-01"}])
def test_a_bad_date_is_a_400(client, ids, params):
    response = client.get(f"/Patient/{ids['an']}/$everything", params=params)
    assert_outcome(response, 400, expression=next(iter(params)))


@pytest.mark.parametrize(
    ("types", "keys"),
    [
        ("Observation", {"o_2019", "o_bp", "o_weight", "o_nodate"}),
        ("Observation,Condition", {"o_2019", "o_bp", "o_weight", "o_nodate", "condition"}),
        ("Patient", {"an"}),
        ("Practitioner", {"hoa", "minh"}),
        ("Medication,MedicationRequest", {"metformin", "mr_2024", "mr_2019"}),
        ("Observation,Practitioner", {"o_2019", "o_bp", "o_weight", "o_nodate", "hoa", "minh"}),
        ("Location,Organization", {"ward", "bachmai", "bhxh"}),
        ("Questionnaire", set()),
    ],
)
def test_type_keeps_the_types_named(client, ids, types, keys):
    assert _once(ids, _everything(client, ids, params={"_type": types})) == keys


def test_type_given_twice_is_both(client, ids):
    entries = _everything(client, ids, params=[("_type", "Condition"), ("_type", "Coverage")])
    assert _once(ids, entries) == {"condition", "coverage"}


@pytest.mark.parametrize("types", ["Foo", "observation", "Observation,Nonsense"])
def test_an_unknown_type_is_a_400(client, ids, types):
    response = client.get(f"/Patient/{ids['an']}/$everything", params={"_type": types})
    assert_outcome(response, 400, expression="_type")


def test_post_with_a_parameters_body_is_the_same_as_get(client, ids):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "start", "valueDate": "2024-01-01"},
        {"name": "end", "valueDate": "2024-12-31"},
        {"name": "_type", "valueCode": "Observation,MedicationRequest,Practitioner"},
        {"name": "_count", "valueInteger": 2},
    ]}
    posted = everything_pages(client, f"/Patient/{ids['an']}/$everything", method="POST", body=body)
    assert [len(p["entry"]) for p in posted] == [2, 2, 1]
    got = _everything(client, ids, params={"start": "2024-01-01", "end": "2024-12-31",
                                           "_type": "Observation,MedicationRequest,Practitioner"})
    assert _once(ids, page_entries(posted)) == _once(ids, got) == {
        "o_bp", "o_weight", "o_nodate", "mr_2024", "hoa"}


def test_an_empty_type_is_every_type(client, ids):
    """"In the absence of any specified types, the server returns all resource types"."""
    assert _once(ids, _everything(client, ids, params={"_type": ""})) == _once(
        ids, _everything(client, ids))


@pytest.mark.parametrize("parameter", [{"name": "start", "valueInteger": 2024},
                                       {"name": "_count", "valueString": "2"}])
def test_a_parameter_of_another_type_than_declared_is_a_400(client, ids, parameter):
    """Patient-everything declares start a date and _count an integer: a valueInteger start
    was read as a year."""
    response = client.post(f"/Patient/{ids['an']}/$everything", headers=FHIR_HEADERS,
                           json={"resourceType": "Parameters", "parameter": [parameter]})
    assert_outcome(response, 400)


def test_post_without_parameters_is_a_400(client, ids):
    response = client.post(f"/Patient/{ids['an']}/$everything",
                           json={"resourceType": "Patient"}, headers=FHIR_HEADERS)
    assert_outcome(response, 400)


def test_encounter_everything(client, ids):
    entries = _everything(client, ids, "stay", kind="Encounter")
    assert _once(ids, entries) == {"stay", "o_bp", "mr_2024", "an", "hoa", "ward", "bachmai",
                                   "metformin"}
    matched = {k for k in _once(ids, [e for e in entries if e["search"]["mode"] == "match"])}
    assert matched == {"stay", "o_bp", "mr_2024"}
    assert entries[0]["resource"]["id"] == ids["stay"]
    paged = everything_pages(client, f"/Encounter/{ids['stay']}/$everything", {"_count": "3"})
    assert [len(p["entry"]) for p in paged] == [3, 3, 2]
    assert _once(ids, page_entries(paged)) == _once(ids, entries)
    assert _once(ids, _everything(client, ids, "stay", {"_type": "Observation,Patient"},
                                  "Encounter")) == {"o_bp", "an"}


def test_encounter_everything_has_no_care_date_parameters(client, ids):
    url = f"/Encounter/{ids['stay']}/$everything"
    strict = client.get(url, params={"start": "2024-01-01"},
                        headers={"Prefer": "handling=strict"})
    assert_outcome(strict, 400, expression="start")
    lenient = client.get(url, params={"start": "2030-01-01"})
    assert lenient.status_code == 200
    assert len(lenient.json()["entry"]) == 8


def test_patient_everything_without_an_id_is_every_patients_record(client, ids):
    patients = {e["resource"]["id"] for e in
                client.get("/Patient", params={"_count": "1000"}).json()["entry"]}
    per_patient: Counter = Counter()
    matched, referenced = set(), set()
    for patient in patients:
        for entry in page_entries(everything_pages(client, f"/Patient/{patient}/$everything")):
            key = (entry["resource"]["resourceType"], entry["resource"]["id"])
            (matched if entry["search"]["mode"] == "match" else referenced).add(key)
            per_patient[key] += 1
    pages = everything_pages(client, "/Patient/$everything", {"_count": "7"})
    assert len(pages) > 2
    assert all(len(page["entry"]) == 7 for page in pages[:-1])
    entries = page_entries(pages)
    keys = Counter((e["resource"]["resourceType"], e["resource"]["id"]) for e in entries)
    assert all(n == 1 for n in keys.values()), keys
    assert set(keys) == matched | referenced
    assert {(e["resource"]["resourceType"], e["resource"]["id"]) for e in entries
            if e["search"]["mode"] == "match"} == matched
    assert ("Observation", ids["o_binh"]) in keys and ("Observation", ids["o_bp"]) in keys
    # doctor Hoa is referred to from both records, and comes once
    assert per_patient[("Practitioner", ids["hoa"])] == 2
    assert keys[("Practitioner", ids["hoa"])] == 1
    assert {k for k in keys if k[0] == "Patient"} == {("Patient", p) for p in patients}


def test_unknown_patient_is_a_404_and_deleted_a_410(client, ids):
    assert_outcome(client.get("/Patient/khong-co-ai/$everything"), 404)
    assert_outcome(client.get("/Encounter/khong-co-ai/$everything"), 404)
    gone = load(client, {"gone": {"resourceType": "Patient", "name": [{"family": "Vũ"}]}})
    assert client.delete(f"/Patient/{gone['gone']}").status_code in (200, 204)
    assert_outcome(client.get(f"/Patient/{gone['gone']}/$everything"), 410)


def test_scopes_filter_what_is_served(server, issuer, ids):
    narrow = issuer.token(scope="user/Patient.rs user/Observation.rs")
    with fhir_client(server.base, narrow) as http:
        pages = everything_pages(http, f"/Patient/{ids['an']}/$everything", {"_count": "2"})
        assert _once(ids, page_entries(pages)) == {"an", "o_2019", "o_bp", "o_weight",
                                                   "o_nodate"}
        # Said once, as a search says of its includes (the record was silently partial).
        [note] = page_outcomes(pages)
        assert "do not allow reading (Account, AdverseEvent," in note and "more" in note
        assert_outcome(http.get(f"/Patient/{ids['an']}/$everything",
                                params={"_type": "Observation,Practitioner"}), 403)
        assert_outcome(http.get(f"/Patient/{ids['an']}/$everything",
                                params={"includeProvenance": "true"}), 403)
        assert_outcome(http.get(f"/Encounter/{ids['stay']}/$everything"), 403)
    with fhir_client(server.base, issuer.token(scope="user/Observation.rs")) as http:
        assert_outcome(http.get(f"/Patient/{ids['an']}/$everything"), 403)
        assert_outcome(http.get("/Patient/$everything"), 403)
        assert_outcome(http.get("/Patient/khong-co-ai/$everything"), 403)
    # Read without search: one patient's record, but not every patient's, as a search.
    with fhir_client(server.base, issuer.token(scope="user/Patient.r")) as http:
        assert http.get(f"/Patient/{ids['an']}/$everything").status_code == 200
        assert_outcome(http.get("/Patient/$everything"), 403)
    with fhir_client(server.base, issuer.token(scope="user/*.rs")) as http:
        assert _once(ids, _everything(http, ids)) == AN_RECORD | AN_REFERENCED


def test_format_and_pretty_are_no_unknown_parameters_of_an_operation(client, ids):
    """http.html: `_format` and `_pretty` apply to every interaction, operations too; strict
    handling refuses unknown parameters only."""
    strict = {"Prefer": "handling=strict"}
    for path in (f"/Patient/{ids['an']}/$everything", "/Patient/$meta"):
        response = client.get(path, params={"_format": "json", "_pretty": "true"},
                              headers=strict)
        assert response.status_code == 200, response.text
        assert_outcome(client.get(path, params={"khong-co": "1"}, headers=strict), 400)
