"""transaction Bundles: all or nothing, reference rewriting, processing order
(http://hl7.org/fhir/R4/http.html#transaction)."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from bundle_helpers import (
    check_written,
    delete_entry,
    document_reference,
    encounter,
    get_entry,
    history_snapshot,
    identifier_query,
    outcome_names_entry,
    patch_entry,
    post_entry,
    put_entry,
    response_bundle,
    submit,
    transaction,
    urn,
)
from helpers import (
    CCCD,
    assert_outcome,
    created,
    new_organization,
    new_patient,
    search_ids,
    unique_cccd,
)

SUB_EXTENSION_URL = "http://fhir.hl7.org.vn/core/StructureDefinition/co-so-kcb-ban-dau"


def _patients_with(client, value: str) -> list[str]:
    return search_ids(client, "Patient", identifier=f"{CCCD}|{value}")


def test_transaction_rewrites_urn_uuid_references_everywhere(client, server):
    value = unique_cccd()
    patient_url, encounter_url, org_url, group_url = urn(), urn(), urn(), urn()
    patient = new_patient(value, managingOrganization={"reference": org_url}, extension=[
        {"url": SUB_EXTENSION_URL,
         "extension": [{"url": "coSo", "valueReference": {"reference": org_url}}]}])
    group = {"resourceType": "Group", "type": "person", "actual": True,
             "name": "Bệnh nhân khoa Nội tổng hợp",
             "member": [{"entity": {"reference": patient_url}}]}
    # Entries that refer to the Patient come before it: order does not matter.
    response = submit(client, transaction(
        post_entry(encounter(patient_url, serviceProvider={"reference": org_url}), encounter_url),
        post_entry(document_reference(patient_url, encounter_url), urn()),
        post_entry(group, group_url),
        post_entry(patient, patient_url),
        post_entry(new_organization("Bệnh viện Chợ Rẫy"), org_url),
    ))
    entries = response_bundle(response, "transaction-response", 5)
    types = ["Encounter", "DocumentReference", "Group", "Patient", "Organization"]
    ids = [check_written(e, server.base, t, "201 Created") for e, t in zip(entries, types,
                                                                          strict=True)]
    enc, doc, grp, pat, org = (e["resource"] for e in entries)
    assert enc["subject"] == {"reference": f"Patient/{ids[3]}", "display": "Nguyễn Văn An"}
    assert enc["serviceProvider"] == {"reference": f"Organization/{ids[4]}"}
    assert doc["subject"] == {"reference": f"Patient/{ids[3]}"}
    assert doc["context"]["encounter"] == [{"reference": f"Encounter/{ids[0]}"}]
    assert grp["member"] == [{"entity": {"reference": f"Patient/{ids[3]}"}}]
    assert pat["managingOrganization"] == {"reference": f"Organization/{ids[4]}"}
    assert pat["extension"][0]["extension"][0]["valueReference"] == {
        "reference": f"Organization/{ids[4]}"}
    assert pat["name"] == [{"use": "official", "family": "Nguyễn", "given": ["Văn", "An"]}]
    for entry, kind, resource_id in zip(entries, types, ids, strict=True):
        stored = client.get(f"/{kind}/{resource_id}")
        assert stored.status_code == 200, stored.text
        assert stored.json() == entry["resource"]
        assert "urn:uuid" not in stored.text
    assert _patients_with(client, value) == [ids[3]]


def test_response_keeps_request_order_while_processing_writes_before_reads(client, server):
    kept, removed, new = unique_cccd(), unique_cccd(), unique_cccd()
    to_update = created(client, new_patient(kept))
    to_delete = created(client, new_patient(removed))
    updated = {**new_patient(kept, gender="female"), "id": to_update["id"]}
    response = submit(client, transaction(
        get_entry(f"Patient?{identifier_query(new)}"),
        get_entry(f"Patient?{identifier_query(removed)}"),
        put_entry(updated),
        delete_entry(f"Patient/{to_delete['id']}"),
        post_entry(new_patient(new, name=[{"family": "Trần", "given": ["Thị", "Bích"]}])),
    ))
    entries = response_bundle(response, "transaction-response", 5)
    new_id = check_written(entries[4], server.base, "Patient", "201 Created")
    # GET entries run after every write (http.html#trules): they see the new Patient ...
    found, gone = entries[0], entries[1]
    assert found["response"]["status"] == "200 OK"
    assert found["resource"]["type"] == "searchset"
    assert [e["resource"]["id"] for e in found["resource"]["entry"]] == [new_id]
    # ... and no longer see the deleted one.
    assert gone["response"]["status"] == "200 OK"
    assert gone["resource"]["type"] == "searchset"
    assert gone["resource"].get("entry", []) == []
    check_written(entries[2], server.base, "Patient", "200 OK", vid=2)
    assert entries[2]["resource"]["gender"] == "female"
    assert entries[3]["response"]["status"] in ("200 OK", "204 No Content")
    assert client.get(f"/Patient/{to_delete['id']}").status_code == 410
    assert client.get(f"/Patient/{to_update['id']}").json()["gender"] == "female"


def test_prefer_return_minimal_leaves_out_the_resources(client, server):
    value, patient_url = unique_cccd(), urn()
    response = submit(client, transaction(
        post_entry(new_patient(value), patient_url),
        post_entry(encounter(patient_url)),
    ), Prefer="return=minimal")
    entries = response_bundle(response, "transaction-response", 2)
    patient_id = check_written(entries[0], server.base, "Patient", "201 Created",
                               with_resource=False)
    encounter_id = check_written(entries[1], server.base, "Encounter", "201 Created",
                                 with_resource=False)
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"


def test_put_entry_with_urn_full_url_maps_to_its_url_id(client, server):
    patient_id, patient_url = f"vn-{uuid.uuid4().hex[:16]}", urn()
    patient = {**new_patient(), "id": patient_id}
    response = submit(client, transaction(
        post_entry(encounter(patient_url)),
        put_entry(patient, full_url=patient_url),
    ))
    entries = response_bundle(response, "transaction-response", 2)
    encounter_id = check_written(entries[0], server.base, "Encounter", "201 Created")
    assert check_written(entries[1], server.base, "Patient", "201 Created") == patient_id
    assert entries[0]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"


def test_conditional_reference_resolves_to_the_one_matching_resource(client, server):
    value = unique_cccd()
    patient, encounter_url = created(client, new_patient(value)), urn()
    response = submit(client, transaction(
        post_entry(encounter(f"Patient?identifier={CCCD}|{value}"), encounter_url),
        post_entry(document_reference(f"Patient?identifier={CCCD}|{value}", encounter_url)),
    ))
    entries = response_bundle(response, "transaction-response", 2)
    encounter_id = check_written(entries[0], server.base, "Encounter", "201 Created")
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient['id']}"
    assert entries[1]["resource"]["subject"] == {"reference": f"Patient/{patient['id']}"}


@pytest.mark.parametrize("matches", [0, 2])
def test_conditional_reference_without_exactly_one_match_fails_everything(client, matches):
    value, bystander = unique_cccd(), unique_cccd()
    for _ in range(matches):
        created(client, new_patient(value))
    before = history_snapshot(client)
    response = submit(client, transaction(
        post_entry(new_patient(bystander)),
        post_entry(encounter(f"Patient?identifier={CCCD}|{value}")),
    ))
    assert 400 <= response.status_code < 500, response.text
    outcome_names_entry(assert_outcome(response, response.status_code), 1)
    assert _patients_with(client, bystander) == []
    assert history_snapshot(client) == before


@pytest.mark.parametrize("entry", [
    post_entry(new_patient(), urn(), "foo=bar"),
    post_entry(new_patient(), urn(), "identifier:zz=x"),
    post_entry(new_patient(), urn(), "name=%FF"),  # not UTF-8
    put_entry(new_patient(), "Patient?name=%FF"),
    patch_entry("Patient?name=%FF", []),
    get_entry("Patient?name=%FF"),
])
def test_unreadable_criteria_name_their_entry(client, entry):
    """The OperationOutcome said "Unknown search parameter 'foo' for Patient" at `foo`, or
    "The criteria 'name=%FF' have percent-escapes that are not UTF-8", naming no entry: the
    client could not tell which of its entries failed."""
    bystander = unique_cccd()
    response = submit(client, transaction(post_entry(new_patient(bystander)), entry))
    outcome = assert_outcome(response, 400)
    outcome_names_entry(outcome, 1)
    assert outcome["issue"][0]["expression"][0].startswith("Bundle.entry[1]"), outcome
    assert _patients_with(client, bystander) == []


def test_if_none_exist_match_points_references_to_the_existing_resource(client, server):
    value, patient_url = unique_cccd(), urn()
    existing = created(client, new_patient(value))
    response = submit(client, transaction(
        post_entry(new_patient(value, gender="female"), patient_url, identifier_query(value)),
        post_entry(encounter(patient_url)),
    ))
    entries = response_bundle(response, "transaction-response", 2)
    assert entries[0]["response"]["status"] == "200 OK", entries[0]
    assert entries[0]["response"]["location"].startswith(
        f"{server.base}/Patient/{existing['id']}/_history/1"), entries[0]
    encounter_id = check_written(entries[1], server.base, "Encounter", "201 Created")
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{existing['id']}"
    assert _patients_with(client, value) == [existing["id"]]
    assert client.get(f"/Patient/{existing['id']}").json() == existing


def test_the_same_conditional_create_twice_makes_one_resource_both_point_at(client, server):
    """The same patient twice in one transaction, each with the same If-None-Exist and no
    stored match: the first makes it, the second matches it, and references to either
    fullUrl lead to it."""
    value, first_url, second_url = unique_cccd(), urn(), urn()
    response = submit(client, transaction(
        post_entry(new_patient(value), first_url, identifier_query(value)),
        post_entry(new_patient(value), second_url, identifier_query(value)),
        post_entry(encounter(second_url)),
        post_entry(encounter(first_url)),
    ))
    entries = response_bundle(response, "transaction-response", 4)
    patient_id = check_written(entries[0], server.base, "Patient", "201 Created")
    assert entries[1]["response"]["status"] == "200 OK", entries[1]
    assert entries[1]["response"]["location"].startswith(f"{server.base}/Patient/{patient_id}/")
    for entry in entries[2:]:
        encounter_id = check_written(entry, server.base, "Encounter", "201 Created")
        subject = client.get(f"/Encounter/{encounter_id}").json()["subject"]["reference"]
        assert subject == f"Patient/{patient_id}"
        assert client.get(f"/{subject}").status_code == 200
    assert _patients_with(client, value) == [patient_id]


def test_a_conditional_create_matching_another_entrys_resource_fails_everything(client):
    """Different conditions that both end at the patient the transaction makes: the
    references to the second were given an id nobody writes, so nothing is committed."""
    value, first_url, second_url = unique_cccd(), urn(), urn()
    before = history_snapshot(client)
    response = submit(client, transaction(
        post_entry(new_patient(value), first_url, identifier_query(value)),
        post_entry(new_patient(value), second_url, f"{identifier_query(value)}&_id:not=x"),
        post_entry(encounter(second_url)),
    ))
    assert_outcome(response, 409)
    assert _patients_with(client, value) == []
    assert history_snapshot(client) == before


def test_conditional_put_with_urn_full_url_maps_to_the_matched_resource(client, server):
    value, patient_url = unique_cccd(), urn()
    existing = created(client, new_patient(value))
    response = submit(client, transaction(
        post_entry(encounter(patient_url)),
        put_entry(new_patient(value, gender="female"), f"Patient?{identifier_query(value)}",
                  full_url=patient_url),
    ))
    entries = response_bundle(response, "transaction-response", 2)
    check_written(entries[0], server.base, "Encounter", "201 Created")
    assert check_written(entries[1], server.base, "Patient", "200 OK", vid=2) == existing["id"]
    assert entries[0]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    assert _patients_with(client, value) == [existing["id"]]


def test_concurrent_conditional_creates_make_one_resource(client):
    value = unique_cccd()

    def attempt(_: int) -> list[dict]:
        patient_url = urn()
        return response_bundle(submit(client, transaction(
            post_entry(new_patient(value), patient_url, identifier_query(value)),
            post_entry(encounter(patient_url)),
        )), "transaction-response", 2)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    (patient_id,) = _patients_with(client, value)
    statuses = sorted(entries[0]["response"]["status"] for entries in results)
    assert statuses == ["200 OK", "200 OK", "200 OK", "201 Created"]
    for entries in results:
        assert entries[1]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"


def _invalid_last_entry(case: str, target: dict) -> tuple[dict, int | tuple[int, ...]]:
    """A failing entry and the status(es) the whole transaction may fail with."""
    if case == "invalid-gender":
        return post_entry(new_patient(gender="xx")), 400
    if case == "stale-if-match-put":
        return put_entry({**target, "gender": "female"}, if_match='W/"7"'), 412
    if case == "stale-if-match-delete":
        return delete_entry(f"Patient/{target['id']}", if_match='W/"7"'), 412
    if case == "patch-makes-invalid":
        return patch_entry(f"Patient/{target['id']}",
                           [{"op": "replace", "path": "/gender", "value": "xx"}]), (400, 422)
    if case == "patch-of-missing":
        return patch_entry(f"Patient/{uuid.uuid4()}",
                           [{"op": "replace", "path": "/gender", "value": "female"}]), 404
    if case == "read-of-missing":
        return get_entry(f"Patient/{uuid.uuid4()}"), 404
    if case == "unsupported-type":
        # Every R4 type is stored now: only a type R4 does not define stays unsupported.
        return post_entry({"resourceType": "Observationx", "status": "final",
                           "code": {"text": "Huyết áp"}}), (400, 404, 422)
    raise AssertionError(case)


@pytest.mark.parametrize("case", [
    "invalid-gender", "stale-if-match-put", "stale-if-match-delete", "patch-makes-invalid",
    "patch-of-missing", "read-of-missing", "unsupported-type",
])
def test_failing_last_entry_stores_nothing(client, case):
    target = created(client, new_patient())
    value, patient_url = unique_cccd(), urn()
    bad, statuses = _invalid_last_entry(case, target)
    before = history_snapshot(client)
    response = submit(client, transaction(
        post_entry(new_patient(value), patient_url),
        post_entry(encounter(patient_url)),
        bad,
    ))
    allowed = statuses if isinstance(statuses, tuple) else (statuses,)
    assert response.status_code in allowed, (response.status_code, response.text)
    outcome_names_entry(assert_outcome(response, response.status_code), 2)
    assert _patients_with(client, value) == []
    assert history_snapshot(client) == before
    assert client.get(f"/Patient/{target['id']}").json() == target


def test_patch_entry_applies_a_json_patch_binary(client, server):
    patient = created(client, new_patient())
    operations = [
        {"op": "replace", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/telecom",
         "value": [{"system": "phone", "value": "0912345678", "use": "mobile"}]},
    ]
    response = submit(client, transaction(
        patch_entry(f"Patient/{patient['id']}", operations, if_match='W/"1"')))
    (entry,) = response_bundle(response, "transaction-response", 1)
    assert check_written(entry, server.base, "Patient", "200 OK", vid=2) == patient["id"]
    stored = client.get(f"/Patient/{patient['id']}").json()
    assert stored == entry["resource"]
    assert stored["gender"] == "female"
    assert stored["telecom"] == operations[1]["value"]
    assert stored["name"] == patient["name"]


def test_patch_entry_needs_a_json_patch_binary(client):
    patient = created(client, new_patient())
    operations = [{"op": "replace", "path": "/gender", "value": "female"}]
    response = submit(client, transaction(
        post_entry(new_patient()),
        patch_entry(f"Patient/{patient['id']}", operations, content_type="application/json")))
    outcome_names_entry(assert_outcome(response, 400), 1)
    assert client.get(f"/Patient/{patient['id']}").json() == patient


def test_get_entries_read_and_search(client, server):
    value = unique_cccd()
    patient = created(client, new_patient(value))
    response = submit(client, transaction(
        get_entry(f"Patient/{patient['id']}"),
        get_entry(f"Patient?{identifier_query(value)}"),
    ))
    read, search = response_bundle(response, "transaction-response", 2)
    assert read["response"]["status"] == "200 OK"
    assert read["resource"] == patient
    assert read["response"].get("etag", 'W/"1"') == 'W/"1"'
    assert search["response"]["status"] == "200 OK"
    assert search["resource"]["resourceType"] == "Bundle"
    assert search["resource"]["type"] == "searchset"
    assert [e["resource"] for e in search["resource"]["entry"]] == [patient]


@pytest.mark.parametrize("body", [
    {"resourceType": "Bundle", "type": "collection",
     "entry": [{"fullUrl": "urn:uuid:0b6c3c1e-6f0a-4a59-9d49-3f0c1c2a7d10",
                "resource": new_patient()}]},
    {"resourceType": "Bundle", "type": "searchset", "entry": []},
    new_patient(),
    [{"resourceType": "Bundle", "type": "transaction", "entry": []}],
], ids=["collection", "searchset", "patient", "json-array"])
def test_only_batch_transaction_or_history_bundles_are_accepted(client, body):
    before = history_snapshot(client)
    assert_outcome(submit(client, body), 400)
    assert history_snapshot(client) == before


def test_entry_without_request_is_rejected(client):
    value = unique_cccd()
    before = history_snapshot(client)
    response = submit(client, transaction(
        post_entry(new_patient(value)),
        {"fullUrl": urn(), "resource": new_patient(unique_cccd())},
    ))
    outcome_names_entry(assert_outcome(response, 400), 1)
    assert _patients_with(client, value) == []
    assert history_snapshot(client) == before


def test_too_many_entries_is_413(client, server):
    limit = server.settings.max_bundle_entries
    value = unique_cccd()
    entries = [post_entry(new_patient(value))]
    entries += [get_entry(f"Patient/{n}") for n in range(limit)]
    body = json.dumps(transaction(*entries))
    response = client.post("", content=body, headers={"Content-Type": "application/fhir+json"})
    assert_outcome(response, 413)
    assert _patients_with(client, value) == []


def test_a_history_entry_sees_what_the_transaction_wrote(client, server):
    """GET entries run last, inside the transaction (http.html#trules): the history of a
    resource the transaction creates has that version."""
    patient_id = f"tx-{uuid.uuid4().hex[:12]}"
    patient = {**new_patient(), "id": patient_id}
    response = submit(client, transaction(put_entry(patient),
                                          get_entry(f"Patient/{patient_id}/_history")))
    written, history = response_bundle(response, "transaction-response", 2)
    assert history["response"]["status"] == "200 OK", history
    assert [e["resource"] for e in history["resource"]["entry"]] == [written["resource"]]


@pytest.mark.parametrize("full_url", ["Patient/other-id", "http://example.org/fhir/Patient/other-id",
                                      "http://example.org/fhir/Observation/fu-1"])
def test_a_full_url_that_disagrees_with_the_resource_id_is_rejected(client, full_url):
    """Bundle.entry.fullUrl "SHALL NOT disagree with the id in the resource" (bundle.html)."""
    value = unique_cccd()
    before = history_snapshot(client)
    resource = new_patient(value) | {"id": "fu-1"}
    response = submit(client, transaction({"fullUrl": full_url, "resource": resource,
                                           "request": {"method": "PUT", "url": "Patient/fu-1"}}))
    outcome_names_entry(assert_outcome(response, 400), 0)
    assert history_snapshot(client) == before
