"""A conditional create, or a conditional update that matches nothing, must create a resource
its criteria then find: otherwise the same request, retried, matches nothing again and makes
a duplicate each time. 400 and nothing stored, as HAPI answers ("The supplied resource did
not satisfy the conditional URL"), directly and in transactions and batches."""

import pytest
from helpers import CCCD, FHIR_HEADERS, assert_outcome, create, new_patient, search_ids, unique_cccd


def _stored(client, value: str) -> list[str]:
    return search_ids(client, "Patient", identifier=f"{CCCD}|{value}")


def _entry(method: str, url: str, resource: dict, **request: str) -> dict:
    return {"resource": resource, "request": {"method": method, "url": url, **request}}


def test_a_direct_conditional_write_whose_body_its_criteria_miss_is_400(client):
    criteria, other = unique_cccd(), unique_cccd()
    for _ in range(2):  # a retry makes nothing either
        refused = create(client, new_patient(other),
                         **{"If-None-Exist": f"identifier={CCCD}|{criteria}"})
        assert "conditional criteria" in assert_outcome(refused, 400)["issue"][0][
            "diagnostics"]
        refused = client.put("/Patient", params={"identifier": f"{CCCD}|{criteria}"},
                             json=new_patient(other), headers=FHIR_HEADERS)
        assert_outcome(refused, 400)
    assert _stored(client, criteria) == [] and _stored(client, other) == []
    # `PUT Patient?_id=x` of a body without that id created one with a new id at each call.
    assert_outcome(client.put("/Patient", params={"_id": f"cm-{other}"},
                              json=new_patient(other), headers=FHIR_HEADERS), 400)
    assert _stored(client, other) == []


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_a_conditional_entry_whose_body_its_criteria_miss_fails(client, kind):
    criteria, other = unique_cccd(), unique_cccd()
    query = f"identifier={CCCD}|{criteria}"
    for entry in (_entry("POST", "Patient", new_patient(other), ifNoneExist=query),
                  _entry("PUT", f"Patient?{query}", new_patient(other))):
        response = client.post("", headers=FHIR_HEADERS, json={
            "resourceType": "Bundle", "type": kind, "entry": [entry]})
        if kind == "transaction":
            assert_outcome(response, 400)
        else:
            assert response.status_code == 200, response.text
            [answer] = response.json()["entry"]
            assert answer["response"]["status"].startswith("400"), answer
    assert _stored(client, criteria) == [] and _stored(client, other) == []


def test_a_body_its_criteria_find_is_still_created_once(client):
    value = unique_cccd()
    query = f"identifier={CCCD}|{value}&gender=male&birthdate=ge1900"
    for status in (201, 200):
        response = create(client, new_patient(value), **{"If-None-Exist": query})
        assert response.status_code == status, response.text
    assert len(_stored(client, value)) == 1


def test_criteria_in_raw_utf_8_find_what_they_name(client):
    """Criteria a client sends unencoded (`Lê`, as UTF-8 bytes in the header) are read as
    UTF-8: read as ISO-8859-1 they matched nothing, and the create made a duplicate."""
    value = f"Lê-{unique_cccd()}"
    patient = new_patient() | {"identifier": [{"system": "urn:ine", "value": value}]}
    criteria = f"identifier=urn:ine|{value}".encode()
    for status in (201, 200):
        response = client.post("/Patient", json=patient,
                               headers={**FHIR_HEADERS, "If-None-Exist": criteria})
        assert response.status_code == status, response.text
    assert len(search_ids(client, "Patient", identifier=f"urn:ine|{value}")) == 1


@pytest.mark.parametrize("if_match,status", [('W/"1"', 412), (None, 400)])
def test_a_conditional_update_that_would_create_is_refused_as_the_request_alone(client,
                                                                               if_match,
                                                                               status):
    """A conditional update that matches nothing and would create, but expects a version
    (412) or sends a body its criteria miss (400), is refused naming its criteria, as the
    request alone is: in a transaction it named the id the transaction had made up for it
    (`If-Match expects version 1 of Patient/375e...`), which exists nowhere."""
    value = unique_cccd()
    query = f"identifier={CCCD}|{value}"
    body = new_patient(value if if_match else unique_cccd())
    condition = {"ifMatch": if_match} if if_match else {}
    headers = {**FHIR_HEADERS, **({"If-Match": if_match} if if_match else {})}
    direct = client.put(f"/Patient?{query}", json=body, headers=headers)
    message = assert_outcome(direct, status)["issue"][0]["diagnostics"]
    assert f"'{query}'" in message, message
    entry = _entry("PUT", f"Patient?{query}", body, **condition)
    in_batch = client.post("", headers=FHIR_HEADERS, json={
        "resourceType": "Bundle", "type": "batch", "entry": [entry]}).json()["entry"][0]
    assert in_batch["response"]["outcome"]["issue"][0]["diagnostics"] == message
    in_transaction = client.post("", headers=FHIR_HEADERS, json={
        "resourceType": "Bundle", "type": "transaction", "entry": [entry]})
    assert assert_outcome(in_transaction, status)["issue"][0]["diagnostics"] == (
        f"Bundle.entry[0] (PUT Patient): {message}")
    assert _stored(client, value) == []
