"""A transaction refused for what its entries hold says what every entry would be refused
for, each error placed in its entry: a client loading a large transaction learned one error
per attempt (three round trips for three bad entries). Nothing of it is stored."""

from bundle_helpers import post_entry, submit, transaction
from helpers import CCCD, new_patient, search_ids, unique_cccd

BP = "http://hl7.org/fhir/StructureDefinition/bp"


def _observation(**extra) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "Hb"}, **extra}


def _expressions(outcome: dict) -> set[str]:
    return {e for issue in outcome["issue"] if issue["severity"] == "error"
            for e in issue.get("expression", [])}


def test_every_entry_refused_for_its_content_is_named(client):
    value = unique_cccd()
    response = submit(client, transaction(
        post_entry(new_patient(value, birthDate="1990-02-30")),
        post_entry(_observation(status="khong-ro")),
        post_entry(new_patient(unique_cccd())),
        post_entry(_observation(meta={"profile": [BP]})),
    ))
    assert response.status_code == 400, response.text  # the worst of them: R4's own rules
    found = _expressions(response.json())
    assert {"Bundle.entry[0].resource.birthDate", "Bundle.entry[1].resource.status"} <= found
    assert any(e.startswith("Bundle.entry[3].resource") for e in found), found
    assert not any(e.startswith("Bundle.entry[2]") for e in found), found
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []


def test_profile_errors_alone_are_422(client):
    response = submit(client, transaction(
        post_entry(_observation(meta={"profile": [BP]})),
        post_entry(_observation(meta={"profile": [BP]})),
    ))
    assert response.status_code == 422, response.text
    found = _expressions(response.json())
    assert any(e.startswith("Bundle.entry[0]") for e in found), found
    assert any(e.startswith("Bundle.entry[1]") for e in found), found


def test_bad_if_none_exist_criteria_are_placed_in_the_entry_s_if_none_exist(client):
    """The criteria of a conditional create are `request.ifNoneExist`: an error in them was
    placed at `Bundle.entry[0].request`, as if the entry's url were at fault."""
    for criteria in ("khong-co=1", "birthdate=not-a-date"):
        entry = post_entry(new_patient(unique_cccd()))
        entry["request"]["ifNoneExist"] = criteria
        response = submit(client, transaction(entry))
        assert response.status_code == 400, response.text
        [issue] = response.json()["issue"]
        assert issue["expression"] == ["Bundle.entry[0].request.ifNoneExist"], issue
