"""`Composition/[id]/$document` and `Composition/$document?id=` (R4
composition-operation-document): a `document` Bundle, the stored Composition first, then
every resource it refers to directly or through others (subject, encounter, author,
attester, custodian, section entries, nested sections, what those refer to), each once;
refused whole when the token may not read all of it; stored as a Bundle only when asked
(`persist=true`), and then found by Bundle's `composition` parameter.

Data set: a discharge summary (Giấy ra viện) of patient Hùng's stay at Bạch Mai, written by
doctor Hoa and attested by the hospital, with a section holding his diagnosis and a nested
section holding a lab result that names the laboratory (an Organization, reached only
through the Observation).
"""

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome
from search.helpers import load, ref
from security.helpers import fhir_client

LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, {
        "bachmai": {"resourceType": "Organization", "name": "Bệnh viện Bạch Mai"},
        "lab": {"resourceType": "Organization", "name": "Khoa Xét nghiệm"},
        "hoa": {"resourceType": "Practitioner", "name": [{"family": "Lê", "given": ["Hoa"]}]},
        "hung": {"resourceType": "Patient", "name": [{"family": "Phạm", "given": ["Hùng"]}],
                 "managingOrganization": ref("bachmai")},
        "stay": {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": ACT_CODE, "code": "IMP"}, "subject": ref("hung"),
                 "serviceProvider": ref("bachmai")},
        "diagnosis": {"resourceType": "Condition", "subject": ref("hung"),
                      "code": {"text": "Viêm phổi"}},
        "crp": {"resourceType": "Observation", "status": "final", "subject": ref("hung"),
                "code": {"coding": [{"system": LOINC, "code": "1988-5"}]},
                "performer": [ref("lab")], "valueQuantity": {"value": 48.5, "unit": "mg/L"}},
        "discharge": {
            "resourceType": "Composition", "status": "final",
            "type": {"coding": [{"system": LOINC, "code": "18842-5"}]},
            "subject": ref("hung"), "encounter": ref("stay"), "date": "2024-06-01",
            "author": [ref("hoa")], "title": "Giấy ra viện", "custodian": ref("bachmai"),
            "attester": [{"mode": "legal", "party": ref("bachmai")}],
            "section": [{"title": "Chẩn đoán", "entry": [ref("diagnosis")],
                         "section": [{"title": "Xét nghiệm", "entry": [ref("crp")]}]}],
        },
    })


def _document(http, path: str, **params) -> dict:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "document" and bundle["timestamp"]
    assert bundle["identifier"]["value"].startswith("urn:uuid:")
    return bundle


def _stored_documents(client) -> int:
    response = client.get("/Bundle", params={"type": "document", "_summary": "count"})
    assert response.status_code == 200, response.text
    return response.json()["total"]


def _reference(kind: str, resource_id: str) -> dict:
    return {"reference": f"{kind}/{resource_id}"}


def _held(bundle: dict, server) -> list[str]:
    return [entry["fullUrl"].removeprefix(f"{server.base}/") for entry in bundle["entry"]]


def test_the_document_holds_the_composition_first_and_everything_it_refers_to(client, ids,
                                                                               server):
    stored_before = _stored_documents(client)
    bundle = _document(client, f"/Composition/{ids['discharge']}/$document")
    assert _stored_documents(client) == stored_before  # made, not stored
    held = _held(bundle, server)
    assert held[0] == f"Composition/{ids['discharge']}"
    expected = {"Patient/hung", "Encounter/stay", "Practitioner/hoa", "Organization/bachmai",
                "Condition/diagnosis", "Observation/crp", "Organization/lab"}
    assert sorted(held[1:]) == sorted(
        f"{e.split('/')[0]}/{ids[e.split('/')[1]]}" for e in expected)
    assert bundle["entry"][0]["resource"]["title"] == "Giấy ra viện"


def test_a_version_specific_reference_brings_the_version_it_names(client, ids, server):
    """bundle.html#references resolves `Observation/x/_history/1` to the entry of that
    fullUrl whose meta.versionId is 1: the document holds that version (it held none), and
    what it refers to; a version never written, nothing."""
    crp = {"resourceType": "Observation", "status": "final",
           "subject": _reference("Patient", ids["hung"]),
           "code": {"coding": [{"system": LOINC, "code": "1988-5"}]},
           "performer": [_reference("Organization", ids["lab"])],
           "valueQuantity": {"value": 48.5, "unit": "mg/L"}}
    first = client.post("/Observation", headers=FHIR_HEADERS, json=crp).json()
    again = {key: value for key, value in first.items() if key != "performer"}
    again["valueQuantity"] = {"value": 12, "unit": "mg/L"}
    assert client.put(f"/Observation/{first['id']}", headers=FHIR_HEADERS,
                      json=again).status_code == 200
    composition = {"resourceType": "Composition", "status": "final",
                   "type": {"coding": [{"system": LOINC, "code": "11502-2"}]},
                   "subject": _reference("Patient", ids["hung"]), "date": "2024-06-02",
                   "author": [_reference("Practitioner", ids["hoa"])],
                   "title": "Kết quả xét nghiệm",
                   "section": [{"title": "Xét nghiệm", "entry": [
                       {"reference": f"Observation/{first['id']}/_history/1"},
                       {"reference": f"Observation/{first['id']}/_history/7"}]}]}
    stored = client.post("/Composition", headers=FHIR_HEADERS, json=composition)
    assert stored.status_code == 201, stored.text
    bundle = _document(client, f"/Composition/{stored.json()['id']}/$document")
    [held] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert held["fullUrl"] == f"{server.base}/Observation/{first['id']}"
    assert held["resource"]["meta"]["versionId"] == "1"
    assert held["resource"]["valueQuantity"]["value"] == 48.5
    assert f"Organization/{ids['lab']}" in _held(bundle, server)  # its performer, then


def test_the_id_parameter_names_the_composition_by_id_or_by_this_servers_url(client, ids,
                                                                              server):
    by_path = _held(_document(client, f"/Composition/{ids['discharge']}/$document"), server)
    for given in (ids["discharge"], f"{server.base}/Composition/{ids['discharge']}",
                  f"Composition/{ids['discharge']}"):
        assert _held(_document(client, "/Composition/$document", id=given), server) == by_path
    posted = client.post("/Composition/$document", headers=FHIR_HEADERS, json={
        "resourceType": "Parameters", "parameter": [{"name": "id", "valueUri": ids["discharge"]}]})
    assert posted.status_code == 200, posted.text


def test_a_document_the_token_may_not_read_all_of_is_refused(client, server, issuer, ids):
    """It was sealed and could be stored with the Composition and its Patient alone: a
    discharge summary without its diagnosis passed for the record."""
    before = _stored_documents(client)
    scopes = "user/Composition.r user/Patient.r user/Bundle.c"
    with fhir_client(server.base, issuer.token(scopes)) as http:
        refused = http.get(f"/Composition/{ids['discharge']}/$document")
        assert_outcome(refused, 403)
        for kind in ("Condition", "Encounter", "Organization", "Practitioner"):
            assert kind in refused.json()["issue"][0]["diagnostics"]
        assert_outcome(http.post(f"/Composition/{ids['discharge']}/$document",
                                 params={"persist": "true"}), 403)
    assert _stored_documents(client) == before
    with fhir_client(server.base, issuer.token("user/Patient.r")) as http:
        assert_outcome(http.get(f"/Composition/{ids['discharge']}/$document"), 403)


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/Composition/$document", {}, 400),
    ("/Composition/unknown-composition/$document", {}, 404),
    ("/Composition/$document", {"id": "https://other.example/fhir/Composition/1"}, 400),
    ("/Composition/$document", {"id": "x", "persist": "maybe"}, 400),
    # Storing needs POST (GET is safe), whether or not the Composition exists.
    ("/Composition/$document", {"id": "x", "persist": "true"}, 405),
    ("/Composition/$document", {"id": "x", "graph": "http://example.org/g"}, 400),
    # A version of it, and what is no id of a Composition at all.
    ("/Composition/$document", {"id": "Composition/x/_history/1"}, 400),
    ("/Composition/$document", {"id": "urn:uuid:1234"}, 400),
])
def test_what_cannot_be_done_is_said(client, path, params, status):
    assert_outcome(client.get(path, params=params), status)


def test_the_id_parameter_is_not_for_a_particular_composition(client, ids):
    """Composition-document: "GET [base]/Composition/[id]/$document?id=[id] is not
    allowed"."""
    response = client.get(f"/Composition/{ids['discharge']}/$document",
                          params={"id": ids["discharge"]})
    assert_outcome(response, 400, expression="id")


def test_persist_stores_the_document_as_a_bundle(client, ids, server, issuer):
    response = client.post(f"/Composition/{ids['discharge']}/$document",
                           params={"persist": "true"})
    assert response.status_code == 201, response.text
    stored = response.json()
    assert response.headers["location"] == (
        f"{server.base}/Bundle/{stored['id']}/_history/1")
    assert client.get(f"/Bundle/{stored['id']}").json()["entry"] == stored["entry"]
    found = client.get("/Bundle", params={"type": "document", "_id": stored["id"]}).json()
    assert found["total"] == 1
    # Bundle's `composition` (`Bundle.entry[0].resource`) names its Composition, and chains.
    for name, value in [("composition", f"Composition/{ids['discharge']}"),
                        ("composition.subject", f"Patient/{ids['hung']}"),
                        ("composition:missing", "false")]:
        found = client.get("/Bundle", params={name: value, "_id": stored["id"]}).json()
        assert found.get("total") == 1, (name, found)
    assert client.get("/Bundle", params={"message:missing": "false", "_id": stored["id"]}
                      ).json()["total"] == 0
    with fhir_client(server.base, issuer.token("user/*.rs")) as reader:
        refused = reader.post(f"/Composition/{ids['discharge']}/$document",
                              params={"persist": "true"})
    assert_outcome(refused, 403)


def test_persist_by_get_is_405_and_stores_nothing(client, ids):
    before = client.get("/Bundle", params={"type": "document", "_summary": "count"}).json()
    response = client.get(f"/Composition/{ids['discharge']}/$document",
                          params={"persist": "true"})
    assert_outcome(response, 405)
    assert response.headers["allow"] == "POST"
    after = client.get("/Bundle", params={"type": "document", "_summary": "count"}).json()
    assert after["total"] == before["total"]


def test_persist_by_post_without_a_body(client, ids):
    """Its parameters all in the URL, as operations that change state are invoked."""
    response = client.post(f"/Composition/{ids['discharge']}/$document",
                           params={"persist": "true"})
    assert response.status_code == 201, response.text
    assert response.json()["type"] == "document"


def test_a_deleted_composition_is_410(client, ids):
    created = client.post("/Composition", headers=FHIR_HEADERS, json={
        "resourceType": "Composition", "status": "preliminary",
        "type": {"coding": [{"system": LOINC, "code": "18842-5"}]},
        "subject": {"reference": f"Patient/{ids['hung']}"}, "date": "2024-06-02",
        "author": [{"reference": f"Practitioner/{ids['hoa']}"}], "title": "Nháp"}).json()
    assert client.delete(f"/Composition/{created['id']}").status_code == 204
    assert_outcome(client.get(f"/Composition/{created['id']}/$document"), 410)
