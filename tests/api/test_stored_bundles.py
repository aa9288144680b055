"""Bundles stored as resources at `/Bundle` (R4 bundle.html): documents, messages and
collections are; a batch or transaction is a request to the base and is refused there; the
entries of a stored Bundle are identified by their fullUrls, which its `urn:` references
resolve to; Bundle's `message` parameter finds a message by its MessageHeader."""

import uuid

import pytest
from helpers import FHIR_HEADERS, assert_outcome, new_patient, search_ids, unique_cccd

UUID_URN = "urn:uuid:{}"


def _urn() -> str:
    return UUID_URN.format(uuid.uuid4())


def _message(focus: str, entries: list[dict]) -> dict:
    header = {"resourceType": "MessageHeader", "id": uuid.uuid4().hex,
              "eventCoding": {"system": "http://example.org/events", "code": "admit"},
              "source": {"endpoint": "https://benhvien.example.vn/fhir"},
              "focus": [{"reference": focus}]}
    return {"resourceType": "Bundle", "type": "message", "timestamp": "2026-01-01T00:00:00Z",
            "identifier": {"system": "urn:ietf:rfc:3986", "value": _urn()},
            "entry": [{"fullUrl": _urn(), "resource": header}, *entries]}


def _document(kind: dict) -> dict:
    """A document of a Composition of that type about a Patient in the Bundle."""
    patient_urn = _urn()
    return {"resourceType": "Bundle", "type": "document", "timestamp": "2026-01-01T00:00:00Z",
            "identifier": {"system": "urn:ietf:rfc:3986", "value": _urn()},
            "entry": [{"fullUrl": _urn(), "resource": {
                "resourceType": "Composition", "status": "final", "date": "2026-01-01",
                "type": kind, "title": "Tóm tắt", "subject": {"reference": patient_urn},
                "author": [{"reference": patient_urn}]}},
                {"fullUrl": patient_urn, "resource": new_patient()}]}


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_a_request_bundle_written_to_bundle_is_stored_with_a_warning_and_not_run(client,
                                                                               kind):
    """It was stored (201) without a word while nothing in it was run: the commonest client
    mistake. R4 lets a server store it (seven official examples are such Bundles)."""
    value = unique_cccd()
    bundle = {"resourceType": "Bundle", "type": kind,
              "entry": [{"fullUrl": _urn(), "resource": new_patient(value),
                         "request": {"method": "POST", "url": "Patient"}}]}
    prefer = {**FHIR_HEADERS, "Prefer": "return=OperationOutcome"}
    bundle_id = str(uuid.uuid4())
    for response in (client.post("/Bundle", json=bundle, headers=prefer),
                     client.put(f"/Bundle/{bundle_id}", json={**bundle, "id": bundle_id},
                                headers=prefer)):
        assert response.status_code == 201, response.text
        warnings = [issue for issue in response.json()["issue"]
                    if issue["code"] == "business-rule"]
        assert [issue["severity"] for issue in warnings] == ["warning"]
        assert "base URL" in warnings[0]["diagnostics"]
        assert warnings[0]["expression"] == ["Bundle.type"]
    assert search_ids(client, "Patient", identifier=value) == []


def test_a_message_entry_without_full_url_is_400(client):
    patient = {"resource": new_patient()}
    message = _message("Patient/x", [patient])
    assert_outcome(client.post("/Bundle", json=message, headers=FHIR_HEADERS), 400,
                   expression="Bundle.entry[1]")


def test_a_urn_reference_naming_no_entry_of_a_message_is_400(client):
    """A `urn:uuid:` resolves only within its Bundle (bundle.html#references): a document's
    was refused already, a message's was stored dangling."""
    patient_urn = _urn()
    message = _message(_urn(), [{"fullUrl": patient_urn, "resource": new_patient()}])
    assert_outcome(client.post("/Bundle", json=message, headers=FHIR_HEADERS), 400,
                   expression="Bundle.entry[0].resource.focus[0].reference")
    resolved = _message(patient_urn, [{"fullUrl": patient_urn, "resource": new_patient()}])
    stored = client.post("/Bundle", json=resolved, headers=FHIR_HEADERS)
    assert stored.status_code == 201, stored.text
    header_url = resolved["entry"][0]["fullUrl"]
    for name, value in [("message", header_url), ("message:missing", "false")]:
        assert search_ids(client, "Bundle", **{name: value, "_id": stored.json()["id"]}) == [
            stored.json()["id"]], name
    assert search_ids(client, "Bundle", composition=header_url) == []


def test_a_urn_reference_naming_no_entry_elsewhere_is_only_warned_of(client):
    """HL7's validator only warns "URN reference is not locally contained within the
    bundle" (its ref-policy-default-r4): a collection's was refused with 400, and so was one
    in a document's entry other than the Composition's own references."""
    dangling = {"reference": _urn()}
    collection = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": _urn(), "resource": {"resourceType": "List", "status": "current",
                                        "mode": "working", "entry": [{"item": dangling}]}}]}
    patient_urn = _urn()
    message = _message(patient_urn, [{"fullUrl": patient_urn, "resource": {
        **new_patient(), "generalPractitioner": [dangling]}}])
    prefer = {**FHIR_HEADERS, "Prefer": "return=OperationOutcome"}
    for bundle, where in [(collection, "Bundle.entry[0].resource.entry[0].item.reference"),
                          (message, "Bundle.entry[1].resource.generalPractitioner[0].reference")]:
        stored = client.post("/Bundle", json=bundle, headers=prefer)
        assert stored.status_code == 201, stored.text
        assert [i["severity"] for i in stored.json()["issue"]
                if i.get("expression") == [where]] == ["warning"]


def test_a_relative_full_url_is_400(client):
    """The HL7 validator's `bundle-duplicate-id`: `Patient/1` as a collection's fullUrl was
    stored without a word; a fullUrl is "the absolute URL for the resource"."""
    collection = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"fullUrl": "Patient/1", "resource": new_patient()}]}
    assert_outcome(client.post("/Bundle", json=collection, headers=FHIR_HEADERS), 400,
                   expression="Bundle.entry[0].fullUrl")
    collection["entry"][0]["fullUrl"] = _urn()
    assert client.post("/Bundle", json=collection, headers=FHIR_HEADERS).status_code == 201


def test_a_bundle_within_a_bundle_resolves_its_own_urns(client):
    """A document's `urn:uuid:` references were looked for among the fullUrls of the
    collection holding it (the IPS `bundle-minimal` in a collection was 400)."""
    document = _document({"text": "Tóm tắt bệnh án"})
    collection = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"fullUrl": _urn(), "resource": document}]}
    response = client.post("/Bundle", json=collection, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    dangling = {**collection, "entry": [{"fullUrl": _urn(), "resource": {
        **document, "entry": document["entry"][:1]}}]}
    assert_outcome(client.post("/Bundle", json=dangling, headers=FHIR_HEADERS), 400,
                   expression="Bundle.entry[0].resource.entry[0].resource.subject.reference")



def test_a_bundles_message_is_its_entry_never_a_stored_namesake(client, server):
    """Bundle's `message` and `composition` are the Bundle's first entry, known by its
    fullUrl: a chain, `_include`, `_revinclude` or `_has` through them read the stored
    resource that had the entry's id, another one (maybe another patient's). They reach a
    stored resource only through a fullUrl that is this server's URL of it."""
    patient_urn = _urn()
    message = _message(patient_urn, [{"fullUrl": patient_urn, "resource": new_patient()}])
    header = message["entry"][0]["resource"]
    stored = client.post("/Bundle", json=message, headers=FHIR_HEADERS)
    assert stored.status_code == 201, stored.text
    bundle_id = stored.json()["id"]
    namesake = {**header, "focus": [{"reference": "Patient/someone-else"}]}
    assert client.put(f"/MessageHeader/{header['id']}", json=namesake,
                      headers=FHIR_HEADERS).status_code == 201
    assert search_ids(client, "Bundle", **{"message.focus": "Patient/someone-else",
                                           "_id": bundle_id}) == []
    assert search_ids(client, "Bundle", message=f"MessageHeader/{header['id']}") == []
    assert search_ids(client, "MessageHeader", **{"_id": header["id"],
                                                  "_has:Bundle:message:_id": bundle_id}) == []
    for path, params in (("/Bundle", {"_id": bundle_id, "_include": "Bundle:message"}),
                         ("/Bundle", {"_id": bundle_id, "_include": "Bundle:*"}),
                         ("/MessageHeader", {"_id": header["id"], "_revinclude": "*"})):
        found = client.get(path, params=params).json()["entry"]
        included = {e["resource"]["resourceType"] for e in found if e["search"]["mode"] != "match"}
        assert included <= {"Provenance"}, (params, found)  # the signature of the write
    # Its fullUrl on this server: the stored MessageHeader it is.
    message["entry"][0]["fullUrl"] = f"{server.base}/MessageHeader/{header['id']}"
    here = client.post("/Bundle", json=message, headers=FHIR_HEADERS).json()["id"]
    assert search_ids(client, "Bundle", **{"message.focus": "Patient/someone-else",
                                           "_id": here}) == [here]


def test_a_chain_through_composition_or_message_searches_the_entry_itself(client):
    """Bundle's `composition` and `message` "provide access to search" the document's
    Composition and the message's MessageHeader (their R4 descriptions): a chain through
    them found nothing unless the entry's fullUrl named a stored resource of this server,
    though the official document Bundles name theirs by `urn:uuid:` or another server's URL."""
    document = _document({"coding": [{"system": "http://loinc.org", "code": "60591-5"}]})
    patient_urn = _urn()
    message = _message(patient_urn, [{"fullUrl": patient_urn, "resource": new_patient()}])
    ids = []
    for bundle in (document, message):
        stored = client.post("/Bundle", json=bundle, headers=FHIR_HEADERS)
        assert stored.status_code == 201, stored.text
        ids.append(stored.json()["id"])
    document_id, message_id = ids
    both = ",".join(ids)
    for criteria, expected in [
        ({"composition.type": "http://loinc.org|60591-5"}, [document_id]),
        ({"composition.title": "tom tat"}, [document_id]),
        ({"composition.title:exact": "Tóm tắt"}, [document_id]),
        ({"composition.title:exact": "Tóm tắt bệnh án"}, []),
        ({"composition.status": "final", "composition.date": "2026-01-01"}, [document_id]),
        ({"composition.type": "http://loinc.org|11488-4"}, []),
        ({"message.event": "http://example.org/events|admit"}, [message_id]),
        ({"message:MessageHeader.event": "admit"}, [message_id]),
        ({"message.event": "discharge"}, []),
    ]:
        assert search_ids(client, "Bundle", **criteria, _id=both) == expected, criteria
