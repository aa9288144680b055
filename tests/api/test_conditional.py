"""Conditional create/update/delete/patch and the identity search they rely on
(http://hl7.org/fhir/R4/http.html#ccreate, http://hl7.org/fhir/R4/search.html)."""

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from helpers import (
    CCCD,
    FHIR_HEADERS,
    all_pages,
    assert_outcome,
    create,
    created,
    new_patient,
    next_link,
    patch,
    search_ids,
    unique_cccd,
    unique_system,
)


def _criteria(value: str, system: str = CCCD) -> str:
    return f"identifier={system}|{value}"


def _conditional_create(client, patient: dict, value: str) -> httpx.Response:
    return create(client, patient, **{"If-None-Exist": _criteria(value)})


def test_conditional_create_without_a_match_creates(client):
    value = unique_cccd()
    response = _conditional_create(client, new_patient(value), value)
    assert response.status_code == 201, response.text
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == [response.json()["id"]]


def test_criteria_in_a_create_url_are_refused_not_ignored(client):
    """Some client libraries send a conditional create's criteria in the URL (`POST
    Patient?identifier=...`): ignored, each call made another duplicate. 400, naming the
    If-None-Exist header; `_format` and `_pretty` are no criteria."""
    value = unique_cccd()
    refused = client.post("/Patient", params={"identifier": f"{CCCD}|{value}"},
                          json=new_patient(value), headers=FHIR_HEADERS)
    assert "If-None-Exist" in assert_outcome(refused, 400)["issue"][0]["diagnostics"]
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []
    shaped = client.post("/Patient", params={"_pretty": "true"}, json=new_patient(value),
                         headers=FHIR_HEADERS)
    assert shaped.status_code == 201, shaped.text


def test_metadata_takes_no_conditional_patch(client):
    response = client.patch("/metadata", json=[], headers={
        "Content-Type": "application/json-patch+json"})
    assert_outcome(response, 405)


def test_conditional_create_with_one_match_returns_it_and_creates_nothing(client):
    value = unique_cccd()
    first = created(client, new_patient(value))
    again = new_patient(value, gender="female")
    response = _conditional_create(client, again, value)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == first["id"]
    assert response.json()["gender"] == "male"
    bundle = client.get("/Patient", params={"identifier": f"{CCCD}|{value}"}).json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [first["id"]]
    assert client.get(f"/Patient/{first['id']}/_history").json()["total"] == 1


def test_conditional_create_with_two_matches_is_412(client):
    value = unique_cccd()
    created(client, new_patient(value))
    created(client, new_patient(value))
    assert_outcome(_conditional_create(client, new_patient(value), value), 412)
    assert len(search_ids(client, "Patient", identifier=f"{CCCD}|{value}")) == 2


def test_twenty_concurrent_identical_conditional_creates_make_one_resource(client, server):
    value = unique_cccd()
    patient = new_patient(value)

    def attempt(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=server.base, timeout=120, headers=client.headers) as own:
            response = _conditional_create(own, patient, value)
            return response.status_code, response.json().get("id", response.text)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 19 + [201], results
    ids = {resource_id for _, resource_id in results}
    found = search_ids(client, "Patient", identifier=f"{CCCD}|{value}")
    assert len(found) == 1
    assert ids == set(found)


def test_concurrent_conditional_creates_spelled_differently_make_one_resource(client, server):
    """`system|value`, the value alone and `%7C` for `|` match the same new patient: they
    serialise as identical criteria do (keyed on the query's text, they made several)."""
    value = unique_cccd()
    spellings = [f"identifier={CCCD}|{value}", f"identifier={value}",
                 f"identifier={CCCD}%7C{value}"]

    def attempt(index: int) -> tuple[int, str]:
        with httpx.Client(base_url=server.base, timeout=120, headers=client.headers) as own:
            response = own.post("/Patient", json=new_patient(value), headers={
                **FHIR_HEADERS, "If-None-Exist": spellings[index % len(spellings)]})
            return response.status_code, response.json().get("id", response.text)

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(attempt, range(12)))
    assert sorted(status for status, _ in results) == [200] * 11 + [201], results
    found = search_ids(client, "Patient", identifier=value)
    assert len(found) == 1 and {resource_id for _, resource_id in results} == set(found)


def test_concurrent_conditional_updates_in_transactions_make_one_resource(client, server):
    """`PUT Patient?identifier=...` entries of concurrent transactions serialise as direct
    conditional updates do: one creates, the others update it."""
    value = unique_cccd()

    def attempt(_: int) -> str:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": new_patient(value),
            "request": {"method": "PUT", "url": f"Patient?{_criteria(value)}"}}]}
        with httpx.Client(base_url=server.base, timeout=120, headers=client.headers) as own:
            response = own.post("/", json=bundle, headers=FHIR_HEADERS)
            assert response.status_code == 200, response.text
            return response.json()["entry"][0]["response"]["status"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(attempt, range(6)))
    assert statuses == ["200 OK"] * 5 + ["201 Created"], statuses
    assert len(search_ids(client, "Patient", identifier=value)) == 1


def test_concurrent_conditional_updates_creating_one_resource_all_succeed(client, server):
    """The losers of the race update what the winner created: their turn to write covers
    that resource too (a 409 'kept changing' came 2 times in 10 rounds of 8)."""
    value = unique_cccd()

    def attempt(_: int) -> int:
        with httpx.Client(base_url=server.base, timeout=120, headers=client.headers) as own:
            return own.put(f"/Patient?{_criteria(value)}", json=new_patient(value),
                           headers=FHIR_HEADERS).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] * 7 + [201], statuses
    assert len(search_ids(client, "Patient", identifier=value)) == 1


def test_conditional_update_without_a_match_creates(client, server):
    value = unique_cccd()
    response = client.put("/Patient", params={"identifier": f"{CCCD}|{value}"},
                          json=new_patient(value), headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    new_id = response.json()["id"]
    assert response.headers["location"] == f"{server.base}/Patient/{new_id}/_history/1"
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == [new_id]


def test_conditional_update_with_one_match_updates_that_resource(client):
    value = unique_cccd()
    first = created(client, new_patient(value))
    response = client.put("/Patient", params={"identifier": f"{CCCD}|{value}"},
                          json=new_patient(value, gender="other"), headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == first["id"]
    assert response.headers["etag"] == 'W/"2"'
    read = client.get(f"/Patient/{first['id']}").json()
    assert read["gender"] == "other"
    assert read["meta"]["versionId"] == "2"
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == [first["id"]]


def test_conditional_update_with_several_matches_is_412(client):
    value = unique_cccd()
    ids = [created(client, new_patient(value))["id"] for _ in range(2)]
    response = client.put("/Patient", params={"identifier": f"{CCCD}|{value}"},
                          json=new_patient(value, gender="other"), headers=FHIR_HEADERS)
    assert_outcome(response, 412)
    for resource_id in ids:
        assert client.get(f"/Patient/{resource_id}").json()["gender"] == "male"



def test_conditional_update_without_a_match_never_overwrites_the_id_in_the_body(client):
    """No match, and the body's id names an existing, unrelated resource: 409, nothing
    changed (R5 http.html#cond-update; R4 treats no match as a create, never an overwrite).
    An id nothing has is update-as-create, by PUT and in a transaction alike."""
    unrelated = created(client, new_patient(unique_cccd()))
    value = unique_cccd()
    body = new_patient(value, gender="other") | {"id": unrelated["id"]}
    response = client.put("/Patient", params={"identifier": f"{CCCD}|{value}"}, json=body,
                          headers=FHIR_HEADERS)
    assert_outcome(response, 409)
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": body, "request": {"method": "PUT", "url": f"Patient?{_criteria(value)}"}}]}
    assert_outcome(client.post("", json=transaction, headers=FHIR_HEADERS), 409)
    assert client.get(f"/Patient/{unrelated['id']}").json() == unrelated
    fresh_id = f"cu-{value}"
    response = client.put("/Patient", params={"identifier": f"{CCCD}|{value}"},
                          json=body | {"id": fresh_id}, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == [fresh_id]


def test_put_on_the_type_without_criteria_is_400(client):
    response = client.put("/Patient", json=new_patient(), headers=FHIR_HEADERS)
    assert_outcome(response, 400)


def test_conditional_criteria_without_a_value_are_400_and_change_nothing(client):
    """`If-None-Exist: identifier` or `PUT Patient?identifier=` name no value to match: a
    malformed request (400), not "several matches" (412)."""
    value = unique_cccd()
    for criteria in ("identifier", "identifier=", "_count=1"):
        response = create(client, new_patient(value), **{"If-None-Exist": criteria})
        assert_outcome(response, 400)
    response = client.put("/Patient?identifier=", json=new_patient(value), headers=FHIR_HEADERS)
    assert_outcome(response, 400)
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []


def test_criteria_that_are_not_utf8_are_400_wherever_they_are_sent(client):
    """`%FF` is refused in a URL's query; in `If-None-Exist` or a Bundle entry it was decoded
    as U+FFFD and matched nothing, so a conditional create created every time."""
    value = unique_cccd()
    for criteria in ("name=%FF", f"identifier={CCCD}|{value}&name=%C3%28"):
        response = create(client, new_patient(value), **{"If-None-Exist": criteria})
        assert "not UTF-8" in assert_outcome(response, 400)["issue"][0]["diagnostics"]
    entries = [{"request": {"method": "GET", "url": "Patient?name=%FF"}},
               {"resource": new_patient(value),
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": "name=%FF"}}]
    batch = client.post("/", json={"resourceType": "Bundle", "type": "batch", "entry": entries},
                        headers=FHIR_HEADERS)
    assert [e["response"]["status"][:3] for e in batch.json()["entry"]] == ["400", "400"]
    transaction = client.post("/", json={"resourceType": "Bundle", "type": "transaction",
                                         "entry": entries[1:]}, headers=FHIR_HEADERS)
    assert_outcome(transaction, 400)
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []


def test_conditional_update_with_if_match_and_no_match_is_412_and_creates_nothing(client):
    """If-Match names a version of the matched resource: with no match there is none, as
    for an update by id of an unknown resource."""
    value = unique_cccd()
    response = client.put("/Patient", params={"identifier": f"{CCCD}|{value}"},
                          json=new_patient(value), headers={**FHIR_HEADERS, "If-Match": 'W/"1"'})
    assert_outcome(response, 412)
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []


def test_conditional_delete_of_one_match_deletes_it(client):
    value = unique_cccd()
    first = created(client, new_patient(value))
    response = client.delete("/Patient", params={"identifier": f"{CCCD}|{value}"})
    assert response.status_code == 204
    assert_outcome(client.get(f"/Patient/{first['id']}"), 410)
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []


def test_conditional_delete_with_several_matches_is_412(client):
    value = unique_cccd()
    ids = [created(client, new_patient(value))["id"] for _ in range(2)]
    assert_outcome(client.delete("/Patient", params={"identifier": f"{CCCD}|{value}"}), 412)
    for resource_id in ids:
        assert client.get(f"/Patient/{resource_id}").status_code == 200


def test_conditional_delete_honours_if_match(client):
    """A client that read version 1 deletes nothing once another wrote version 2 (RFC 9110
    §13.1.1: If-Match is evaluated before the method), directly and in Bundle entries."""
    value = unique_cccd()
    patient = created(client, new_patient(value))
    criteria = {"identifier": f"{CCCD}|{value}"}
    assert_outcome(client.delete("/Patient", params=criteria, headers={"If-Match": 'W/"9"'}),
                   412)
    entry = {"request": {"method": "DELETE", "url": f"Patient?identifier={CCCD}|{value}",
                         "ifMatch": 'W/"9"'}}
    for kind in ("batch", "transaction"):
        response = client.post("", json={"resourceType": "Bundle", "type": kind,
                                         "entry": [entry]}, headers=FHIR_HEADERS)
        status = (response.status_code if kind == "transaction"
                  else int(response.json()["entry"][0]["response"]["status"][:3]))
        assert status == 412, response.text
    assert client.get(f"/Patient/{patient['id']}").status_code == 200
    deleted = client.delete("/Patient", params=criteria, headers={"If-Match": 'W/"1"'})
    assert deleted.status_code == 204
    assert_outcome(client.get(f"/Patient/{patient['id']}"), 410)
    assert_outcome(client.delete("/Patient", params=criteria, headers={"If-Match": 'W/"1"'}),
                   412)


def test_conditional_patch_changes_the_one_match(client):
    value = unique_cccd()
    first = created(client, new_patient(value))
    response = patch(client, f"/Patient?identifier={CCCD}|{value}",
                     [{"op": "replace", "path": "/birthDate", "value": "1986-04-30"}])
    assert response.status_code == 200, response.text
    assert response.json()["id"] == first["id"]
    read = client.get(f"/Patient/{first['id']}").json()
    assert read["birthDate"] == "1986-04-30"
    assert read["meta"]["versionId"] == "2"


def test_search_by_identifier_id_and_last_updated(client, server):
    value = unique_cccd()
    first = created(client, new_patient(value))
    bundle = client.get("/Patient", params={"identifier": f"{CCCD}|{value}"}).json()
    assert bundle["type"] == "searchset"
    [entry] = bundle["entry"]
    assert entry["fullUrl"] == f"{server.base}/Patient/{first['id']}"
    assert entry["search"]["mode"] == "match"
    assert entry["resource"] == first
    assert search_ids(client, "Patient", identifier=value) == [first["id"]]
    assert search_ids(client, "Patient", _id=first["id"]) == [first["id"]]
    stamp = first["meta"]["lastUpdated"]
    assert search_ids(client, "Patient", identifier=value, _lastUpdated=f"ge{stamp}") == [
        first["id"]]
    assert search_ids(client, "Patient", identifier=value, _lastUpdated=f"lt{stamp}") == []
    assert search_ids(client, "Patient", identifier=value, _lastUpdated="ge2999-01-01") == []
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{unique_cccd()}") == []


def _paging_fixture(client, n: int = 7) -> tuple[str, set[str]]:
    system = unique_system()
    ids = {created(client, new_patient(f"MRN{i:04d}", system=system))["id"] for i in range(n)}
    return system, ids


def test_count_paging_returns_each_match_exactly_once(client):
    system, ids = _paging_fixture(client)
    first = client.get("/Patient", params={"identifier": f"{system}|", "_count": "3"}).json()
    assert len(first["entry"]) == 3
    assert next_link(first) is not None
    entries, pages = all_pages(client, "/Patient", {"identifier": f"{system}|", "_count": "3"})
    found = [entry["resource"]["id"] for entry in entries]
    assert sorted(found) == sorted(ids)
    assert len(found) == len(set(found))
    assert pages == 3


def _tamper(url: str) -> str:
    parts = urlsplit(url)
    params = parse_qsl(parts.query)
    altered = []
    for name, value in params:
        if name == "_cursor":
            payload, _, tag = value.partition(".")
            flipped = "A" if payload[0] != "A" else "B"
            value = f"{flipped}{payload[1:]}.{tag}"
        altered.append((name, value))
    assert altered != params, "the next link has no _cursor"
    return urlunsplit(parts._replace(query=urlencode(altered)))


def test_a_tampered_cursor_is_400(client):
    system, _ = _paging_fixture(client, 3)
    bundle = client.get("/Patient", params={"identifier": f"{system}|", "_count": "1"}).json()
    link = next_link(bundle)
    assert client.get(link).status_code == 200
    assert_outcome(client.get(_tamper(link)), 400)
    assert_outcome(client.get("/Patient", params={"_cursor": "not-a-cursor"}), 400)


def test_unknown_parameters_are_ignored_unless_handling_is_strict(client):
    value = unique_cccd()
    first = created(client, new_patient(value))
    params = {"identifier": f"{CCCD}|{value}", "tinh-thanh": "Hà Nội"}
    lenient = client.get("/Patient", params=params)
    assert lenient.status_code == 200
    assert [e["resource"]["id"] for e in lenient.json()["entry"]] == [first["id"]]
    strict = client.get("/Patient", params=params, headers={"Prefer": "handling=strict"})
    assert_outcome(strict, 400)
    assert "tinh-thanh" in strict.text


def test_a_malformed_date_is_400_naming_the_parameter(client):
    response = client.get("/Patient", params={"_lastUpdated": "ge2020-13-45"})
    outcome = assert_outcome(response, 400)
    assert "_lastUpdated" in str(outcome)


def test_search_by_post_with_a_form_body(client):
    value = unique_cccd()
    first = created(client, new_patient(value))
    response = client.post("/Patient/_search", data={"identifier": f"{CCCD}|{value}"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [first["id"]]
    assert bundle["entry"][0]["resource"] == first
    empty = client.post("/Patient/_search", data={"identifier": f"{CCCD}|{unique_cccd()}"})
    assert empty.status_code == 200
    assert empty.json().get("entry", []) == []


def test_search_by_get_on_the_search_endpoint_is_a_search(client):
    """`GET [type]/_search?...` is answered as `GET [type]?...`, as HAPI and Firely do (it
    was a 404 read of a resource of id `_search`, which no id can be); in a compartment too."""
    value = unique_cccd()
    first = created(client, new_patient(value))
    for path in ("/Patient/_search", f"/Patient/{first['id']}/Patient/_search"):
        response = client.get(path, params={"identifier": f"{CCCD}|{value}"})
        assert response.status_code == 200, response.text
        assert [e["resource"]["id"] for e in response.json()["entry"]] == [first["id"]]


def test_a_conditional_reference_in_a_plain_write_or_batch_is_resolved(client):
    """`subject: Patient?identifier=s|v` names a search, not a resource: outside a transaction
    too it becomes the one Patient it matches (it was stored as the search URL), and no
    match or several fail the write with nothing stored."""
    value = unique_cccd()
    patient = created(client, new_patient(value))
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "cân nặng"},
                   "subject": {"reference": f"Patient?{_criteria(value)}"}}
    stored = created(client, observation)
    assert stored["subject"]["reference"] == f"Patient/{patient['id']}"
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": observation, "request": {"method": "POST", "url": "Observation"}}]}
    response = client.post("", json=batch, headers=FHIR_HEADERS)
    [entry] = response.json()["entry"]
    location = entry["response"]["location"].split("/_history/")[0]
    assert client.get(location).json()["subject"]["reference"] == f"Patient/{patient['id']}"
    missing = observation | {"subject": {"reference": f"Patient?{_criteria(unique_cccd())}"}}
    assert_outcome(client.post("/Observation", json=missing, headers=FHIR_HEADERS), 404)
    created(client, new_patient(value))
    assert_outcome(client.post("/Observation", json=observation, headers=FHIR_HEADERS), 412)
    assert len(search_ids(client, "Observation", subject=f"Patient/{patient['id']}")) == 2


def test_a_stored_bundle_keeps_the_conditional_references_of_its_entries(client):
    """A transaction Bundle kept as a record (POST /Bundle) is not run: its entries stay as
    sent, conditional references included."""
    reference = f"Patient?{_criteria(unique_cccd())}"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": {"resourceType": "Observation", "status": "final",
                     "code": {"text": "cân nặng"}, "subject": {"reference": reference}},
        "request": {"method": "POST", "url": "Observation"}}]}
    stored = created(client, bundle)
    assert stored["entry"][0]["resource"]["subject"]["reference"] == reference
