"""What `POST [base]` takes besides its entries' resources (R4 bundle.html, http.html): the
Bundle itself must be valid R4, an entry's own elements too (that entry alone fails in a
batch); and `[base]/Type/` names `[base]/Type`."""

import httpx
import pytest
from helpers import FHIR_HEADERS, assert_outcome, new_patient, search_ids, unique_cccd


def _bundle(*entries: object, kind: str = "batch") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def test_a_trailing_slash_names_the_same_endpoint(client, server):
    """`[base]/Patient/` is `[base]/Patient`: it was a bare 307 to a URL built from the
    client's Host header (any host, before authentication), and a POST was never run."""
    created = client.post("/Patient/", json=new_patient(), headers=FHIR_HEADERS)
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    assert client.get(f"/Patient/{patient_id}/").json()["id"] == patient_id
    anonymous = httpx.get(f"{server.base}/Patient/", headers={"Host": "evil.example"})
    assert anonymous.status_code == 401
    assert "location" not in anonymous.headers


@pytest.mark.parametrize("extra", [{"total": 3}, {"foo": 1}, {"timestamp": "notadate"},
                                   {"id": "a_b"}])
@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_a_bundle_sent_to_run_is_itself_valid_r4(client, kind, extra):
    """The Bundle posted to [base] is checked as any Bundle stored is (an unknown element,
    bdl-1's total only in a searchset or history, a malformed timestamp were ignored):
    400, nothing run."""
    value = unique_cccd()
    bundle = {**_bundle({"resource": new_patient(value),
                         "request": {"method": "POST", "url": "Patient"}}, kind=kind), **extra}
    assert_outcome(client.post("", json=bundle, headers=FHIR_HEADERS), 400)
    assert search_ids(client, "Patient", identifier=value) == []


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_an_entry_breaking_the_rules_of_entries_fails_as_a_malformed_one(client, kind):
    """`request.bogus`, an empty fullUrl: the entry alone in a batch, the whole transaction."""
    value = unique_cccd()
    good = {"resource": new_patient(value), "request": {"method": "POST", "url": "Patient"}}
    bad = {"fullUrl": "", "resource": new_patient(),
           "request": {"method": "POST", "url": "Patient", "bogus": True}}
    response = client.post("", json=_bundle(good, bad, kind=kind), headers=FHIR_HEADERS)
    if kind == "transaction":
        assert_outcome(response, 400, expression="Bundle.entry[1].fullUrl")
        assert search_ids(client, "Patient", identifier=value) == []
        return
    first, second = response.json()["entry"]
    assert first["response"]["status"].startswith("201")
    assert second["response"]["status"].startswith("400"), second


def test_a_document_with_a_full_url_of_the_wrong_json_type_is_400(client):
    """A list as fullUrl was hashed among the document's fullUrls: 500."""
    document = {"resourceType": "Bundle", "type": "document", "timestamp": "2026-01-01T00:00:00Z",
                "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1b2c"},
                "entry": [{"fullUrl": ["urn:uuid:x"], "resource": new_patient()}]}
    assert_outcome(client.post("/Bundle", json=document, headers=FHIR_HEADERS), 400)


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_one_full_url_with_different_version_ids_keeps_bdl_7(client, kind):
    """bdl-7 lets entries share a fullUrl when their `meta.versionId` differ: the check of
    the Bundle without its resources refused the second as breaking bdl-7 (in a batch, the
    first was written). A batch runs both; a transaction refuses a fullUrl naming two of its
    entries, saying so."""
    value, full_url = unique_cccd(), "urn:uuid:6a0c5f59-1f5e-4bb8-9d9e-3c7a4b2e8d10"
    entries = [{"fullUrl": full_url, "request": {"method": "POST", "url": "Patient"},
                "resource": {**new_patient(value), "meta": {"versionId": version}}}
               for version in ("1", "2")]
    response = client.post("", json=_bundle(*entries, kind=kind), headers=FHIR_HEADERS)
    assert "bdl-7" not in response.text, response.text
    if kind == "transaction":
        assert_outcome(response, 400, expression="Bundle.entry[1]")
        assert search_ids(client, "Patient", identifier=value) == []
        return
    assert [entry["response"]["status"] for entry in response.json()["entry"]] == [
        "201 Created", "201 Created"]


@pytest.mark.parametrize("kind", [[], ["batch"], {"value": "batch"}, 1, None])
def test_a_type_that_is_no_code_is_a_400(client, kind):
    """Bundle.type as any JSON but a string: 400 naming it (a list or an object was looked
    up among the types POST [base] runs, and the lookup was a 500)."""
    value = unique_cccd()
    bundle = {"resourceType": "Bundle", "type": kind,
              "entry": [{"resource": new_patient(value),
                         "request": {"method": "POST", "url": "Patient"}}]}
    assert_outcome(client.post("", json=bundle, headers=FHIR_HEADERS), 400)
    assert search_ids(client, "Patient", identifier=value) == []


def test_a_bundle_without_type_is_400_saying_it_lacks_one(client):
    """It said "Bundle.type must be batch, transaction or history, not 'None'"."""
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": new_patient(), "request": {"method": "POST", "url": "Patient"}}]}
    outcome = assert_outcome(client.post("", json=bundle, headers=FHIR_HEADERS), 400,
                             "required", "Bundle.type")
    assert "None" not in outcome["issue"][0]["diagnostics"], outcome
    assert "has no type" in outcome["issue"][0]["diagnostics"], outcome
