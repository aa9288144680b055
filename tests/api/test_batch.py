"""batch Bundles: every entry succeeds or fails on its own
(http://hl7.org/fhir/R4/http.html#transaction, "batch")."""

import uuid

import pytest
from bundle_helpers import (
    batch,
    check_written,
    delete_entry,
    encounter,
    get_entry,
    identifier_query,
    patch_entry,
    post_entry,
    put_entry,
    response_bundle,
    submit,
    transaction,
    urn,
)
from helpers import CCCD, assert_outcome, created, new_patient, search_ids, unique_cccd


def _patients_with(client, value: str) -> list[str]:
    return search_ids(client, "Patient", identifier=f"{CCCD}|{value}")


def _failed(entry: dict, status: str) -> dict:
    """A failed batch entry: its status and an error OperationOutcome, no resource."""
    response = entry["response"]
    assert response["status"] == status, entry
    outcome = response["outcome"]
    assert outcome["resourceType"] == "OperationOutcome", entry
    assert outcome["issue"][0]["severity"] in ("error", "fatal"), entry
    assert outcome["issue"][0].get("diagnostics"), entry
    assert "resource" not in entry, entry
    assert "location" not in response, entry
    return outcome


def test_bad_entries_fail_alone_and_good_ones_are_stored(client, server):
    good, bad, other = unique_cccd(), unique_cccd(), unique_cccd()
    existing = created(client, new_patient())
    response = submit(client, batch(
        post_entry(new_patient(good)),
        post_entry(new_patient(bad, gender="xx")),
        put_entry({**existing, "gender": "female"}, if_match='W/"9"'),
        get_entry(f"Patient/{uuid.uuid4()}"),
        post_entry(encounter(f"Patient/{existing['id']}")),
        post_entry(new_patient(other, name=[{"family": "Lê", "given": ["Thị", "Hồng"]}])),
    ))
    entries = response_bundle(response, "batch-response", 6)
    good_id = check_written(entries[0], server.base, "Patient", "201 Created")
    _failed(entries[1], "400 Bad Request")
    _failed(entries[2], "412 Precondition Failed")
    _failed(entries[3], "404 Not Found")
    encounter_id = check_written(entries[4], server.base, "Encounter", "201 Created")
    other_id = check_written(entries[5], server.base, "Patient", "201 Created")
    assert _patients_with(client, good) == [good_id]
    assert _patients_with(client, other) == [other_id]
    assert _patients_with(client, bad) == []
    assert client.get(f"/Patient/{existing['id']}").json() == existing
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{existing['id']}"
    assert client.get(f"/Patient/{other_id}").json()["name"][0]["family"] == "Lê"


def test_invalid_entry_outcome_points_at_the_problem(client):
    value = unique_cccd()
    response = submit(client, batch(post_entry(new_patient(value, gender="xx"))))
    (entry,) = response_bundle(response, "batch-response", 1)
    outcome = _failed(entry, "400 Bad Request")
    texts = [i.get("diagnostics", "") for i in outcome["issue"]]
    texts += [e for i in outcome["issue"] for e in i.get("expression", [])]
    assert any("gender" in text for text in texts), outcome
    assert _patients_with(client, value) == []


def test_entry_without_request_fails_alone(client, server):
    value = unique_cccd()
    response = submit(client, batch(
        {"resource": new_patient(unique_cccd())},
        post_entry(new_patient(value)),
    ))
    first, second = response_bundle(response, "batch-response", 2)
    _failed(first, "400 Bad Request")
    patient_id = check_written(second, server.base, "Patient", "201 Created")
    assert _patients_with(client, value) == [patient_id]


def test_unsupported_type_fails_alone(client, server):
    value = unique_cccd()
    response = submit(client, batch(
        # Every R4 type is stored now: only a type R4 does not define stays unsupported.
        post_entry({"resourceType": "Observationx", "status": "final",
                    "code": {"text": "Đường huyết lúc đói"}}),
        post_entry(new_patient(value)),
    ))
    first, second = response_bundle(response, "batch-response", 2)
    assert first["response"]["status"][:1] == "4", first
    _failed(first, first["response"]["status"])
    patient_id = check_written(second, server.base, "Patient", "201 Created")
    assert _patients_with(client, value) == [patient_id]


def test_reads_searches_updates_deletes_and_patches(client, server):
    read_value, search_value = unique_cccd(), unique_cccd()
    to_read = created(client, new_patient(read_value))
    to_find = created(client, new_patient(search_value, gender="female"))
    to_update = created(client, new_patient())
    to_delete = created(client, new_patient())
    to_patch = created(client, new_patient())
    response = submit(client, batch(
        get_entry(f"Patient/{to_read['id']}"),
        get_entry(f"Patient?{identifier_query(search_value)}"),
        put_entry({**to_update, "birthDate": "1990-01-01"}, if_match='W/"1"'),
        delete_entry(f"Patient/{to_delete['id']}"),
        patch_entry(f"Patient/{to_patch['id']}",
                    [{"op": "replace", "path": "/active", "value": False}]),
    ))
    entries = response_bundle(response, "batch-response", 5)
    assert entries[0]["response"]["status"] == "200 OK"
    assert entries[0]["resource"] == to_read
    assert entries[1]["response"]["status"] == "200 OK"
    assert entries[1]["resource"]["type"] == "searchset"
    assert [e["resource"] for e in entries[1]["resource"]["entry"]] == [to_find]
    check_written(entries[2], server.base, "Patient", "200 OK", vid=2)
    assert entries[2]["resource"]["birthDate"] == "1990-01-01"
    assert entries[3]["response"]["status"] in ("200 OK", "204 No Content")
    check_written(entries[4], server.base, "Patient", "200 OK", vid=2)
    assert entries[4]["resource"]["active"] is False
    assert client.get(f"/Patient/{to_update['id']}").json()["birthDate"] == "1990-01-01"
    assert client.get(f"/Patient/{to_delete['id']}").status_code == 410
    assert client.get(f"/Patient/{to_patch['id']}").json()["active"] is False


def test_conditional_create_in_a_batch_returns_the_existing_match(client, server):
    value = unique_cccd()
    existing = created(client, new_patient(value))
    response = submit(client, batch(
        post_entry(new_patient(value, gender="female"), if_none_exist=identifier_query(value)),
    ))
    (entry,) = response_bundle(response, "batch-response", 1)
    assert entry["response"]["status"] == "200 OK", entry
    assert entry["response"]["location"].startswith(
        f"{server.base}/Patient/{existing['id']}/_history/1"), entry
    assert _patients_with(client, value) == [existing["id"]]
    assert client.get(f"/Patient/{existing['id']}").json()["gender"] == "male"


def test_prefer_return_minimal_in_a_batch(client, server):
    value = unique_cccd()
    response = submit(client, batch(post_entry(new_patient(value))), Prefer="return=minimal")
    (entry,) = response_bundle(response, "batch-response", 1)
    patient_id = check_written(entry, server.base, "Patient", "201 Created", with_resource=False)
    assert _patients_with(client, value) == [patient_id]


def test_each_batch_entry_is_stored_once(client):
    first, second = unique_cccd(), unique_cccd()
    response = submit(client, batch(post_entry(new_patient(first)),
                                    post_entry(new_patient(second))))
    entries = response_bundle(response, "batch-response", 2)
    assert [e["response"]["status"] for e in entries] == ["201 Created", "201 Created"]
    assert len(_patients_with(client, first)) == 1
    assert len(_patients_with(client, second)) == 1


def test_too_many_batch_entries_is_413(client, server):
    value = unique_cccd()
    entries = [post_entry(new_patient(value))]
    entries += [get_entry(f"Patient/{n}") for n in range(server.settings.max_bundle_entries)]
    assert_outcome(submit(client, batch(*entries)), 413)
    assert _patients_with(client, value) == []


def test_batch_bundle_must_be_a_bundle_of_requests(client):
    value = unique_cccd()
    collection = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"resource": new_patient(value)}]}
    assert_outcome(submit(client, collection), 400)
    assert_outcome(submit(client, {**batch(), "entry": {"resource": new_patient(value)}}), 400)
    assert _patients_with(client, value) == []


def test_request_urls_that_name_no_interaction_fail_and_touch_nothing(client, server):
    """An entry's url is taken as a whole: `DELETE Patient/1/x` is not a delete of Patient/1,
    `POST Patient/1` no create, `PUT Patient/1/_history/1` no update: 400; capabilities and
    an operation's name inside a path, with the issue code not-supported."""
    kept = created(client, new_patient())
    value = unique_cccd()
    response = submit(client, batch(
        delete_entry(f"Patient/{kept['id']}/extra"),
        {"resource": new_patient(value), "request": {"method": "POST",
                                                     "url": "Patient/$validate/x"}},
        {"resource": new_patient(value), "request": {"method": "POST",
                                                     "url": f"Patient/{kept['id']}"}},
        put_entry({**kept, "gender": "female"}, url=f"Patient/{kept['id']}/_history/1"),
        get_entry("metadata"),
    ))
    entries = response_bundle(response, "batch-response", 5)
    codes = ["invalid", "not-supported", "invalid", "invalid", "not-supported"]
    for entry, code in zip(entries, codes, strict=True):
        assert _failed(entry, "400 Bad Request")["issue"][0]["code"] == code, entry
    # The refusal names what was asked, not something else.
    assert "Patient/$validate/x" in _failed(entries[1], "400 Bad Request")["issue"][0][
        "diagnostics"]
    assert client.get(f"/Patient/{kept['id']}").json() == kept
    assert _patients_with(client, value) == []


def test_get_entries_with_parameters_and_history(client, server):
    """`Patient/1?_format=json` reads Patient/1 (not a search of every Patient), and
    `Patient/1/_history` and `Patient/_history` are histories; `_elements` shapes a read."""
    patient = created(client, new_patient())
    updated = client.put(f"/Patient/{patient['id']}", json={**patient, "gender": "female"},
                         headers={"Content-Type": "application/fhir+json"}).json()
    response = submit(client, batch(
        get_entry(f"Patient/{patient['id']}?_format=json"),
        get_entry(f"Patient/{patient['id']}/_history"),
        get_entry("Patient/_history?_count=1"),
        get_entry(f"Patient/{patient['id']}?_elements=gender"),
    ))
    read, instance_history, type_history, shaped = response_bundle(response, "batch-response", 4)
    assert read["resource"] == updated, read
    assert instance_history["response"]["status"] == "200 OK"
    assert instance_history["resource"]["type"] == "history"
    assert [e["resource"] for e in instance_history["resource"]["entry"]] == [updated, patient]
    assert type_history["resource"]["type"] == "history"
    assert [e["resource"]["id"] for e in type_history["resource"]["entry"]] == [patient["id"]]
    assert set(shaped["resource"]) == {"resourceType", "id", "meta", "gender"}, shaped


def test_compartment_search_entries(client, server):
    """`Patient/[id]/Encounter` is a search (http.html#transaction: any read or search),
    as it is on its own (search.html#compartments)."""
    patient, other = created(client, new_patient()), created(client, new_patient())
    mine = created(client, encounter(f"Patient/{patient['id']}"))
    created(client, encounter(f"Patient/{other['id']}"))
    response = submit(client, batch(
        get_entry(f"Patient/{patient['id']}/Encounter"),
        get_entry(f"Patient/{patient['id']}/Encounter?status=cancelled"),
        get_entry(f"Patient/{patient['id']}/NoSuchType"),
    ))
    found, none, unknown = response_bundle(response, "batch-response", 3)
    assert found["resource"]["type"] == "searchset", found
    assert [e["resource"]["id"] for e in found["resource"]["entry"]] == [mine["id"]]
    assert none["resource"]["total"] == 0
    direct = client.get(f"/Patient/{patient['id']}/NoSuchType")
    assert unknown["response"]["status"].startswith(str(direct.status_code)), unknown


def test_a_compartment_search_of_every_type_is_an_entry_too(client):
    """`Patient/[id]/*` searches every type of the compartment, in a batch or a transaction
    as on its own, and `_type` narrows it likewise."""
    patient, other = created(client, new_patient()), created(client, new_patient())
    mine = created(client, encounter(f"Patient/{patient['id']}"))
    created(client, encounter(f"Patient/{other['id']}"))
    compartment = f"Patient/{patient['id']}"
    direct = client.get(f"/{compartment}/*").json()
    for kind in ("batch", "transaction"):
        everything, encounters = response_bundle(submit(client, {
            **batch(get_entry(f"{compartment}/*"), get_entry(f"{compartment}/*?_type=Encounter")),
            "type": kind}), f"{kind}-response", 2)
        ids = {(e["resource"]["resourceType"], e["resource"]["id"])
               for e in everything["resource"]["entry"]}
        assert ids == {(e["resource"]["resourceType"], e["resource"]["id"])
                       for e in direct["entry"]}
        assert ("Encounter", mine["id"]) in ids and ("Patient", patient["id"]) in ids
        assert [e["resource"]["id"] for e in encounters["resource"]["entry"]] == [mine["id"]]


def test_entries_run_in_the_order_of_a_transaction_and_answer_in_request_order(client):
    """http.html#brules: servers execute a batch "in the same order as that specified ...
    for transactions": the search placed first sees the create placed after it."""
    value = unique_cccd()
    response = submit(client, batch(
        get_entry(f"Patient?{identifier_query(value)}"),
        post_entry(new_patient(value)),
    ))
    searched, posted = response_bundle(response, "batch-response", 2)
    assert posted["response"]["status"] == "201 Created"
    assert [e["resource"]["id"] for e in searched["resource"]["entry"]] == (
        _patients_with(client, value))


def test_read_entries_with_if_none_match_or_if_modified_since_answer_304(client):
    """Bundle.entry.request.ifNoneMatch and ifModifiedSince (an instant) make a read
    conditional, as the headers do (http.html#cread)."""
    patient = created(client, new_patient())
    path = f"Patient/{patient['id']}"

    def conditional_read(**condition: str) -> dict:
        entry = get_entry(path)
        entry["request"].update(condition)
        (answer,) = response_bundle(submit(client, batch(entry)), "batch-response", 1)
        return answer

    assert conditional_read(ifNoneMatch='W/"1"') == {
        "response": {"status": "304 Not Modified", "etag": 'W/"1"'}}
    assert conditional_read(ifNoneMatch='W/"2"')["resource"] == patient
    last_updated = patient["meta"]["lastUpdated"]
    assert conditional_read(ifModifiedSince=last_updated)["response"]["status"] == (
        "304 Not Modified")
    assert conditional_read(ifModifiedSince="2000-01-01T00:00:00Z")["resource"] == patient
    _failed(conditional_read(ifModifiedSince="2000-01-01"), "400 Bad Request")


def test_prefer_return_operation_outcome_in_a_batch(client, server):
    """`Prefer: return=OperationOutcome` applies to each entry: no resource, an outcome in
    Bundle.entry.response.outcome saying what was done (http.html#transaction-response)."""
    value = unique_cccd()
    doomed = created(client, new_patient())
    response = submit(client, batch(post_entry(new_patient(value)),
                                    delete_entry(f"Patient/{doomed['id']}")),
                      Prefer="return=OperationOutcome")
    entry, deletion = response_bundle(response, "batch-response", 2)
    assert "_history/2 deleted" in deletion["response"]["outcome"]["issue"][0]["diagnostics"]
    patient_id = check_written(entry, server.base, "Patient", "201 Created", with_resource=False)
    outcome = entry["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "information", outcome
    assert f"Patient/{patient_id}/_history/1" in outcome["issue"][0]["diagnostics"]


def test_prefer_handling_strict_holds_for_the_searches_of_a_batch(client):
    """A search entry answers as the same request on its own: an unknown parameter is 400
    under `handling=strict` (it was ignored, the search unfiltered), ignored without."""
    entry = get_entry("Patient?x-unknown=1&_count=1")
    (strict,) = response_bundle(submit(client, batch(entry), Prefer="handling=strict"),
                                "batch-response", 1)
    assert strict["response"]["status"].startswith("400")
    assert "x-unknown" in strict["response"]["outcome"]["issue"][0]["diagnostics"]
    (lenient,) = response_bundle(submit(client, batch(entry)), "batch-response", 1)
    assert lenient["response"]["status"] == "200 OK"


def test_head_entries_answer_as_get_without_the_resource(client, server):
    patient = created(client, new_patient())
    entry = {"request": {"method": "HEAD", "url": f"Patient/{patient['id']}"}}
    (answer,) = response_bundle(submit(client, batch(entry)), "batch-response", 1)
    assert answer["response"]["status"] == "200 OK"
    assert answer["response"]["etag"] == 'W/"1"'
    assert answer["response"]["lastModified"] == patient["meta"]["lastUpdated"]
    assert "resource" not in answer, answer


# Upper case, or a version of it: it slipped through, and was stored.
@pytest.mark.parametrize("written", [str, str.upper, lambda url: f"{url}/_history/1"])
def test_an_entry_referring_to_another_by_its_urn_fails_alone(client, written):
    """A batch's entries are independent (http.html#brules): one that refers to another by
    its `urn:` fullUrl, in any case (RFC 4122), is 400, and nothing is stored with a reference
    that resolves nowhere; the same entries in a transaction are linked."""
    value = unique_cccd()
    patient_url = urn()
    entries = (post_entry(new_patient(value), full_url=patient_url),
               post_entry(encounter(written(patient_url)), full_url=urn()))
    first, second = response_bundle(submit(client, batch(*entries)), "batch-response", 2)
    assert first["response"]["status"].startswith("201")
    assert "another entry of the batch" in _failed(second, "400 Bad Request")["issue"][0][
        "diagnostics"]
    assert search_ids(client, "Encounter", subject=patient_url) == []
    linked = response_bundle(submit(client, transaction(*entries)), "transaction-response", 2)
    assert all(entry["response"]["status"].startswith("201") for entry in linked)


def test_an_entry_the_server_fails_on_is_a_500_of_that_entry_alone(client, monkeypatch):
    """http.html#brules: a batch's entries succeed or fail on their own, a failure of the
    server's own too: the client still learns that the Patient before it was written."""
    from fhir_server.services import bundles

    real_write = bundles._write

    async def failing_on_observations(store, entry, policy, max_depth):
        if entry.resource_type == "Observation":
            raise RuntimeError("a detail for the log only")
        return await real_write(store, entry, policy, max_depth)

    monkeypatch.setattr(bundles, "_write", failing_on_observations)
    value = unique_cccd()
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    response = submit(client, batch(post_entry(new_patient(value)), post_entry(observation)))
    written, failed = response_bundle(response, "batch-response", 2)
    assert written["response"]["status"].startswith("201")
    assert "detail" not in str(_failed(failed, "500 Internal Server Error"))
    assert len(_patients_with(client, value)) == 1


def test_read_entries_answer_with_a_bounded_number_of_resources_together(client, monkeypatch):
    """A page is bounded; a batch of many pages is too (FHIR_MAX_BATCH_RESPONSE_RESOURCES,
    here 5): the entries that would pass it fail alone with 413, the others are answered, and
    so are the writes beside them. A transaction passing it fails whole."""
    from fhir_server.services import bundles
    from fhir_server.services.read_budget import ReadBudget

    monkeypatch.setattr(bundles, "ReadBudget", lambda limit, byte_limit: ReadBudget(5, byte_limit))
    value = unique_cccd()
    patients = [created(client, new_patient()) for _ in range(3)]
    ids = ",".join(p["id"] for p in patients)
    response = submit(client, batch(
        get_entry(f"Patient?_id={ids}"),  # 3
        get_entry(f"Patient/{patients[0]['id']}"),  # 1
        get_entry(f"Patient?_id={ids}"),  # 3 more: past 5
        post_entry(new_patient(value)),
        get_entry(f"Patient/{patients[1]['id']}"),  # 1: still within
    ))
    searched, read, refused, written, last = response_bundle(response, "batch-response", 5)
    assert len(searched["resource"]["entry"]) == 3 and read["resource"]["id"] == patients[0]["id"]
    outcome = _failed(refused, "413 Request Entity Too Large")
    assert outcome["issue"][0]["code"] == "too-costly"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[2]"]
    assert written["response"]["status"].startswith("201")
    assert last["resource"]["id"] == patients[1]["id"]
    assert len(_patients_with(client, value)) == 1
    whole = submit(client, transaction(*(get_entry(f"Patient?_id={ids}") for _ in range(2))))
    assert_outcome(whole, 413)


def test_entries_writing_the_same_resource_are_refused(client):
    """http.html#brules: a batch's entries are independent, "Servers SHALL validate that
    this is the case". PUT then DELETE of one Patient ran as DELETE then PUT (the order of
    a transaction), so the DELETE reported 204 and the Patient lived on; now neither runs.
    Another entry beside them is answered as usual."""
    patient = created(client, new_patient())
    target = f"Patient/{patient['id']}"
    response = submit(client, batch(
        put_entry({**patient, "gender": "female"}),
        delete_entry(target),
        get_entry(target),
    ))
    updated, deleted, read = response_bundle(response, "batch-response", 3)
    for refused in (updated, deleted):
        outcome = _failed(refused, "400 Bad Request")
        assert target in outcome["issue"][0]["diagnostics"], outcome
    assert read["resource"]["meta"]["versionId"] == patient["meta"]["versionId"]
    assert client.get(f"/{target}").json() == patient


def test_a_patch_entry_in_lines_of_base64_is_applied(client):
    """Binary.data is a base64Binary, whose whitespace R4 allows (MIME-style lines)."""
    patient = created(client, new_patient(active=True))
    entry = patch_entry(f"Patient/{patient['id']}",
                        [{"op": "replace", "path": "/active", "value": False}])
    data = entry["resource"]["data"]
    entry["resource"]["data"] = "\n".join(data[i:i + 20] for i in range(0, len(data), 20))
    [answer] = response_bundle(submit(client, transaction(entry)), "transaction-response", 1)
    assert answer["response"]["status"] == "200 OK", answer
    assert client.get(f"/Patient/{patient['id']}").json()["active"] is False
