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
