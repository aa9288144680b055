"""`Patient/[id]/$summary` and `Patient/$summary?identifier=` (IPS 2.0.0): a `document` Bundle
whose first entry is an IPS Composition about the patient, with the three required sections
always there (empty ones with an emptyReason), each section's entries and everything they
refer to in the Bundle, and only what the record says is current where the section asks for
it; the token's scopes withhold sections, never leak them.

Data set: patient Lan, treated at Bạch Mai: diabetes (active), a resolved appendicitis, a
refuted penicillin allergy and an active peanut allergy, metformin (active, by reference to a
Medication) and an old stopped prescription, a lab result and a blood pressure, a completed
procedure; her brother Tuấn has an active condition of his own.
"""

import uuid
from datetime import date, timedelta

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome
from search.helpers import load, ref
from security.helpers import fhir_client

from fhir_server.search.types import date as dates

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
IPS_COMPOSITION = "http://hl7.org/fhir/uv/ips/StructureDefinition/Composition-uv-ips"
SYSTEM = "http://benhvien-bachmai.vn/fhir/sid/mrn"
REQUIRED = {"11450-4", "48765-2", "10160-0"}


def _coded(system: str, code: str, text: str | None = None) -> dict:
    concept: dict = {"coding": [{"system": system, "code": code}]}
    if text:
        concept["text"] = text
    return concept


def _observation(category: str, code: str, value: float) -> dict:
    return {"resourceType": "Observation", "status": "final", "subject": ref("lan"),
            "category": [_coded(OBSERVATION_CATEGORY, category)],
            "code": _coded(LOINC, code), "effectiveDateTime": "2024-05-02",
            "valueQuantity": {"value": value, "unit": "mg/dL"}}


def _allergy(code: str, text: str, clinical: str, verification: str) -> dict:
    return {"resourceType": "AllergyIntolerance", "patient": ref("lan"),
            "code": _coded(SNOMED, code, text),
            "clinicalStatus": _coded(ALLERGY_CLINICAL, clinical),
            "verificationStatus": _coded(ALLERGY_VERIFICATION, verification)}


def _condition(patient: str, code: str, text: str, clinical: str) -> dict:
    return {"resourceType": "Condition", "subject": ref(patient),
            "code": _coded(SNOMED, code, text), "clinicalStatus": _coded(CLINICAL, clinical),
            "onsetDateTime": "2020-01-10"}


@pytest.fixture(scope="module")
def mrn() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def ids(client, mrn) -> dict[str, str]:
    return load(client, {
        "bachmai": {"resourceType": "Organization", "name": "Bệnh viện Bạch Mai"},
        "hoa": {"resourceType": "Practitioner", "name": [{"family": "Lê", "given": ["Hoa"]}]},
        "metformin": {"resourceType": "Medication", "code": _coded(SNOMED, "109081006",
                                                                   "Metformin")},
        "lan": {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": mrn}],
                "name": [{"family": "Nguyễn", "given": ["Thị", "Lan"]}], "gender": "female",
                "birthDate": "1978-02-01", "managingOrganization": ref("bachmai")},
        "tuan": {"resourceType": "Patient", "name": [{"family": "Nguyễn", "given": ["Tuấn"]}]},
        "lan_visit": {"resourceType": "Encounter", "status": "finished", "subject": ref("lan"),
                      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                "code": "AMB"}},
        "tuan_visit": {"resourceType": "Encounter", "status": "finished",
                       "subject": ref("tuan"),
                       "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                 "code": "AMB"}},
        "diabetes": {**_condition("lan", "44054006", "Đái tháo đường típ 2", "active"),
                     "encounter": ref("lan_visit")},
        "appendicitis": _condition("lan", "74400008", "Viêm ruột thừa", "resolved"),
        "tuan_asthma": _condition("tuan", "195967001", "Hen phế quản", "active"),
        "peanut": _allergy("91935009", "Dị ứng đậu phộng", "active", "confirmed"),
        "penicillin": _allergy("91936005", "Dị ứng penicillin", "active", "refuted"),
        "metformin_now": {"resourceType": "MedicationRequest", "status": "active",
                          "intent": "order", "subject": ref("lan"),
                          "medicationReference": ref("metformin"), "requester": ref("hoa"),
                          "authoredOn": "2024-05-01"},
        "old_drug": {"resourceType": "MedicationRequest", "status": "stopped", "intent": "order",
                     "subject": ref("lan"),
                     "medicationCodeableConcept": _coded(SNOMED, "387517004", "Paracetamol")},
        "glucose": _observation("laboratory", "2339-0", 7.5),
        "pressure": _observation("vital-signs", "8480-6", 130),
        "appendectomy": {"resourceType": "Procedure", "status": "completed",
                         "subject": ref("lan"), "code": _coded(SNOMED, "80146002",
                                                               "Cắt ruột thừa"),
                         "performedDateTime": "2020-01-11",
                         # Mistakenly another patient's visit: not hers to show.
                         "encounter": ref("tuan_visit")},
    })


def _summary(client, path: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "document"
    assert bundle["identifier"]["value"].startswith("urn:uuid:") and bundle["timestamp"]
    return bundle


def _sections(bundle: dict) -> dict[str, dict]:
    composition = bundle["entry"][0]["resource"]
    return {s["code"]["coding"][0]["code"]: s for s in composition["section"]}


def _entry_ids(section: dict) -> set[str]:
    return {e["reference"] for e in section.get("entry", [])}


def test_the_summary_is_a_document_about_the_patient_with_the_current_record(client, ids):
    bundle = _summary(client, f"/Patient/{ids['lan']}/$summary")
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition" and composition["status"] == "final"
    assert composition["type"]["coding"] == [{"system": LOINC, "code": "60591-5"}]
    assert composition["subject"] == {"reference": f"Patient/{ids['lan']}"}
    sections = _sections(bundle)
    assert _entry_ids(sections["11450-4"]) == {f"Condition/{ids['diabetes']}"}
    assert _entry_ids(sections["11348-0"]) == {f"Condition/{ids['appendicitis']}"}
    assert _entry_ids(sections["48765-2"]) == {f"AllergyIntolerance/{ids['peanut']}"}
    assert _entry_ids(sections["10160-0"]) == {f"MedicationRequest/{ids['metformin_now']}"}
    assert _entry_ids(sections["30954-2"]) == {f"Observation/{ids['glucose']}"}
    assert _entry_ids(sections["8716-3"]) == {f"Observation/{ids['pressure']}"}
    assert _entry_ids(sections["47519-4"]) == {f"Procedure/{ids['appendectomy']}"}
    assert "11369-6" not in sections  # optional and empty: left out
    for section in sections.values():
        assert section["title"] and section["text"]["div"].startswith("<div xmlns=")
    assert "Đái tháo đường típ 2" in sections["11450-4"]["text"]["div"]
    as_xml = client.get(f"/Patient/{ids['lan']}/$summary",
                        headers={"Accept": "application/fhir+xml"})
    assert as_xml.status_code == 200 and "<Composition>" in as_xml.text


def test_tobacco_use_is_social_history_by_its_code_and_periods_are_dated(client):
    """IPS's tobacco-use Observation has no category (VN Core's has `survey`): the Social
    History section's entry slice names it by its code, LOINC 72166-2. A period is shown in
    the section's table by its start and end."""
    loaded = load(client, {
        "minh": {"resourceType": "Patient", "name": [{"family": "Phạm", "given": ["Minh"]}]},
        "smoking": {"resourceType": "Observation", "status": "final", "subject": ref("minh"),
                    "code": _coded(LOINC, "72166-2"), "effectiveDateTime": "2025-08-01",
                    "valueCodeableConcept": _coded(SNOMED, "8517006", "Đã bỏ thuốc lá")},
        "survey_smoking": {"resourceType": "Observation", "status": "final",
                           "subject": ref("minh"), "code": _coded(LOINC, "72166-2"),
                           "category": [_coded(OBSERVATION_CATEGORY, "survey")],
                           "effectiveDateTime": "2025-08-02",
                           "valueCodeableConcept": _coded(SNOMED, "266919005")},
        "pulse": _observation("survey", "8867-4", 72) | {"subject": ref("minh")},
        "aspirin": {"resourceType": "MedicationStatement", "status": "active",
                    "subject": ref("minh"),
                    "medicationCodeableConcept": _coded(SNOMED, "387458008", "Aspirin"),
                    "effectivePeriod": {"start": "2025-08-01", "end": "2025-09-01"}},
    })
    sections = _sections(_summary(client, f"/Patient/{loaded['minh']}/$summary"))
    assert _entry_ids(sections["29762-2"]) == {f"Observation/{loaded['smoking']}",
                                               f"Observation/{loaded['survey_smoking']}"}
    assert "<td>2025-08-01 - 2025-09-01</td>" in sections["10160-0"]["text"]["div"]


def test_a_supply_the_patient_still_takes_is_in_the_medication_summary(client, monkeypatch):
    """IPS 2.0.0's medication section takes MedicationDispense and -Administration too: a
    discharge prescription completed when dispensed, whose seven days' supply still lasts
    on the server's local date (here pinned 40 days back), is the patient's current
    medication; one whose supply ran out is not. The day of handing over is the local one
    of the instant, the last it may be for a partial date."""
    today = dates.local_today() - timedelta(days=40)
    monkeypatch.setattr(dates, "local_today", lambda: today)
    def dispense(handed: date) -> dict:
        return {"resourceType": "MedicationDispense", "status": "completed",
                "subject": ref("ha"), "whenHandedOver": handed.isoformat(),
                "medicationCodeableConcept": _coded(SNOMED, "386864001", "Amlodipin"),
                "daysSupply": {"value": 7, "unit": "ngày",
                               "system": "http://unitsofmeasure.org", "code": "d"}}
    loaded = load(client, {
        "ha": {"resourceType": "Patient", "name": [{"family": "Lê", "given": ["Hà"]}]},
        "lasting": dispense(today - timedelta(days=2)),
        "ran_out": dispense(today - timedelta(days=30)),
        # Handed over this month, on a day not said: it may be lasting (it was left out).
        "this_month": {**dispense(today), "whenHandedOver": f"{today:%Y-%m}"},
        # At 23:30 in Bogotá eight days back, 11:30 seven days back here: lasting today
        # (read as the date written, it ran out yesterday).
        "from_bogota": {**dispense(today), "whenHandedOver":
                        f"{today - timedelta(days=8)}T23:30:00-05:00"},
        # Handed over on the calendar's last day: lasting (adding its supply was a 500).
        "last_day": {**dispense(today), "whenHandedOver": "9999-12-31"},
        "drip": {"resourceType": "MedicationAdministration", "status": "in-progress",
                 "subject": ref("ha"), "effectiveDateTime": today.isoformat(),
                 "medicationCodeableConcept": _coded(SNOMED, "387458008", "Aspirin")},
    })
    sections = _sections(_summary(client, f"/Patient/{loaded['ha']}/$summary"))
    assert _entry_ids(sections["10160-0"]) == {
        *(f"MedicationDispense/{loaded[key]}"
          for key in ("lasting", "this_month", "from_bogota", "last_day")),
        f"MedicationAdministration/{loaded['drip']}"}


def test_a_record_the_patient_only_took_part_in_is_not_theirs(client):
    """A Condition Lan asserted about her mother and an Observation she performed on her are
    in Lan's compartment (asserter, performer), but about her mother: not in Lan's summary."""
    loaded = load(client, {
        "lan": {"resourceType": "Patient", "name": [{"family": "Đỗ", "given": ["Lan"]}]},
        "mother": {"resourceType": "Patient", "name": [{"family": "Đỗ", "given": ["Mai"]}]},
    })
    lan, mother = (f"Patient/{loaded[key]}" for key in ("lan", "mother"))
    loaded |= load(client, {
        "asserted": {**_condition("lan", "38341003", "Tăng huyết áp", "active"),
                     "subject": {"reference": mother}, "asserter": {"reference": lan}},
        "performed": {**_observation("vital-signs", "8310-5", 39.5),
                      "subject": {"reference": mother}, "performer": [{"reference": lan}]},
        "own": {**_condition("lan", "44054006", "Đái tháo đường", "active"),
                "subject": {"reference": lan}},
    })
    loaded |= load(client, {"pulse": {  # hers, referring to her mother's
        **_observation("vital-signs", "8867-4", 88), "subject": {"reference": lan},
        "derivedFrom": [{"reference": f"Observation/{loaded['performed']}"}]}})
    bundle = _summary(client, f"/{lan}/$summary")
    sections = _sections(bundle)
    assert _entry_ids(sections["11450-4"]) == {f"Condition/{loaded['own']}"}
    assert _entry_ids(sections["8716-3"]) == {f"Observation/{loaded['pulse']}"}
    # Nor does the mother's record come in as what Lan's refers to.
    held = {entry["resource"].get("id") for entry in bundle["entry"]}
    assert loaded["performed"] not in held and loaded["asserted"] not in held


def test_a_version_named_comes_as_it_was_when_it_was_the_patients(client):
    """A pulse derived from `Observation/x/_history/1` brings that version (bundle.html
    resolves the reference by meta.versionId) when it was Lan's, though x is her mother's
    now; not one that was her mother's, though it is Lan's now."""
    loaded = load(client, {
        "lan": {"resourceType": "Patient", "name": [{"family": "Võ", "given": ["Lan"]}]},
        "mother": {"resourceType": "Patient", "name": [{"family": "Võ", "given": ["Mai"]}]},
    })
    people = {key: {"reference": f"Patient/{loaded[key]}"} for key in ("lan", "mother")}
    temperatures = {"was_hers": ("lan", "mother"), "was_her_mothers": ("mother", "lan")}
    for key, (then, now) in temperatures.items():
        first = {**_observation("vital-signs", "8310-5", 38.5), "subject": people[then]}
        loaded |= load(client, {key: first})
        response = client.put(f"/Observation/{loaded[key]}", headers=FHIR_HEADERS, json={
            **first, "id": loaded[key], "subject": people[now]})
        assert response.status_code == 200, response.text
    loaded |= load(client, {"pulse": {
        **_observation("vital-signs", "8867-4", 88), "subject": people["lan"],
        "derivedFrom": [{"reference": f"Observation/{loaded[key]}/_history/1"}
                        for key in temperatures]}})
    bundle = _summary(client, f"/Patient/{loaded['lan']}/$summary")
    held = {(entry["resource"]["id"], entry["resource"]["meta"]["versionId"])
            for entry in bundle["entry"] if entry["resource"]["resourceType"] == "Observation"}
    assert (loaded["was_hers"], "1") in held
    assert (loaded["was_her_mothers"], "1") not in held
    assert (loaded["was_her_mothers"], "2") in held  # hers now: a vital sign of her record


def test_the_installed_ips_version_may_be_asked_for(client, ids):
    """IPS 2.0.0's OperationDefinition: "A specific version may be requested using a
    canonical reference (e.g. ...Composition-uv-ips|2.0.0)"."""
    versioned = _summary(client, f"/Patient/{ids['lan']}/$summary",
                         profile=f"{IPS_COMPOSITION}|2.0.0")
    assert versioned["entry"][0]["resource"]["resourceType"] == "Composition"


def test_every_reference_of_the_document_resolves_inside_it(client, ids, server):
    bundle = _summary(client, f"/Patient/{ids['lan']}/$summary")
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"])
    expected = {f"Patient/{ids['lan']}", f"Medication/{ids['metformin']}",
                f"Practitioner/{ids['hoa']}", f"Organization/{ids['bachmai']}"}
    assert {f"{server.base}/{e}" for e in expected} <= full_urls
    composition = bundle["entry"][0]["resource"]
    # A RESTful fullUrl, so that its relative references resolve in the Bundle
    # (bundle.html#references); with a urn:uuid one they could not.
    assert bundle["entry"][0]["fullUrl"] == f"{server.base}/Composition/{composition['id']}"
    [author] = composition["author"]
    assert author["reference"] in full_urls
    for section in composition["section"]:
        for entry in section.get("entry", []):
            assert f"{server.base}/{entry['reference']}" in full_urls
    # Her records' own references too (her Encounter), but nothing of her brother's.
    assert f"{server.base}/Encounter/{ids['lan_visit']}" in full_urls
    others = {f"{server.base}/{kind}/{ids[name]}" for kind, name in (
        ("Condition", "tuan_asthma"), ("Encounter", "tuan_visit"), ("Patient", "tuan"))}
    assert not others & full_urls
    for entry in bundle["entry"]:
        for reference in _references(entry["resource"]):
            assert (reference.startswith("urn:uuid:") or f"{server.base}/{reference}"
                    in full_urls | others), (entry["fullUrl"], reference)


def _references(value) -> list[str]:
    """Every Reference.reference in a resource."""
    if isinstance(value, list):
        return [r for item in value for r in _references(item)]
    if not isinstance(value, dict):
        return []
    own = [value["reference"]] if isinstance(value.get("reference"), str) else []
    return own + [r for key, item in value.items() if key != "reference"
                  for r in _references(item)]


def test_the_document_validates_as_a_bundle_and_its_composition_as_ips(client, ids):
    bundle = _summary(client, f"/Patient/{ids['lan']}/$summary")
    response = client.post("/Bundle/$validate", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    errors = [i for i in response.json()["issue"] if i["severity"] in ("error", "fatal")]
    assert errors == []
    composition = bundle["entry"][0]["resource"]
    response = client.post("/Composition/$validate", params={"profile": IPS_COMPOSITION},
                           json=composition, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    errors = [i for i in response.json()["issue"] if i["severity"] in ("error", "fatal")]
    assert errors == []


def test_an_ips_of_a_linked_patient_without_birth_date_validates_as_bundle_uv_ips(client):
    """Bundle-uv-ips holds one Patient: a Patient the summarised one `link`s to (the same
    person's other record, which links back, so is in its compartment) stays out; an
    unknown birth date says so (Patient-uv-ips: birthDate 1..1); a resource the record refers
    to that is in no patient's compartment (a Specimen without subject) comes in."""
    ids = load(client, {"thu": {"resourceType": "Patient", "name": [{"family": "Đỗ",
                                                                      "given": ["Thu"]}]}})
    ids |= load(client, {
        "thu_old": {"resourceType": "Patient", "name": [{"family": "Đỗ", "given": ["Thu"]}],
                    "link": [{"other": {"reference": f"Patient/{ids['thu']}"},
                              "type": "seealso"}]},
        "sample": {"resourceType": "Specimen", "type": {"text": "Mô ruột thừa"}},
    })
    client.put(f"/Patient/{ids['thu']}", headers=FHIR_HEADERS, json={
        "resourceType": "Patient", "id": ids["thu"],
        "name": [{"family": "Đỗ", "given": ["Thu"]}],
        "link": [{"other": {"reference": f"Patient/{ids['thu_old']}"}, "type": "seealso"}]})
    ids |= load(client, {"after": {
        "resourceType": "Condition", "subject": {"reference": f"Patient/{ids['thu']}"},
        "code": _coded(SNOMED, "74400008", "Viêm ruột thừa"),
        "clinicalStatus": _coded(CLINICAL, "resolved"),
        "evidence": [{"detail": [{"reference": f"Specimen/{ids['sample']}"}]}]}})
    bundle = _summary(client, f"/Patient/{ids['thu']}/$summary")
    held = {(e["resource"]["resourceType"], e["resource"].get("id")) for e in bundle["entry"]}
    assert ("Specimen", ids["sample"]) in held
    assert [i for kind, i in held if kind == "Patient"] == [ids["thu"]]
    patient = next(e["resource"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    assert patient["_birthDate"]["extension"][0]["valueCode"] == "unknown"
    response = client.post("/Bundle/$validate", json=bundle, headers=FHIR_HEADERS,
                           params={"profile": "http://hl7.org/fhir/uv/ips/StructureDefinition/"
                                              "Bundle-uv-ips"})
    assert response.status_code == 200, response.text
    errors = [i for i in response.json()["issue"] if i["severity"] in ("error", "fatal")]
    assert errors == []


def test_a_patient_is_found_by_identifier_and_the_answer_is_the_same(client, ids, mrn):
    by_id = _sections(_summary(client, f"/Patient/{ids['lan']}/$summary"))
    by_identifier = _summary(client, "/Patient/$summary", identifier=f"{SYSTEM}|{mrn}")
    assert by_identifier["entry"][0]["resource"]["subject"] == {
        "reference": f"Patient/{ids['lan']}"}
    assert {code: _entry_ids(s) for code, s in _sections(by_identifier).items()} == {
        code: _entry_ids(s) for code, s in by_id.items()}
    posted = client.post("/Patient/$summary", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters",
        "parameter": [{"name": "identifier", "valueString": f"{SYSTEM}|{mrn}"}]})
    assert posted.status_code == 200, posted.text


def test_required_sections_of_an_empty_record_say_why_they_are_empty(client, ids):
    sections = _sections(_summary(client, f"/Patient/{ids['tuan']}/$summary"))
    assert _entry_ids(sections["11450-4"]) == {f"Condition/{ids['tuan_asthma']}"}
    for code in REQUIRED - {"11450-4"}:
        assert sections[code]["emptyReason"]["coding"][0]["code"] == "unavailable"
        assert "entry" not in sections[code]
    assert set(sections) == REQUIRED


def test_sections_the_token_may_not_read_are_withheld(server, issuer, ids):
    scopes = "user/Patient.rs user/Condition.rs"
    with fhir_client(server.base, issuer.token(scopes)) as limited:
        bundle = _summary(limited, f"/Patient/{ids['lan']}/$summary")
    sections = _sections(bundle)
    assert sections["48765-2"]["emptyReason"]["coding"][0]["code"] == "withheld"
    assert sections["10160-0"]["emptyReason"]["coding"][0]["code"] == "withheld"
    kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert kinds == {"Composition", "Patient", "Condition", "Organization"}
    # the Organization is the document's author, not the patient's managing organization
    assert not any(e["fullUrl"].endswith(f"Organization/{ids['bachmai']}")
                   for e in bundle["entry"])


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/Patient/$summary", {}, 400),
    # An identifier with no value names no patient (it matched them all: 422).
    ("/Patient/$summary", {"identifier": ""}, 400),
    ("/Patient/$summary", {"identifier": "|"}, 400),
    ("/Patient/$summary", {"identifier": f"{SYSTEM}|"}, 400),
    ("/Patient/$summary", {"identifier": f"{SYSTEM}|nobody"}, 404),
    ("/Patient/unknown-patient/$summary", {}, 404),
    ("/Patient/$summary", {"identifier": "a|b", "profile": "http://example.org/Other"}, 400),
    ("/Patient/$summary", {"identifier": "a|b", "profile": f"{IPS_COMPOSITION}|1.1.0"}, 400),
])
def test_bad_requests_say_what_is_wrong(client, path, params, status):
    assert_outcome(client.get(path, params=params), status)


def test_several_patients_with_the_identifier_is_422_and_a_deleted_one_410(client):
    value = uuid.uuid4().hex[:12]
    patient = {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": value}]}
    first = client.post("/Patient", json=patient, headers=FHIR_HEADERS).json()
    client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert_outcome(client.get("/Patient/$summary", params={"identifier": f"{SYSTEM}|{value}"}),
                   422)
    assert client.delete(f"/Patient/{first['id']}").status_code == 204
    assert_outcome(client.get(f"/Patient/{first['id']}/$summary"), 410)


def test_the_capability_statement_lists_the_operation(client):
    statement = client.get("/metadata").json()
    [patient] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    assert {"name": "summary",
            "definition": "http://hl7.org/fhir/uv/ips/OperationDefinition/summary"
            } in patient["operation"]
