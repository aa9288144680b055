"""$everything smoke test (the full suite is tests/operations/test_everything.py)."""

from api.helpers import created, new_patient


def _observation(patient_id: str, performer: str, when: str) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "performer": [{"reference": performer}],
            "effectiveDateTime": when, "valueQuantity": {"value": 72, "unit": "/min"}}


def test_patient_everything_pages_through_compartment_and_references(client):
    patient = created(client, new_patient())
    doctor = created(client, {"resourceType": "Practitioner", "name": [{"family": "Trần"}]})
    for day in range(1, 6):
        created(client, _observation(patient["id"], f"Practitioner/{doctor['id']}",
                                     f"2024-01-0{day}T08:00:00Z"))
    seen = []
    url = f"/Patient/{patient['id']}/$everything?_count=2"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert bundle["entry"], "no empty pages"
        seen += [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        pages += 1
    assert len(seen) == len(set(seen)) == 7
    assert ("Practitioner", doctor["id"]) in seen
    assert pages == 4
    dated = client.get(f"/Patient/{patient['id']}/$everything",
                       params={"start": "2024-01-02", "end": "2024-01-03"}).json()
    kinds = [e["resource"]["resourceType"] for e in dated["entry"]]
    assert kinds.count("Observation") == 2
    with_provenance = client.get(f"/Patient/{patient['id']}/$everything",
                                 params={"includeProvenance": "true"}).json()
    kinds = [e["resource"]["resourceType"] for e in with_provenance["entry"]]
    assert kinds.count("Provenance") == 7
