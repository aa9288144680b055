"""Documents the server assembles (`Composition/$document`, `Patient/$summary`) carry the
hospital seal's `Bundle.signature` (README "Signature contract"): a detached JWS over the
RFC 8785 JSON of the Bundle without id, meta and signature, whose `sigD` names the document's
identifier. It verifies with an independent JOSE library, through `$verify-signature`, and
after the document is stored elsewhere under another id; any change to the content fails it.

Data set: patient Bình's discharge note (a Composition) naming his diagnosis.
"""

import copy

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search.helpers import load, ref

from provenance.helpers import (
    MST_SYSTEM,
    SIGD_MECHANISM,
    TAX_CODE,
    assert_failed,
    assert_passed,
    indication,
    joserfc_verify,
    leaf_certificate,
    subject_attributes,
)

DOCUMENT_UNSIGNED = ("id", "meta", "signature")
DOCUMENT_FORMAT = (
    'application/fhir+json;canonicalization="urn:ietf:rfc:8785";omit="id meta signature"'
)
VERIFICATION_SIGNATURE = {"system": "urn:iso-astm:E1762-95:2013",
                          "code": "1.2.840.10065.1.12.1.5", "display": "Verification Signature"}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, {
        "binh": {"resourceType": "Patient", "name": [{"family": "Trần", "given": ["Bình"]}]},
        "diagnosis": {"resourceType": "Condition", "subject": ref("binh"),
                      "code": {"text": "Sốt xuất huyết"}},
        "note": {"resourceType": "Composition", "status": "final",
                 "type": {"coding": [{"system": "http://loinc.org", "code": "18842-5"}]},
                 "subject": ref("binh"), "date": "2025-08-01", "author": [ref("binh")],
                 "title": "Giấy ra viện",
                 "section": [{"title": "Chẩn đoán", "entry": [ref("diagnosis")]}]},
    })


@pytest.fixture(scope="module")
def document(client, ids) -> dict:
    response = client.get(f"/Composition/{ids['note']}/$document")
    assert response.status_code == 200, response.text
    return response.json()


def _verify_document(client, bundle: dict) -> dict:
    body = {"resourceType": "Parameters", "parameter": [{"name": "document", "resource": bundle}]}
    response = client.post("/$verify-signature", json=body, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_document_is_sealed_by_the_hospital(document):
    signature = document["signature"]
    assert signature["type"] == [VERIFICATION_SIGNATURE]
    assert signature["who"]["identifier"] == {"system": MST_SYSTEM, "value": TAX_CODE}
    assert (signature["targetFormat"], signature["sigFormat"]) == (DOCUMENT_FORMAT,
                                                                   "application/jose")
    header = joserfc_verify(signature, document, DOCUMENT_UNSIGNED)
    assert header["sigD"] == {"mId": SIGD_MECHANISM, "pars": [document["identifier"]["value"]],
                              "ctys": ["application/fhir+json"]}
    assert header["sigT"] == signature["when"]
    assert subject_attributes(leaf_certificate(signature))[1] == [f"MST:{TAX_CODE}"]


def test_the_seal_verifies_through_verify_signature(client, document):
    assert_passed(_verify_document(client, document))


@pytest.mark.parametrize("change", ["diagnosis", "identifier", "timestamp", "entry order"])
def test_any_change_to_the_content_fails_the_seal(client, document, change):
    changed = copy.deepcopy(document)
    if change == "diagnosis":
        (condition,) = [entry["resource"] for entry in changed["entry"]
                        if entry["resource"]["resourceType"] == "Condition"]
        condition["code"]["text"] = "Sốt rét"
    elif change == "identifier":
        changed["identifier"]["value"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
    elif change == "timestamp":
        changed["timestamp"] = "2020-01-01T00:00:00Z"
    else:
        changed["entry"] = [changed["entry"][0], *reversed(changed["entry"][1:])]
        assert changed["entry"] != document["entry"]
    parameters = _verify_document(client, changed)
    assert_failed(parameters, "target" if change == "identifier" else "signature")


@pytest.mark.parametrize("claimed", [
    "application/fhir+json",
    'application/fhir+json;canonicalization="urn:ietf:rfc:8785";omit="id meta text"'])
def test_a_seal_saying_another_signed_form_fails(client, document, claimed):
    """`targetFormat` tells a verifier which bytes were signed, and the signature does not
    bind it: a document whose seal names another form passed, as a Provenance's does not
    (README: what is said beside the signature must agree with it)."""
    relabelled = copy.deepcopy(document)
    relabelled["signature"]["targetFormat"] = claimed
    assert_failed(_verify_document(client, relabelled), "claims")
    forged = {k: v for k, v in relabelled.items() if k not in ("id", "meta")}
    response = client.post("/Bundle", json=forged, headers=FHIR_HEADERS)
    assert assert_outcome(response, 422)["issue"][0]["expression"] == ["Bundle.signature"]


def test_a_document_stored_with_persist_keeps_a_seal_that_verifies(client, ids):
    response = client.post(f"/Composition/{ids['note']}/$document", params={"persist": "true"})
    assert response.status_code == 201, response.text
    stored = client.get(response.headers["Location"].split("/_history/")[0]).json()
    assert stored["meta"]["versionId"] == "1"
    joserfc_verify(stored["signature"], stored, DOCUMENT_UNSIGNED)
    assert_passed(_verify_document(client, stored))


def test_a_document_whose_seal_is_false_is_not_stored(client, document):
    """A client storing a document that carries the hospital seal over other content: the
    seal is proven false, and the Bundle refused (422), as a Provenance whose signature
    fails is; unchanged, it is stored."""
    forged = {k: v for k, v in copy.deepcopy(document).items() if k not in ("id", "meta")}
    forged["entry"][0]["resource"]["title"] = "Giấy ra viện (đã sửa)"
    response = client.post("/Bundle", json=forged, headers=FHIR_HEADERS)
    outcome = assert_outcome(response, 422)
    assert outcome["issue"][0]["expression"] == ["Bundle.signature"], outcome
    genuine = {k: v for k, v in document.items() if k not in ("id", "meta")}
    assert client.post("/Bundle", json=genuine, headers=FHIR_HEADERS).status_code == 201
    # `$validate` says so as the write does: it answered "No issues detected".
    checked = client.post("/Bundle/$validate", json=forged, headers=FHIR_HEADERS)
    assert checked.status_code == 200, checked.text
    errors = [i for i in checked.json()["issue"] if i["severity"] == "error"]
    assert [i["expression"] for i in errors] == [["Bundle.signature"]], errors
    passed = client.post("/Bundle/$validate", json=genuine, headers=FHIR_HEADERS).json()
    assert not [i for i in passed["issue"] if i["severity"] == "error"], passed


def test_the_patient_summary_is_sealed(client, ids):
    response = client.get(f"/Patient/{ids['binh']}/$summary")
    assert response.status_code == 200, response.text
    summary = response.json()
    joserfc_verify(summary["signature"], summary, DOCUMENT_UNSIGNED)
    assert_passed(_verify_document(client, summary))


def test_an_unsigned_bundle_does_not_verify(client, document):
    unsigned = {key: value for key, value in document.items() if key != "signature"}
    parameters = _verify_document(client, unsigned)
    assert indication(parameters) == "TOTAL-FAILED"
    reasons = [p["valueString"] for p in parameters["parameter"] if p["name"] == "reason"]
    assert reasons == ["The Bundle carries no signature"]


@pytest.mark.parametrize("parameter", [
    [{"name": "document", "resource": {"resourceType": "Patient"}}],
    [{"name": "document", "valueString": "a Bundle"}],
    [{"name": "document", "resource": {"resourceType": "Bundle", "type": "document"}},
     {"name": "document", "resource": {"resourceType": "Bundle", "type": "document"}}],
    [{"name": "document", "resource": {"resourceType": "Bundle", "type": "document"}},
     {"name": "provenance", "resource": {"resourceType": "Provenance"}}],
])
def test_a_malformed_request_to_check_a_document_is_400(client, parameter):
    response = client.post("/$verify-signature", headers=FHIR_HEADERS,
                           json={"resourceType": "Parameters", "parameter": parameter})
    assert_outcome(response, 400)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
MEMBERS = ["signature", "signature.data", "signature.who", "signature.who.identifier",
           "signature.sigFormat", "identifier", "identifier.value", "entry", "type"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(member=st.sampled_from(MEMBERS), value=JSON_VALUES)
def test_a_hostile_document_is_refused_or_fails_never_500(client, document, member, value):
    """Any member of the sealed Bundle replaced by any JSON: 400 when that is no valid Bundle,
    else checked, and never TOTAL-PASSED unless the value changed nothing."""
    changed = copy.deepcopy(document)
    *path, last = member.split(".")
    container = changed
    for step in path:
        container = container[step]
    container[last] = value
    response = client.post("/$verify-signature", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [{"name": "document", "resource": changed}]})
    assert response.status_code in (200, 400), (member, value, response.text)
    if response.status_code == 200 and changed != document:
        assert indication(response.json()) != "TOTAL-PASSED", (member, value)
