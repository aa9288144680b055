"""A Patient merged into another (`link` of type `replaced-by`, R4 codesystem-link-type: it
"must no longer be used", the one it names "must be used in lieu of" it) keeps the numbers
it was merged with. Where the server picks the one Patient a number stands for, it is no
candidate beside its survivor, nor is a record that no longer holds the number (`old`, its
period ended) beside one that does (probe DX)."""

import pytest
from api.helpers import CCCD, created, new_patient, unique_cccd

from security.helpers import fhir_client


@pytest.fixture
def merged(client) -> tuple[str, str, str]:
    """A CCCD, the surviving record holding it and the duplicate merged into it
    (`replaced-by` the survivor)."""
    number = unique_cccd(male=True)
    survivor = created(client, new_patient(number))
    duplicate = created(client, new_patient(number, active=False, link=[
        {"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]))
    return number, survivor["id"], duplicate["id"]


def test_another_records_replaces_alone_takes_over_no_login(server, issuer, client):
    """A merge counts as the merged record says it: had the survivor's `replaces` been
    enough, whoever may write a Patient could give theirs a person's CCCD and `replaces` the
    person's record, and the person's own login would open theirs. The two hold the number
    as duplicates awaiting a merge: the login grants nothing, and says why."""
    number = unique_cccd(male=True)
    own = created(client, new_patient(number))
    created(client, new_patient(number, link=[
        {"other": {"reference": f"Patient/{own['id']}"}, "type": "replaces"}]))
    with fhir_client(server.base, issuer.token("patient/*.rs", subject=number)) as http:
        response = http.get(f"/Patient/{own['id']}")
        assert response.status_code == 403, response.text
        assert "more than one" in response.text, response.text


def test_a_persons_own_login_opens_the_surviving_record(server, issuer, merged):
    """A VNeID login (no `patient` claim) opens the one current holder of the CCCD: the
    merged duplicate is none (it was 403, as for two duplicates awaiting a merge)."""
    number, survivor, _ = merged
    with fhir_client(server.base, issuer.token("patient/*.rs", subject=number)) as http:
        response = http.get(f"/Patient/{survivor}")
        assert response.status_code == 200, response.text
        # Its compartment, which holds a duplicate that links to it (its `link` parameter).
        response = http.get("/Patient")
        assert response.status_code == 200, response.text
        assert survivor in {entry["resource"]["id"] for entry in response.json()["entry"]}


def test_the_summary_by_identifier_is_the_survivors(client, merged):
    """`Patient/$summary?identifier=` summarises the one Patient holding it: the survivor,
    not 422 for several patients."""
    number, survivor, _ = merged
    response = client.get("/Patient/$summary", params={"identifier": f"{CCCD}|{number}"})
    assert response.status_code == 200, response.text
    patients = [entry["resource"]["id"] for entry in response.json()["entry"]
                if entry["resource"]["resourceType"] == "Patient"]
    assert patients == [survivor]


@pytest.mark.parametrize("only_certain", [False, True])
def test_match_finds_the_survivor_alone(client, merged, only_certain):
    """`Patient/$match` by the CCCD: the survivor is the one certain match; the duplicate,
    to be used no longer, is none (it was a second certain match, and `onlyCertainMatches`
    answered neither, as for records still to be merged)."""
    number, survivor, _ = merged
    described = new_patient(number)
    response = client.post("/Patient/$match", json={"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": described},
        {"name": "onlyCertainMatches", "valueBoolean": only_certain}]})
    assert response.status_code == 200, response.text
    matches = [(entry["resource"]["id"], entry["search"]["extension"][0]["valueCode"])
               for entry in response.json().get("entry", [])
               if entry["resource"]["resourceType"] == "Patient"]
    assert matches == [(survivor, "certain")]


@pytest.mark.parametrize("no_longer", [{"use": "old"}, {"period": {"end": "2020-06-30"}}])
def test_the_summary_by_identifier_is_of_its_holder_now(client, no_longer):
    """A record whose mistyped CCCD was corrected (the number marked `old`, or its period
    ended) no longer holds it: `$summary?identifier=` summarises the person holding it now,
    as a VNeID login opens their record (it was 422 for several patients)."""
    number = unique_cccd(male=True)
    former = new_patient(number)
    former["identifier"][0].update(no_longer)
    created(client, former)
    holder = created(client, new_patient(number))
    response = client.get("/Patient/$summary", params={"identifier": f"{CCCD}|{number}"})
    assert response.status_code == 200, response.text
    patients = [entry["resource"]["id"] for entry in response.json()["entry"]
                if entry["resource"]["resourceType"] == "Patient"]
    assert patients == [holder["id"]]
