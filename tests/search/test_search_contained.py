"""Chains evaluated inside contained resources (http://hl7.org/fhir/R4/search.html#contained):
"By default, search results only include resources that are not contained in other
resources. A chained condition will be evaluated inside contained resources."

Data set: official examples whose references point at contained resources
(MedicationRequest/medrx0318's Medication `#med0301`, the apgar-score Observations' Patient
`#newborn`, named Chalmers) beside Patient/example (Chalmers too) and Medication/med0301
(stored, with the code of the contained one); Observations of our own: `kid`'s subject is a
contained Patient managed by a stored Organization, `of_parent`'s a stored Patient managed by
a contained one; `twin`'s subject is Patient/twin and its performer a contained Patient
whose id is `twin` too; and a MedicationRequest, `other_drug`, whose medication is a
contained Medication of another code, with the ingredient `abc` of search.html's example.
"""

import json
from pathlib import Path

import pytest
from api.helpers import FHIR_HEADERS
from search.helpers import expected, found, load, matches, search

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples-all"
APGAR = {f"{minutes}minute-apgar-score" for minutes in (1, 2, 5, 10, 20)}
OFFICIAL = ["MedicationRequest-medrx0318", "Medication-med0301", "Patient-example",
            *(f"Observation-{apgar}" for apgar in sorted(APGAR))]
VANCOMYCIN = "http://hl7.org/fhir/sid/ndc|0069-2587-10"
VITALS = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}


def _observation(subject: str, *contained: dict, **extra) -> dict:
    observation = {"resourceType": "Observation", "status": "final", "code": VITALS,
                   "subject": {"reference": subject}, **extra}
    return (observation | {"contained": list(contained)}) if contained else observation


def _patient(patient_id: str, family: str, **extra) -> dict:
    return {"resourceType": "Patient", "id": patient_id, "name": [{"family": family}], **extra}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    for name in OFFICIAL:
        example = json.loads((EXAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))
        response = client.put(f"/{example['resourceType']}/{example['id']}", json=example,
                              headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text
    response = client.put("/Patient/twin", json=_patient("twin", "Storedtwin"),
                          headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    loaded = load(client, {
        "clinic": {"resourceType": "Organization", "name": "Chainclinic"},
        "parent": {"resourceType": "Patient", "managingOrganization": {"reference": "#ward"},
                   "contained": [{"resourceType": "Organization", "id": "ward",
                                  "name": "Innerclinic"}]},
    })
    clinic = {"reference": f"Organization/{loaded['clinic']}"}
    other_drug = {"resourceType": "Medication", "id": "other",
                  "code": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc",
                                       "code": "0000-0000-00"}]},
                  "ingredient": [{"itemCodeableConcept": {"coding": [
                      {"system": "http://example.org/ingredient", "code": "abc"}]}}]}
    loaded |= load(client, {
        "kid": _observation("#kid", _patient("kid", "Containedkid", managingOrganization=clinic)),
        "of_parent": _observation(f"Patient/{loaded['parent']}"),
        "twin": _observation("Patient/twin", _patient("twin", "Containedtwin"),
                             performer=[{"reference": "#twin"}]),
        "other_drug": {"resourceType": "MedicationRequest", "status": "active",
                       "intent": "order", "subject": {"reference": "Patient/example"},
                       "contained": [other_drug], "medicationReference": {"reference": "#other"}},
    })
    return loaded | {"medrx0318": "medrx0318"} | {apgar: apgar for apgar in APGAR}


@pytest.mark.parametrize(("path", "params", "keys"), [
    # search.html#contained's own example, then the official one.
    ("/MedicationRequest", {"medication.ingredient-code": "abc"}, {"other_drug"}),
    ("/MedicationRequest", {"medication.code": VANCOMYCIN}, {"medrx0318"}),
    ("/MedicationRequest", {"medication:Medication.code": VANCOMYCIN}, {"medrx0318"}),
    ("/MedicationRequest", {"medication.code": "0069-2587-10"}, {"medrx0318"}),
    ("/Observation", {"subject.name": "Chalmers"}, APGAR),
    ("/Observation", {"subject:Patient.name": "Chalmers"}, APGAR),
    ("/Observation", {"patient.birthdate": "2016-05-18"}, APGAR),
    ("/Observation", {"subject.identifier": "http://acmehealthcare/org/mrns|12345"}, APGAR),
    ("/Observation", [("subject.name", "Chalmers"), ("subject.gender", "male")], APGAR),
    # A multi-level chain whose first link is contained, the next one stored; and the
    # reverse.
    ("/Observation", {"subject:Patient.organization.name": "Chainclinic"}, {"kid"}),
    ("/Observation", {"subject.organization.name": "Chainclinic"}, {"kid"}),
    ("/Observation", {"subject.organization.name": "Innerclinic"}, {"of_parent"}),
])
def test_a_chain_is_evaluated_inside_contained_resources(client, ids, path, params, keys):
    assert found(client, path, params) == expected(ids, keys)


@pytest.mark.parametrize(("path", "params", "keys"), [
    # The contained target does not match.
    ("/MedicationRequest", {"medication.code": "http://hl7.org/fhir/sid/ndc|0000-0000-01"},
     set()),
    ("/Observation", {"subject.name": "Containedkidx"}, set()),
    ("/Observation", [("subject.name", "Chalmers"), ("subject.gender", "female")], set()),
    # Nor is it of the type a typed chain names.
    ("/Observation", {"subject:Location.name": "Chalmers"}, set()),
    # A contained resource counts for the parameters that point at it, not for those that
    # point at a stored resource of the same id.
    ("/Observation", {"subject.name": "Containedtwin"}, set()),
    ("/Observation", {"performer:Patient.name": "Containedtwin"}, {"twin"}),
    ("/Observation", {"subject.name": "Storedtwin"}, {"twin"}),
    ("/Observation", {"performer.name": "Storedtwin"}, set()),
])
def test_a_chain_matches_a_contained_resource_only_through_its_own_references(
        client, ids, path, params, keys):
    assert found(client, path, params) == expected(ids, keys)


def test_a_chain_is_evaluated_inside_an_updated_resource_as_it_is_now(client, ids):
    """The contained entries are those of the current version: a medication the update
    no longer contains is no longer found."""
    drug = client.get(f"/MedicationRequest/{ids['other_drug']}").json()
    code = "http://hl7.org/fhir/sid/ndc|0000-0000-00"
    assert found(client, "/MedicationRequest", {"medication.code": code}) == {ids["other_drug"]}
    drug["contained"][0]["code"]["coding"][0]["code"] = "0000-0000-02"
    response = client.put(f"/MedicationRequest/{drug['id']}", json=drug, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    assert found(client, "/MedicationRequest", {"medication.code": code}) == set()
    assert found(client, "/MedicationRequest", {"medication.code": code[:-1] + "2"}) == \
        {ids["other_drug"]}


@pytest.mark.parametrize(("path", "params", "ids_found"), [
    ("/Medication", {"code": VANCOMYCIN}, ["med0301"]),
    ("/Patient", {"name": "Chalmers"}, ["example"]),
    ("/Patient", {"name": "Containedtwin"}, []),
])
def test_contained_resources_are_never_matches_themselves(client, ids, path, params, ids_found):
    assert [r["id"] for r in matches(search(client, path, params))] == ids_found


def test_include_does_not_bring_contained_resources(client, ids):
    """`_include` follows references to stored resources; `#med0301` is in the match."""
    bundle = search(client, "/MedicationRequest", {"medication.code": VANCOMYCIN,
                                                   "_include": "MedicationRequest:medication"})
    assert [(e["resource"]["id"], e["search"]["mode"]) for e in bundle["entry"]] == \
        [("medrx0318", "match")]
