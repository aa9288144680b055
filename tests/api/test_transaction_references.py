"""How a transaction resolves fullUrls and references to its own entries (R4
bundle.html#references): a relative `Type/id` is read against the service base of the
referring entry's fullUrl when that is a RESTful URL, else against this server's base, and
then names the entry with that fullUrl; a `urn:uuid:` naming no entry is 400; a fullUrl
naming the entry's own target is no duplicate."""

import base64
import uuid

import pytest
from bundle_helpers import (
    batch,
    check_written,
    delete_entry,
    encounter,
    history_snapshot,
    outcome_names_entry,
    patch_entry,
    post_entry,
    put_entry,
    response_bundle,
    submit,
    transaction,
    urn,
)
from helpers import CCCD, FHIR_HEADERS, assert_outcome, new_patient, search_ids, unique_cccd


def _created_ids(entries: list[dict]) -> list[str]:
    return [entry["response"]["location"].split("/_history/")[0].rsplit("/", 1)[1]
            for entry in entries]


@pytest.mark.parametrize(("history", "stored_history"),
                         [("", ""), ("/_history/1", "/_history/1"), ("/_history/7", "/_history/1")])
def test_a_relative_reference_names_the_entry_with_this_servers_full_url(
        client, server, history, stored_history):
    """A POST entry with fullUrl `{base}/Patient/temp` gets a new id; `Patient/temp` in an
    entry with a `urn:uuid:` fullUrl means that entry, and follows it to its new id. A
    version-specific one stays version-specific, naming the version written: "a client can
    use arbitrarily chosen version references since they will all be re-assigned"
    (http.html#trules)."""
    response = submit(client, transaction(
        post_entry(new_patient(), f"{server.base}/Patient/tam-thoi"),
        post_entry(encounter(f"Patient/tam-thoi{history}"), urn()),
    ))
    patient_id, encounter_id = _created_ids(response_bundle(response, "transaction-response", 2))
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}{stored_history}"
    assert client.get(f"/{stored['subject']['reference']}").status_code == 200


@pytest.mark.parametrize("gender", ["other", None])
def test_a_version_specific_reference_to_an_update_names_the_version_it_writes(client, gender):
    """An update that changes nothing (`gender` None: the patient as stored) writes the
    version named too: it wrote none, and the reference named version 2 of nothing (404)."""
    patient = client.post("/Patient", json=new_patient(gender="male"),
                          headers=FHIR_HEADERS).json()
    full_url = urn()
    response = submit(client, transaction(
        put_entry({**patient, "gender": gender or "male"}, f"Patient/{patient['id']}",
                  full_url=full_url),
        post_entry(encounter(f"{full_url}/_history/99"), urn()),
    ))
    entries = response_bundle(response, "transaction-response", 2)
    assert entries[0]["response"]["etag"] == 'W/"2"', entries[0]
    stored = client.get(f"/Encounter/{_created_ids(entries)[1]}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient['id']}/_history/2"
    assert client.get(f"/{stored['subject']['reference']}").json()["gender"] == (gender or "male")


def test_a_relative_reference_is_read_against_the_referring_entrys_base(client):
    """Entries with fullUrls of another server's base: `Patient/p1` in one of them means the
    entry `http://other.example/fhir/Patient/p1`."""
    other = "http://benhvien-khac.example/fhir"
    response = submit(client, transaction(
        post_entry(new_patient(), f"{other}/Patient/p1"),
        post_entry(encounter("Patient/p1"), f"{other}/Encounter/e1"),
    ))
    patient_id, encounter_id = _created_ids(response_bundle(response, "transaction-response", 2))
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"


@pytest.mark.parametrize("full_url", ["Patient/{id}", "{base}/Patient/{id}"])
def test_an_entry_whose_full_url_is_its_own_target_is_no_duplicate(client, server, full_url):
    """A PUT entry whose fullUrl names the resource it updates (relative, as sloppy
    clients send it, or absolute) uses that resource once, not twice."""
    patient_id = f"tx-{uuid.uuid4().hex[:12]}"
    patient = {**new_patient(), "id": patient_id}
    entry = put_entry(patient, full_url=full_url.format(id=patient_id, base=server.base))
    (written,) = response_bundle(submit(client, transaction(entry)), "transaction-response", 1)
    assert check_written(written, server.base, "Patient", "201 Created") == patient_id


def test_a_restful_full_url_naming_another_type_is_refused_without_an_id_too(client, server):
    """A create's fullUrl `[base]/Organization/o1` on a Patient without id: references to
    `Organization/o1` were given the new Patient's id, and an Encounter's serviceProvider
    pointed at a Patient. The fullUrl "SHALL NOT disagree" with the resource (bundle.html):
    400 for the transaction, and in a batch that entry fails alone."""
    value, patient_url = unique_cccd(), urn()
    named = f"{server.base}/Organization/o-{uuid.uuid4().hex[:12]}"
    provider = {"reference": named.removeprefix(f"{server.base}/")}
    before = history_snapshot(client)
    response = submit(client, transaction(
        post_entry(new_patient(value), named),
        post_entry(new_patient(), patient_url),
        post_entry(encounter(patient_url, serviceProvider=provider)),
    ))
    issue = assert_outcome(response, 400)["issue"][0]
    assert issue["expression"] == ["Bundle.entry[0].fullUrl"], issue
    assert history_snapshot(client) == before
    refused, made = response_bundle(submit(client, batch(
        post_entry(new_patient(value), named), post_entry(new_patient(), urn()))),
        "batch-response", 2)
    assert refused["response"]["status"] == "400 Bad Request", refused
    assert made["response"]["status"] == "201 Created", made
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []


def test_a_urn_uuid_reference_to_no_entry_fails_the_transaction(client):
    """A `urn:uuid:` reference means an entry of the Bundle; one that no entry has as
    fullUrl (a typo, a forgotten entry) would be stored pointing nowhere: 400, nothing
    stored."""
    value = unique_cccd()
    before = history_snapshot(client)
    response = submit(client, transaction(
        post_entry(new_patient(value), urn()),
        post_entry(encounter(urn())),
    ))
    outcome_names_entry(assert_outcome(response, 400), 1)
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{value}") == []
    assert history_snapshot(client) == before


def _replayable(value: str, patient_url: str) -> dict:
    """A patient (found again by CCCD), and what refers to it in conditions: an encounter
    created once (ifNoneExist), one updated in place (conditional PUT), and a search."""
    created = encounter(patient_url, identifier=[{"system": "urn:probe", "value": "created"}])
    updated = encounter(patient_url, identifier=[{"system": "urn:probe", "value": "updated"}])
    return transaction(
        post_entry(new_patient(value), patient_url, if_none_exist=f"identifier={CCCD}|{value}"),
        post_entry(created, urn(),
                   if_none_exist=f"subject={patient_url}&identifier=urn:probe|created"),
        put_entry(updated, f"Encounter?subject={patient_url}&identifier=urn:probe|updated"),
        {"request": {"method": "GET", "url": f"Encounter?subject={patient_url}"}},
    )


def test_conditions_naming_an_entry_by_its_full_url_are_given_its_id(client):
    """http.html#trules: servers SHALL replace all matching links in the Bundle, the
    conditional URLs and ifNoneExist too; so the same transaction sent twice makes nothing
    new the second time (it was making a new encounter each time)."""
    value = unique_cccd()
    patient_url = urn()
    first = response_bundle(submit(client, _replayable(value, patient_url)),
                            "transaction-response", 4)
    patient_id = _created_ids(first[:1])[0]
    encounters = search_ids(client, "Encounter", subject=f"Patient/{patient_id}")
    assert len(encounters) == 2
    assert first[3]["resource"]["total"] == 2
    second = response_bundle(submit(client, _replayable(value, patient_url)),
                             "transaction-response", 4)
    assert [e["response"]["status"] for e in second[:3]] == ["200 OK", "200 OK", "200 OK"]
    assert _created_ids(second[:3]) == _created_ids(first[:3])
    assert search_ids(client, "Encounter", subject=f"Patient/{patient_id}") == encounters


def test_a_full_url_in_a_uri_element_is_given_the_entry_s_id_and_a_string_is_not(client):
    """http.html#trules: "all matching links ... in url elements" (Attachment.url, valueUri):
    an Identifier.value equal to a fullUrl is a string, and stays as it is, as does a uuid."""
    patient_url = urn()
    document = {"resourceType": "DocumentReference", "status": "current",
                "identifier": [{"system": "urn:ietf:rfc:3986", "value": patient_url}],
                "subject": {"reference": patient_url},
                "content": [{"attachment": {"contentType": "application/fhir+json",
                                            "url": patient_url}}],
                "extension": [{"url": "http://example.org/fhir/StructureDefinition/about",
                               "valueUri": patient_url},
                              {"url": "http://example.org/fhir/StructureDefinition/uuid",
                               "valueUuid": patient_url}]}
    entries = response_bundle(submit(client, transaction(
        post_entry(new_patient(), patient_url), post_entry(document, urn()))),
        "transaction-response", 2)
    patient_id, document_id = _created_ids(entries)
    stored = client.get(f"/DocumentReference/{document_id}").json()
    assert stored["content"][0]["attachment"]["url"] == f"Patient/{patient_id}"
    assert stored["extension"][0]["valueUri"] == f"Patient/{patient_id}"
    assert stored["identifier"][0]["value"] == patient_url
    # A uuid element keeps its uuid: `Patient/...` there would be no uuid (it was, and the
    # transaction was refused).
    assert stored["extension"][1]["valueUuid"] == patient_url


def test_a_relative_link_in_a_uri_or_the_narrative_follows_its_entry(client, server):
    """`Binary/b1` in Attachment.url and in `<a href>` names the entry whose fullUrl is
    `[base]/Binary/b1` (bundle.html#references), as the same reference would: both were
    left naming b1 when the POST gave the Binary another id."""
    binary_id = f"b-{uuid.uuid4()}"
    binary = {"resourceType": "Binary", "id": binary_id, "contentType": "text/plain",
              "data": "aGk="}
    link = f"Binary/{binary_id}"
    document = {"resourceType": "DocumentReference", "status": "current",
                "content": [{"attachment": {"contentType": "text/plain", "url": link}}],
                "text": {"status": "generated",
                         "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{link}">'
                                "note</a></div>"}}
    entries = response_bundle(submit(client, transaction(
        post_entry(binary, f"{server.base}/{link}"), post_entry(document))),
        "transaction-response", 2)
    made_id, document_id = _created_ids(entries)
    assert made_id != binary_id
    stored = client.get(f"/DocumentReference/{document_id}").json()
    assert stored["content"][0]["attachment"]["url"] == f"Binary/{made_id}"
    assert f'<a href="Binary/{made_id}">' in stored["text"]["div"]


def test_canonical_urls_are_not_replaced(client):
    """http.html#trules: "Elements of type canonical are not replaced"; nor is a resource's
    own canonical URL, though a fullUrl equal to it is the usual convention in IG bundles."""
    questionnaire_id = f"q-{uuid.uuid4()}"
    canonical = f"http://example.org/fhir/Questionnaire/{questionnaire_id}"
    questionnaire = {"resourceType": "Questionnaire", "id": questionnaire_id,
                     "url": canonical, "status": "active"}
    answers = {"resourceType": "QuestionnaireResponse", "status": "completed",
               "questionnaire": canonical,
               "extension": [{"url": "http://example.org/fhir/StructureDefinition/form",
                              "valueCanonical": canonical}],
               # A Coding.system is a namespace, not a link: kept too.
               "item": [{"linkId": "1", "answer": [{"valueCoding": {
                   "system": canonical, "code": "x"}}]}]}
    entries = response_bundle(submit(client, transaction(
        put_entry(questionnaire, f"Questionnaire/{questionnaire_id}", full_url=canonical),
        post_entry(answers, urn()))), "transaction-response", 2)
    stored = client.get(f"/Questionnaire/{questionnaire_id}").json()
    assert stored["url"] == canonical
    answers_id = _created_ids(entries)[1]
    stored_answers = client.get(f"/QuestionnaireResponse/{answers_id}").json()
    assert stored_answers["questionnaire"] == canonical
    assert stored_answers["extension"][0]["valueCanonical"] == canonical
    assert stored_answers["item"][0]["answer"][0]["valueCoding"]["system"] == canonical


@pytest.mark.parametrize("deleting", ["Patient/{id}", "Patient?identifier={system}|{value}"])
@pytest.mark.parametrize("replacing", ["create", "update"])
def test_deleting_a_resource_and_writing_its_replacement_by_the_same_condition(
        client, deleting, replacing):
    """DELETEs run first (http.html#trules: "Process any DELETE interactions" before POST and
    PUT), so a condition naming what a DELETE of the transaction removes matches nothing:
    the replacement is created, and the entry naming its fullUrl refers to it."""
    cccd = unique_cccd()
    old = client.post("/Patient", json=new_patient(cccd), headers=FHIR_HEADERS).json()
    condition = f"identifier={CCCD}|{cccd}"
    full_url = urn()
    if replacing == "create":
        write = post_entry(new_patient(cccd), full_url, if_none_exist=condition)
    else:
        write = put_entry(new_patient(cccd), f"Patient?{condition}", full_url=full_url)
    response = submit(client, transaction(
        delete_entry(deleting.format(id=old["id"], system=CCCD, value=cccd)),
        write,
        post_entry(encounter(full_url), urn()),
    ))
    deleted, written, visit = response_bundle(response, "transaction-response", 3)
    assert deleted["response"]["status"].startswith("204")
    assert written["response"]["status"] == "201 Created"
    replacement_id, encounter_id = _created_ids([written, visit])
    assert replacement_id != old["id"]
    assert client.get(f"/Patient/{old['id']}").status_code == 410
    assert search_ids(client, "Patient", identifier=f"{CCCD}|{cccd}") == [replacement_id]
    stored = client.get(f"/Encounter/{encounter_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{replacement_id}"


def _document(patient_url: str) -> dict:
    """A document Bundle whose Composition refers to its own Patient entry by urn:uuid."""
    return {"resourceType": "Bundle", "type": "document", "timestamp": "2026-01-01T00:00:00Z",
            "identifier": {"system": "urn:test:documents", "value": str(uuid.uuid4())},
            "entry": [
                {"fullUrl": urn(), "resource": {
                    "resourceType": "Composition", "status": "final", "type": {"text": "note"},
                    "date": "2026-01-01", "title": "Tóm tắt", "subject": {"reference": patient_url},
                    "author": [{"reference": patient_url}]}},
                {"fullUrl": patient_url, "resource": new_patient()}]}


@pytest.mark.parametrize("also_an_entry", [False, True])
def test_a_document_written_by_a_transaction_keeps_its_own_references(client, also_an_entry):
    """bundle.html#references: a document's urn:uuid: names its own entry. The transaction
    refused it (no entry of the transaction has that fullUrl), or, when one had, rewrote the
    document's references and fullUrl to the Patient the transaction created."""
    patient_url = urn()
    document = _document(patient_url)
    entries = [post_entry(document)]
    if also_an_entry:
        entries.append(post_entry(new_patient(), full_url=patient_url))
    response = submit(client, transaction(*entries))
    stored_at = response_bundle(response, "transaction-response", len(entries))[0]
    stored = client.get(stored_at["response"]["location"].split("/_history/")[0]).json()
    assert stored["entry"] == document["entry"]


def _upsert_pair(order: str, identifier: str, patient_url: str) -> dict:
    """A Patient upserted by identifier and an Encounter of it made once, by a condition
    naming the Patient's fullUrl; entries in `order`."""
    patient = new_patient()
    patient_entry = (put_entry(patient, f"Patient?identifier={CCCD}|"
                                        f"{patient['identifier'][0]['value']}",
                               full_url=patient_url) if "put" in order
                     else post_entry(patient, full_url=patient_url,
                                     if_none_exist=f"identifier={CCCD}|"
                                                   f"{patient['identifier'][0]['value']}"))
    visit = encounter(patient_url) | {"identifier": [{"system": "urn:test:visits",
                                                      "value": identifier}]}
    encounter_entry = (put_entry(visit, f"Encounter?subject={patient_url}")
                       if "encounter put" in order
                       else post_entry(visit, if_none_exist=f"subject={patient_url}"))
    entries = [patient_entry, encounter_entry]
    return transaction(*(entries[::-1] if order.startswith("encounter") else entries))


@pytest.mark.parametrize("order", ["patient put, encounter post", "encounter post, patient put",
                                   "encounter put, patient put", "encounter post, patient post"])
def test_a_condition_naming_an_entry_matches_what_it_resolves_to_in_any_order(client, order):
    """Sent three times, the transaction makes one Encounter: its condition names the
    Patient entry's fullUrl, which is given the Patient it resolves to before the condition
    is matched, whether that entry is a conditional PUT or comes later (each resend made
    another Encounter)."""
    identifier, patient_url = str(uuid.uuid4()), urn()
    body = _upsert_pair(order, identifier, patient_url)
    for _ in range(3):
        response_bundle(submit(client, body), "transaction-response", 2)
    assert len(search_ids(client, "Encounter", identifier=f"urn:test:visits|{identifier}")) == 1


@pytest.mark.parametrize("kind", ["FHIRPath Patch", "JSON Patch"])
def test_a_patch_entry_refers_to_another_entry_by_its_full_url(client, kind):
    """http.html#trules: references to an entry's fullUrl are replaced wherever they are,
    a PATCH's values too (the urn:uuid: was stored, pointing nowhere)."""
    target = client.post("/Patient", json=new_patient(), headers=FHIR_HEADERS).json()
    full_url = urn()
    practitioner = {"resourceType": "Practitioner", "name": [{"family": "Trần"}]}
    link = {"reference": full_url}
    if kind == "FHIRPath Patch":
        body = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "generalPractitioner"},
            {"name": "value", "valueReference": link}]}]}
        patch = {"resource": body, "request": {"method": "PATCH",
                                               "url": f"Patient/{target['id']}"}}
    else:
        patch = patch_entry(f"Patient/{target['id']}",
                            [{"op": "add", "path": "/generalPractitioner", "value": [link]}])
    response = submit(client, transaction(post_entry(practitioner, full_url=full_url), patch))
    entries = response_bundle(response, "transaction-response", 2)
    made = entries[0]["response"]["location"].split("/_history/")[0].split("/fhir/")[1]
    stored = client.get(f"/Patient/{target['id']}").json()
    assert [gp["reference"] for gp in stored["generalPractitioner"]] == [made]


@pytest.mark.parametrize("spelling", [str.upper, lambda url: "URN:uuid:" + url[9:],
                                      lambda url: url[:9] + url[9:].upper()])
def test_a_urn_is_matched_whatever_its_case(client, spelling):
    """RFC 8141: the scheme and the NID are case-insensitive; RFC 4122: so is a UUID's hex.
    `URN:UUID:...` was stored unresolved, `urn:uuid:F7...` refused as naming no entry; in
    the narrative, a link in another case or in single quotes (XHTML takes either) was
    stored pointing at the placeholder."""
    full_url = urn()
    links = f"<a href='{spelling(full_url)}'>BN</a><img src=\"{spelling(full_url)}\"/>"
    visit = encounter(spelling(full_url), text={
        "status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{links}</div>'})
    response = submit(client, transaction(post_entry(new_patient(), full_url=full_url),
                                          post_entry(visit)))
    patient_entry, visit_entry = response_bundle(response, "transaction-response", 2)
    made = patient_entry["response"]["location"].split("/_history/")[0].split("/fhir/")[1]
    stored = client.get(visit_entry["response"]["location"].split("/_history/")[0]).json()
    assert stored["subject"]["reference"] == made
    assert stored["text"]["div"].endswith(f"<a href='{made}'>BN</a><img src=\"{made}\"/></div>")


@pytest.mark.parametrize("reference", ["urn:oid:1.2.3.999", "urn:oid:1.2.3.999/_history/1",
                                       f"urn:uuid:{uuid.uuid4()}/_history/1"])
def test_a_urn_oid_naming_no_entry_is_400(client, reference):
    """Like a urn:uuid: one, it can only mean an entry of the Bundle: stored, it pointed
    nowhere for good (a version-specific one was stored so)."""
    response = submit(client, transaction(post_entry(encounter(reference))))
    assert_outcome(response, 400)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_binary_entry_has_its_security_context_resolved_and_its_content_kept(client, method):
    """A Binary's securityContext to an entry is replaced like any reference (it was stored
    as the `urn:uuid:`, and the patient's own token was then refused the Binary); its
    content is opaque (binary.html) and stored byte for byte, though it be JSON holding
    that `urn:uuid:` (it was rewritten and re-serialised, as a PATCH's JSON Patch is)."""
    full_url = urn()
    content = f'{{\n  "a": 1.50,\n  "ref": {{"reference": "{full_url}"}}\n}}\n'.encode()
    binary = {"resourceType": "Binary", "contentType": "application/fhir+json",
              "securityContext": {"reference": full_url},
              "data": base64.b64encode(content).decode()}
    entry = post_entry(binary) if method == "POST" else put_entry(
        {**binary, "id": str(uuid.uuid4())})
    response = submit(client, transaction(post_entry(new_patient(), full_url=full_url), entry))
    patient_entry, binary_entry = response_bundle(response, "transaction-response", 2)
    made = patient_entry["response"]["location"].split("/_history/")[0].split("/fhir/")[1]
    stored = client.get(binary_entry["response"]["location"].split("/_history/")[0],
                        headers=FHIR_HEADERS).json()
    assert stored["securityContext"] == {"reference": made}
    assert base64.b64decode(stored["data"]) == content


def test_a_binarys_security_context_naming_no_entry_is_400(client):
    """As in any other resource: stored, it pointed nowhere for good."""
    before, nowhere = history_snapshot(client), urn()
    binary = {"resourceType": "Binary", "contentType": "text/plain",
              "securityContext": {"reference": nowhere}, "data": "aGVsbG8="}
    response = submit(client, transaction(post_entry(new_patient()), post_entry(binary)))
    outcome = assert_outcome(response, 400)
    outcome_names_entry(outcome, 1)
    assert nowhere in outcome["issue"][0]["diagnostics"]
    assert history_snapshot(client) == before
