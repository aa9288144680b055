"""Patient compartment search (http://hl7.org/fhir/R4/search.html#searchcontexts,
http://hl7.org/fhir/R4/compartmentdefinition-patient.html): `GET Patient/[id]/[type]` finds
the resources of that type in the compartment, through the parameters the
CompartmentDefinition lists (Encounter: patient; DocumentReference: subject, author;
Provenance: patient; Group: member), combined with the other parameters.

Data set: patients An and Bình; An has two encounters and Bình one; documents about An (two
types), about Bình, and one about a practitioner but authored by An; provenances targeting
An, An's encounter (not in the compartment) and Bình; a group with An as member.
"""

import pytest
from api.helpers import assert_outcome
from search.helpers import ACT_CODE, LOINC, expected, fill, found, load, ref


def _encounter(status: str, subject: str) -> dict:
    return {"resourceType": "Encounter", "status": status,
            "class": {"system": ACT_CODE, "code": "AMB"}, "subject": ref(subject)}


def _document(code: str, subject: str, *authors: str) -> dict:
    # FHIR JSON has no empty arrays (http://hl7.org/fhir/R4/json.html): no authors, no `author`.
    return {"resourceType": "DocumentReference", "status": "current",
            "type": {"coding": [{"system": LOINC, "code": code}]}, "subject": ref(subject),
            "content": [{"attachment": {"contentType": "text/plain", "data": "SGVsbG8="}}],
            } | ({"author": [ref(a) for a in authors]} if authors else {})


def _provenance(*targets: str) -> dict:
    return {"resourceType": "Provenance", "recorded": "2024-03-01T10:00:00Z",
            "target": [ref(t) for t in targets], "agent": [{"who": {"display": "HIS"}}]}


DATA = {
    "an": {"resourceType": "Patient", "name": [{"family": "Nguyễn", "given": ["An"]}]},
    "binh": {"resourceType": "Patient", "name": [{"family": "Lê", "given": ["Bình"]}]},
    "doctor": {"resourceType": "Practitioner", "name": [{"family": "Trần"}]},
    "ce1": _encounter("finished", "an"),
    "ce2": _encounter("in-progress", "an"),
    "ce3": _encounter("finished", "binh"),
    "cd_note": _document("34108-1", "an"),
    "cd_discharge": _document("18842-5", "an"),
    "cd_binh": _document("34108-1", "binh"),
    "cd_authored": _document("11488-4", "doctor", "an"),
    "cp_an": _provenance("an"),
    "cp_encounter": _provenance("ce1"),
    "cp_binh": _provenance("binh", "ce3"),
    "group": {"resourceType": "Group", "type": "person", "actual": True,
              "member": [{"entity": ref("an")}]},
}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, DATA)


@pytest.mark.parametrize(
    ("path", "params", "keys"),
    [
        ("/Patient/{an}/Encounter", {}, {"ce1", "ce2"}),
        ("/Patient/{binh}/Encounter", {}, {"ce3"}),
        ("/Patient/{an}/Encounter", {"status": "finished"}, {"ce1"}),
        ("/Patient/{an}/Encounter", {"status": "cancelled"}, set()),
        ("/Patient/{an}/DocumentReference", {}, {"cd_note", "cd_discharge", "cd_authored"}),
        ("/Patient/{an}/DocumentReference", {"type": f"{LOINC}|34108-1"}, {"cd_note"}),
        ("/Patient/{an}/DocumentReference", {"type": "18842-5,11488-4"},
         {"cd_discharge", "cd_authored"}),
        ("/Patient/{binh}/DocumentReference", {"type": f"{LOINC}|34108-1"}, {"cd_binh"}),
        # `recorded`: this module's Provenances, not those the server writes for each write.
        ("/Patient/{an}/Provenance", {"recorded": "2024-03-01"}, {"cp_an"}),
        ("/Patient/{binh}/Provenance", {"recorded": "2024-03-01"}, {"cp_binh"}),
        ("/Patient/{an}/Group", {}, {"group"}),
        ("/Patient/{binh}/Group", {}, set()),
        ("/Patient/{an}/Encounter", {"_count": "1"}, {"ce1", "ce2"}),
    ],
)
def test_compartment_search(client, ids, path, params, keys):
    assert found(client, fill(path, ids), params) == expected(ids, keys)


# Every R4 type is stored now; Organization is one the Patient compartment does not list.
@pytest.mark.parametrize("resource_type", ["Organization", "Observationx", "NoSuchType",
                                           "patient"])
def test_an_unknown_compartment_type_is_an_error_outcome(client, ids, resource_type):
    response = client.get(f"/Patient/{ids['an']}/{resource_type}")
    assert response.status_code in (400, 404), response.text
    assert_outcome(response, response.status_code)
