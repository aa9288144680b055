"""`Patient/$match` (R4 patient-operation-match): stored patients who may be the one
described, best first, each with a score and a match grade; an identifier in common is
certain (also through the two VN Core guides' aliased systems), demographics probable or
possible, names compared without accents; a different birth date or personal ID rules out.

Data set: Nguyễn Văn An, CCCD and BHYT card on file, born 1985-03-12, phone 0912 345 678;
Nguyễn Văn Ân, born the same day but no CCCD (a namesake up to the accent); Nguyễn Văn
An, born 1990; Nguyễn Văn Bình, born the same day as An (Văn is a middle name).
"""

import uuid

import pytest
from api.helpers import BHYT, CCCD, FHIR_HEADERS, assert_outcome, created, unique_cccd
from security.helpers import fhir_client

from fhir_server.services.patient_match import MAX_CANDIDATES

MOH_NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"  # the other guide's CCCD
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def _patient(family: str, given: str, birth_date: str, **extra) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["Văn", given]}],
            "gender": "male", "birthDate": birth_date, **extra}


@pytest.fixture(scope="module")
def people(client) -> dict[str, tuple[str, str]]:
    """key → (id, CCCD)."""
    family = f"Nguyễn{uuid.uuid4().hex[:6]}"  # this module's own family, apart from others'
    stored = {}
    bhxh = f"01{uuid.uuid4().int % 10**8:08d}"
    for key, patient, cccd in (
        ("an", _patient(family, "An", "1985-03-12",
                        telecom=[{"system": "phone", "value": "0912 345 678"}]), unique_cccd()),
        ("an_namesake", _patient(family, "Ân", "1985-03-12"), None),
        ("an_younger", _patient(family, "An", "1990-01-01"), None),
        ("binh", _patient(family, "Bình", "1985-03-12"), None),
    ):
        if cccd:
            patient["identifier"] = [{"system": CCCD, "value": cccd},
                                     {"system": BHYT, "value": f"DN401{bhxh}"}]
        response = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text
        stored[key] = (response.json()["id"], cccd or "")
    stored["family"] = (family, "")
    stored["bhxh"] = (bhxh, "")
    return stored


def _match(http, patient: dict, **parameters) -> list[tuple[str, float, str]]:
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": patient},
        *({"name": name, ("valueBoolean" if isinstance(value, bool) else "valueInteger"): value}
          for name, value in parameters.items())]}
    response = http.post("/Patient/$match", json=body, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    found = []
    for entry in bundle.get("entry", []):
        if entry["search"]["mode"] == "outcome":
            continue
        [grade] = [e["valueCode"] for e in entry["search"]["extension"] if e["url"] == MATCH_GRADE]
        found.append((entry["resource"]["id"], entry["search"]["score"], grade))
    assert [score for _, score, _ in found] == sorted((s for _, s, _ in found), reverse=True)
    return found


def test_a_shared_identifier_is_certain_also_under_the_aliased_system(client, people):
    an_id, cccd = people["an"]
    for system in (CCCD, MOH_NATIONAL_ID):
        found = _match(client, {"resourceType": "Patient",
                                "identifier": [{"system": system, "value": cccd}]})
        assert found == [(an_id, 1.0, "certain")]


def test_demographics_grade_candidates_without_accents_and_rule_out_other_births(client,
                                                                                 people):
    family = people["family"][0]
    found = _match(client, _patient(family.upper(), "AN", "1985-03-12",
                                    telecom=[{"system": "phone", "value": "+84 912 345 678"}]))
    # An: family, given, birth date, gender and phone; his namesake all but the phone.
    assert found[:2] == [(people["an"][0], 1.0, "probable"),
                         (people["an_namesake"][0], 0.9, "probable")]
    assert people["an_younger"][0] not in [i for i, _, _ in found]


def test_a_middle_name_is_no_given_name_in_common(client, people):
    """Văn and Thị begin most Vietnamese given names: Nguyễn Văn Bình, born the same day, is
    not Nguyễn Văn An, and a name as text alone reads family name first."""
    family = people["family"][0]
    found = _match(client, _patient(family, "An", "1985-03-12"), count=4)
    assert {(i, grade) for i, _, grade in found[:2]} == {
        (people["an"][0], "probable"), (people["an_namesake"][0], "probable")}
    assert found[2:] == [(people["binh"][0], 0.5, "possible")]
    as_text = {"resourceType": "Patient", "name": [{"text": f"{family} Văn Bình"}],
               "birthDate": "1985-03-12", "gender": "male"}
    assert _match(client, as_text, count=1)[0][0] == people["binh"][0]


def test_a_name_as_text_alone_may_put_the_family_name_last(client):
    """Ê-đê, Jrai and other peoples of Vietnam write the family name last (`H'Hen Niê`,
    family Niê): as text alone the name is found as with its family and given names, as a
    Kinh name written family name first is."""
    for family, given, text in (("Niê", "H'Hen", "H'Hen Niê"), ("Trần", "Nhung", "Trần Nhung")):
        stored = created(client, {
            "resourceType": "Patient", "gender": "female", "birthDate": "1990-05-05",
            "name": [{"family": family, "given": [given], "text": text}]})
        for name in ({"text": text}, {"family": family, "given": [given]}):
            found = _match(client, {"resourceType": "Patient", "name": [name],
                                    "birthDate": "1990-05-05", "gender": "female"})
            assert found == [(stored["id"], 0.9, "probable")], (name, found)


def test_a_stored_name_of_text_alone_is_a_candidate(client):
    """A Patient stored with its name as text alone (`H'Hen Niê`, `Trần Nhung`) has no
    `family` a search by family name finds: it is a candidate by a word of its text, whichever
    way the name is described (probe DX: it was never found)."""
    born = f"19{uuid.uuid4().int % 90 + 10}-0{uuid.uuid4().int % 9 + 1}-11"
    for family, given, text in (("Niê", "H'Hen", "H'Hen Niê"), ("Trần", "Nhung", "Trần Nhung")):
        stored = created(client, {"resourceType": "Patient", "gender": "female",
                                  "birthDate": born, "name": [{"text": text}]})
        for name in ({"text": text}, {"family": family, "given": [given]}):
            found = _match(client, {"resourceType": "Patient", "name": [name],
                                    "birthDate": born, "gender": "female"})
            assert found == [(stored["id"], 0.9, "probable")], (name, found)


def test_candidates_by_phone_and_by_bhyt_number(client, people):
    an_id = people["an"][0]
    by_phone = {"resourceType": "Patient", "birthDate": "1985-03-12", "gender": "male",
                "telecom": [{"system": "phone", "value": "0912345678"}]}
    assert _match(client, by_phone) == [(an_id, 0.5, "possible")]
    mistyped = _patient(people["family"][0] + "x", "An", "1985-03-12", telecom=by_phone["telecom"])
    assert (an_id, 0.7, "possible") in _match(client, mistyped)
    for system in (BHYT, "http://fhir.hl7.org.vn/core/sid/bhxh"):  # the card's holder
        described = {"resourceType": "Patient",
                     "identifier": [{"system": system, "value": people["bhxh"][0]}]}
        assert _match(client, described) == [(an_id, 1.0, "certain")], system


def test_an_identifier_that_demographics_contradict_is_not_certain(client, people):
    an_id, cccd = people["an"]
    described = {"resourceType": "Patient", "identifier": [{"system": CCCD, "value": cccd}],
                 "birthDate": "1990-01-01"}
    assert _match(client, described) == [(an_id, 0.5, "possible")]
    assert _match(client, described, onlyCertainMatches=True) == []
    described["birthDate"] = "1985"  # a birth year agrees with the date
    assert _match(client, described) == [(an_id, 1.0, "certain")]


def test_only_certain_matches_and_count(client, people):
    family = people["family"][0]
    described = _patient(family, "An", "1985-03-12")
    assert _match(client, described, onlyCertainMatches=True) == []
    assert len(_match(client, described, count=1)) == 1
    an_id, cccd = people["an"]
    described["identifier"] = [{"system": CCCD, "value": cccd}]
    assert _match(client, described, onlyCertainMatches=True) == [(an_id, 1.0, "certain")]


def test_several_certain_matches_are_withheld_saying_why(client, people):
    """Two records of one person (one CCCD) are both certain: under onlyCertainMatches none
    is returned, as R4 asks; the searchset said nothing, as if no patient had that CCCD."""
    family, cccd = people["family"][0], unique_cccd()
    for given in ("Hải", "Hai"):
        created(client, _patient(family, given, "1970-09-02",
                                 identifier=[{"system": CCCD, "value": cccd}]))
    described = _patient(family, "Hải", "1970-09-02",
                         identifier=[{"system": CCCD, "value": cccd}])
    assert [grade for _, _, grade in _match(client, described)][:2] == ["certain"] * 2
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": described},
        {"name": "onlyCertainMatches", "valueBoolean": True}]}
    bundle = client.post("/Patient/$match", json=body, headers=FHIR_HEADERS).json()
    (entry,) = bundle["entry"]
    assert entry["search"]["mode"] == "outcome"
    (issue,) = entry["resource"]["issue"]
    assert issue["code"] == "multiple-matches"
    assert issue["diagnostics"].startswith("2 patients are certain matches")


def test_the_patient_may_be_posted_as_it_is(client, people):
    """Patient-match: "(e.g. POST a patient record to Patient/$match)"."""
    an_id, cccd = people["an"]
    described = {"resourceType": "Patient", "identifier": [{"system": CCCD, "value": cccd}]}
    response = client.post("/Patient/$match", json=described, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    assert [entry["resource"]["id"] for entry in response.json()["entry"]][:1] == [an_id]


def test_another_personal_id_rules_a_candidate_out(client, people):
    family = people["family"][0]
    described = _patient(family, "An", "1985-03-12",
                         identifier=[{"system": CCCD, "value": unique_cccd()}])
    found = [i for i, _, _ in _match(client, described)]
    assert people["an"][0] not in found
    assert people["an_namesake"][0] in found  # no CCCD on file: still a candidate


@pytest.mark.parametrize("body", [
    {"resourceType": "Patient"},
    {"resourceType": "Parameters", "parameter": []},
    {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Observation"}}]},
    {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient", "gender": "male"}}]},
    {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient",
                                          "identifier": [{"system": "s", "value": "v"}]}},
        {"name": "count", "valueInteger": 0}]},
])
def test_what_cannot_be_matched_is_400(client, body):
    assert_outcome(client.post("/Patient/$match", json=body, headers=FHIR_HEADERS), 400)


def test_it_is_post_only_and_needs_search_scope(server, issuer, client):
    assert client.get("/Patient/$match").status_code == 405
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient",
                                          "identifier": [{"system": "s", "value": "v"}]}}]}
    with fhir_client(server.base, issuer.token("user/Patient.r")) as http:
        assert_outcome(http.post("/Patient/$match", json=body, headers=FHIR_HEADERS), 403)


def test_namesakes_born_the_same_day_do_not_crowd_out_the_identifier(client):
    """More patients share the family name and birth date than $match weighs (Nguyễn, born
    on one day, are thousands in a national index): the one whose CCCD is given is found,
    certain, whatever the order they are read in (here the last by id)."""
    family = f"Nguyễn{uuid.uuid4().hex[:6]}"
    namesakes = [{"resourceType": "Patient", "birthDate": "1975-05-05",
                  "name": [{"family": family, "given": ["Thị", f"Lan{n}"]}]}
                 for n in range(MAX_CANDIDATES)]
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient, "request": {"method": "POST", "url": "Patient"}}
        for patient in namesakes]}
    response = client.post("", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    cccd, target = unique_cccd(), f"zz{uuid.uuid4().hex}"  # after every server-made id
    response = client.put(f"/Patient/{target}", headers=FHIR_HEADERS, json={
        "resourceType": "Patient", "id": target, "birthDate": "1975-05-05",
        "identifier": [{"system": CCCD, "value": cccd}],
        "name": [{"family": family, "given": ["Thị", "Hoa"]}]})
    assert response.status_code == 201, response.text
    described = {"resourceType": "Patient", "birthDate": "1975-05-05",
                 "identifier": [{"system": CCCD, "value": cccd}], "name": [{"family": family}]}
    assert _match(client, described)[0] == (target, 1.0, "certain")
    assert _match(client, described, onlyCertainMatches=True) == [(target, 1.0, "certain")]


def test_a_gender_not_known_neither_agrees_nor_rules_out(client, people):
    """AdministrativeGender `unknown` is no gender different from `male`: the patient is
    still graded by the rest, as with no gender at all, on either side."""
    family = people["family"][0]
    described = _patient(family, "An", "1985-03-12")
    del described["gender"]
    without = _match(client, described)
    assert _match(client, {**described, "gender": "unknown"}) == without
    assert people["an"][0] in [i for i, _, _ in without]
    found = _match(client, {**described, "gender": "unknown",
                            "identifier": [{"system": CCCD, "value": people["an"][1]}]})
    assert found[0] == (people["an"][0], 1.0, "certain")


def test_the_given_names_of_a_text_beside_its_family_name(client, people):
    """A name of `text` and `family` without `given` (`Nguyễn Văn An`, `Nguyễn`) has its
    personal name in the text: graded as the name written in parts, or as text alone."""
    family = people["family"][0]
    parts = _match(client, _patient(family, "An", "1985-03-12"))
    text = f"{family} Văn An"
    described = {"resourceType": "Patient", "gender": "male", "birthDate": "1985-03-12",
                 "name": [{"text": text, "family": family}]}
    assert _match(client, described) == parts
    assert (people["an"][0], 0.9, "probable") in parts


def test_a_number_a_record_no_longer_holds_is_no_certain_match(client):
    """A CCCD marked `old` (or whose period has ended: a corrected, mistyped number) may be
    another person's: the record that held it is no certain match of that person, and its
    current CCCD, another, rules it out (probe DX: it was a second certain match)."""
    mistyped, corrected = unique_cccd(), unique_cccd()
    born = f"19{mistyped[4:6]}-01-01"
    former = created(client, _patient("Hoàng", "Nam", born, identifier=[
        {"use": "old", "system": CCCD, "value": mistyped},
        {"system": CCCD, "value": corrected}]))
    expired = created(client, _patient("Đinh", "Nam", born, identifier=[
        {"system": CCCD, "value": mistyped, "period": {"end": "2020-01-01"}}]))
    holder = created(client, _patient("Lương", "Nam", born, identifier=[
        {"system": CCCD, "value": mistyped}]))
    found = _match(client, {"resourceType": "Patient", "birthDate": born,
                            "identifier": [{"system": CCCD, "value": mistyped}]})
    assert found[0] == (holder["id"], 1.0, "certain"), found
    assert former["id"] not in {match[0] for match in found}, found
    assert (expired["id"], 1.0, "certain") not in found, found
