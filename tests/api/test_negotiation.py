"""Content negotiation (http://hl7.org/fhir/R4/http.html#mime-type) and the
CapabilityStatement (http://hl7.org/fhir/R4/http.html#capabilities)."""

import json

import httpx
import pytest
from helpers import (
    CCCD,
    assert_outcome,
    created,
    media_type,
    new_patient,
    search_ids,
    type_snapshot,
    unique_cccd,
)

from fhir_server.conformance.definitions import registry

RESOURCE_TYPES = ("Patient", "Encounter", "DocumentReference", "Provenance", "Practitioner",
                  "Organization", "Group", "Binary", "AuditEvent")
INTERACTIONS = {"read", "vread", "update", "patch", "delete", "history-instance",
                "history-type", "create", "search-type"}


def _with_identifier_parameter() -> set[str]:
    """The types on which the official R4 definitions declare an `identifier` parameter."""
    return {base for definition in registry().all("SearchParameter")
            if definition["code"] == "identifier" for base in definition["base"]}


WITHOUT_IDENTIFIER = {"Binary", "Provenance", "AuditEvent"}
READ_ONLY = {"AuditEvent": {"read", "vread", "history-instance", "history-type", "search-type"},
             # append-only: no patch or delete; update creates only (405 on an existing one)
             "Provenance": INTERACTIONS - {"patch", "delete"}}


@pytest.fixture(scope="module")
def patient(client) -> dict:
    return created(client, new_patient())


@pytest.mark.parametrize("fmt", ["json", "application/fhir+json", "application/fhir json"])
def test_format_json_answers_fhir_json(client, patient, fmt):
    response = client.get(f"/Patient/{patient['id']}", params={"_format": fmt})
    assert response.status_code == 200
    assert media_type(response) == "application/fhir+json"
    assert response.json() == patient


def test_format_application_json_answers_json(client, patient):
    response = client.get(f"/Patient/{patient['id']}", params={"_format": "application/json"})
    assert response.status_code == 200
    assert media_type(response) == "application/json"
    assert response.json() == patient


def test_format_overrides_accept(client, patient):
    response = client.get(f"/Patient/{patient['id']}", params={"_format": "json"},
                          headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 200
    assert media_type(response) == "application/fhir+json"


def test_answers_chosen_by_accept_say_so_to_caches(client, patient):
    """RFC 9110 §12.5.5: a cache that stored the JSON of a read must not hand it to a client
    asking for XML; a 304 carries the same Vary (§15.4.5), an error names Accept-Language
    too, which chose its messages' language."""
    path = f"/Patient/{patient['id']}"
    for answer in (client.get(path), client.get(path, headers={"Accept": "application/fhir+xml"}),
                   client.get("/Patient", params={"_id": patient["id"]}), client.get("/metadata")):
        assert answer.status_code == 200 and answer.headers["vary"] == "Accept", answer.headers
    etag = client.get(path).headers["etag"]
    unchanged = client.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.headers["vary"] == "Accept"
    missing = client.get("/Patient/no-such-patient")
    assert missing.status_code == 404
    assert missing.headers["vary"] == "Accept, Accept-Language"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", "application/json"),
        ("text/json", "text/json"),  # a generic type http.html#mime-type names
        ("application/fhir+json", "application/fhir+json"),
        ("application/fhir+json, application/fhir+xml", "application/fhir+json"),
        ("application/fhir+xml;q=0.5, application/fhir+json;q=0.9", "application/fhir+json"),
        ("application/fhir+xml;q=0, application/fhir+json;q=0.1", "application/fhir+json"),
        ("text/html, application/fhir+json;q=0.2, */*;q=0.1", "application/fhir+json"),
        ("*/*", "application/fhir+json"),
    ],
)
def test_accept_header_picks_the_json_media_type(client, patient, accept, expected):
    response = client.get(f"/Patient/{patient['id']}", headers={"Accept": accept})
    assert response.status_code == 200
    assert media_type(response) == expected
    assert response.json() == patient


def test_a_utf8_body_is_sent_unescaped(client, patient):
    response = client.get(f"/Patient/{patient['id']}")
    assert "Nguyễn".encode() in response.content
    assert response.headers["content-type"].lower().replace(" ", "") in (
        "application/fhir+json", "application/fhir+json;charset=utf-8")


@pytest.mark.parametrize("fmt", ["text/html", "ttl", "application/rdf+xml"])
def test_an_unsupported_format_is_406(client, patient, fmt):
    response = client.get(f"/Patient/{patient['id']}", params={"_format": fmt})
    assert_outcome(response, 406)


def test_accept_prefers_the_highest_quality(client, patient):
    """RFC 9110 §12.5.1: q decides, not the order; q=0 is "not acceptable"."""
    for accept in ("application/fhir+json;q=0.9, application/fhir+xml",
                   "application/fhir+json;q=0, application/fhir+xml;q=0.001"):
        response = client.get(f"/Patient/{patient['id']}", headers={"Accept": accept})
        assert response.status_code == 200, accept
        assert media_type(response) == "application/fhir+xml", accept
    refused = client.get(f"/Patient/{patient['id']}", headers={"Accept": "*/*;q=0"})
    assert_outcome(refused, 406)


@pytest.mark.parametrize("q", ["abc", "2", "0.5x", ""])
def test_a_range_whose_q_is_no_qvalue_is_left_out(client, patient, q):
    """RFC 9110 §12.4.2: a qvalue is 0 to 1 with at most three decimals. A range with
    another `q` was taken with q=1; it is left out now, as a range of an unknown type is."""
    path = f"/Patient/{patient['id']}"
    response = client.get(path, headers={
        "Accept": f"application/fhir+xml;q={q}, application/fhir+json;q=0.5"})
    assert response.status_code == 200, response.text
    assert media_type(response) == "application/fhir+json"
    assert_outcome(client.get(path, headers={"Accept": f"application/fhir+xml;q={q}"}), 406)


@pytest.mark.parametrize("accept", [
    "application/fhir+json;q=0, */*",
    "application/fhir+json;q=0, application/json;q=0, text/json;q=0, */*",
    "application/fhir+json;q=0.0, application/*",
    "application/*;q=0.2, application/fhir+json;q=0.1",
])
def test_a_more_specific_range_weighs_a_type_a_wildcard_covers(client, patient, accept):
    """RFC 9110 §12.5.1: the most specific range gives a type its q, so a wildcard does not
    bring back JSON the client weighed 0 (or less than XML)."""
    response = client.get(f"/Patient/{patient['id']}", headers={"Accept": accept})
    assert response.status_code == 200, accept
    assert media_type(response) in ("application/fhir+xml", "application/xml"), accept


def test_accept_sent_on_two_lines_is_one_list(server, issuer, patient):
    """RFC 9110 §5.3: several lines of one field are its values joined by commas."""
    headers = [("Authorization", f"Bearer {issuer.token()}"), ("Accept", "text/html"),
               ("Accept", "application/fhir+xml")]
    response = httpx.get(f"{server.base}/Patient/{patient['id']}", headers=headers)
    assert response.status_code == 200, response.text
    assert media_type(response) == "application/fhir+xml"


def test_any_text_type_is_answered_in_xml(client, patient):
    """text/* (RFC 9110 §12.5.1 media ranges) admits text/xml and text/json: XML it is."""
    response = client.get(f"/Patient/{patient['id']}", headers={"Accept": "text/*"})
    assert response.status_code == 200
    assert media_type(response) == "text/xml"
    assert "<Patient" in response.text


@pytest.mark.parametrize(("fmt", "expected"), [
    ("application/fhir+json;fhirVersion=4.0", "application/fhir+json"),
    ("application/fhir+xml; fhirVersion=4.0.1", "application/fhir+xml"),
    # R4 as first published, 4.0.0 (a client built on it names that): the patch differs
    # from 4.0.1's, not the version; it was 406
    ("application/fhir+json; fhirVersion=4.0.0", "application/fhir+json"),
    ("application/fhir+json; charset=utf-8", "application/fhir+json"),
])
def test_format_with_media_type_parameters(client, patient, fmt, expected):
    """`_format` takes a media type as Accept does, with its parameters
    (http.html#version-parameter)."""
    response = client.get(f"/Patient/{patient['id']}", params={"_format": fmt})
    assert response.status_code == 200, response.text
    assert media_type(response) == expected


def test_another_fhir_version_is_406_or_415(client, patient):
    """This server speaks R4: asking for (406) or sending (415) another fhirVersion is
    refused; a range for R4 further down the Accept header is taken."""
    path = f"/Patient/{patient['id']}"
    stu3 = "application/fhir+json;fhirVersion=3.0"
    assert_outcome(client.get(path, headers={"Accept": stu3}), 406)
    assert_outcome(client.get(path, params={"_format": stu3}), 406)
    # Written as R4 writes it, with a space after `;`: the space was read as a lost `+`.
    for spaced in ("application/fhir+xml; fhirVersion=3.0",
                   "application/fhir xml; fhirVersion=3.0"):
        assert_outcome(client.get(path, params={"_format": spaced}), 406)
    assert client.get(path, params={"_format": "application/fhir xml; fhirVersion=4.0"}
                      ).status_code == 200
    response = client.get(path, headers={"Accept": f"{stu3}, application/fhir+json;q=0.5"})
    assert response.status_code == 200
    before = type_snapshot(client, "Patient")
    sent = client.post("/Patient", content=json.dumps(new_patient()),
                       headers={"Content-Type": stu3})
    assert_outcome(sent, 415)
    assert type_snapshot(client, "Patient") == before
    for version in ("4.0", "4.0.0"):  # 4.0.0 was 415
        r4 = client.post("/Patient", content=json.dumps(new_patient()),
                         headers={"Content-Type": f"application/fhir+json; fhirVersion={version}"})
        assert r4.status_code == 201, (version, r4.text)


@pytest.mark.parametrize("accept", ["text/turtle", "text/html"])
def test_accept_only_unsupported_types_is_406(client, patient, accept):
    response = client.get(f"/Patient/{patient['id']}", headers={"Accept": accept})
    assert_outcome(response, 406)
    assert media_type(response) == "application/fhir+json"


def test_a_406_create_stores_nothing(client):
    before = type_snapshot(client, "Patient")
    response = client.post("/Patient", json=new_patient(), params={"_format": "ttl"},
                           headers={"Content-Type": "application/fhir+json"})
    assert_outcome(response, 406)
    assert type_snapshot(client, "Patient") == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_create_with_a_non_json_content_type_is_415_and_stores_nothing(client, content_type):
    value = unique_cccd()
    body = json.dumps(new_patient(value))
    response = client.post("/Patient", content=body, headers={"Content-Type": content_type})
    assert_outcome(response, 415)
    assert search_ids(client, "Patient", identifier=value) == []


def test_create_without_content_type_is_415(client):
    value = unique_cccd()
    response = client.post("/Patient", content=json.dumps(new_patient(value)).encode())
    assert_outcome(response, 415)
    assert search_ids(client, "Patient", identifier=value) == []


@pytest.mark.parametrize("charset", ["iso-8859-1", "utf-16", '"windows-1258"'])
def test_a_body_in_another_charset_is_415_and_stores_nothing(client, charset):
    """FHIR bodies are UTF-8 (http.html#mime-type): one declared otherwise is no FHIR body,
    not one read as UTF-8 whatever its label."""
    value = unique_cccd()
    body = json.dumps({"resourceType": "Patient", "identifier": [{"system": CCCD, "value": value}],
                       "name": [{"family": "Café"}]}, ensure_ascii=False).encode("latin-1")
    response = client.post("/Patient", content=body, headers={
        "Content-Type": f"application/fhir+json; charset={charset}"})
    outcome = assert_outcome(response, 415)
    assert charset.strip('"') in outcome["issue"][0]["diagnostics"]
    assert search_ids(client, "Patient", identifier=value) == []


@pytest.mark.parametrize("content_type", ["application/json", "application/fhir+json",
                                          "application/fhir+json; charset=utf-8",
                                          "application/json;charset=UTF-8",
                                          'application/fhir+json; charset="utf8"',
                                          "application/json+fhir"])  # DSTU2's name
def test_create_accepts_both_json_content_types(client, content_type):
    value = unique_cccd()
    body = json.dumps(new_patient(value), ensure_ascii=False).encode()
    response = client.post("/Patient", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    assert search_ids(client, "Patient", identifier=value) == [response.json()["id"]]


def test_update_with_a_text_content_type_is_415(client, patient):
    response = client.put(f"/Patient/{patient['id']}", content=json.dumps(patient),
                          headers={"Content-Type": "text/plain"})
    assert_outcome(response, 415)
    assert client.get(f"/Patient/{patient['id']}").json() == patient


@pytest.mark.parametrize("content_type", ["application/xml", "application/fhir+xml"])
def test_json_sent_as_xml_is_400_and_changes_nothing(client, patient, content_type):
    response = client.put(f"/Patient/{patient['id']}", content=json.dumps(patient),
                          headers={"Content-Type": content_type})
    assert_outcome(response, 400)
    assert client.get(f"/Patient/{patient['id']}").json() == patient


def test_errors_are_sent_as_fhir_json(client):
    response = client.get("/Patient/khong-ton-tai", headers={"Accept": "application/json"})
    assert_outcome(response, 404)
    assert media_type(response) in ("application/json", "application/fhir+json")


def test_metadata_is_a_capability_statement_for_r4(client, server):
    response = client.get("/metadata")
    assert response.status_code == 200
    assert media_type(response) == "application/fhir+json"
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["status"] == "active"
    assert statement["kind"] == "instance"
    assert "application/fhir+json" in statement["format"]
    assert "json" in statement["format"] and "application/fhir+json" in statement["format"]
    assert "xml" in statement["format"] and "application/fhir+xml" in statement["format"]
    assert "application/json-patch+json" in statement["patchFormat"]
    [rest] = statement["rest"]
    assert rest["mode"] == "server"
    assert {i["code"] for i in rest["interaction"]} >= {"transaction", "batch", "history-system"}


def test_metadata_lists_every_supported_type_with_interactions_and_search(client):
    rest = client.get("/metadata").json()["rest"][0]
    resources = {r["type"]: r for r in rest["resource"]}
    # Parameters is not stored, but `POST /Parameters/$validate` checks an operation's body:
    # listed with that operation and no interaction, as HAPI lists a type it has only
    # operations for (it was left out).
    assert resources.pop("Parameters") == {
        "type": "Parameters", "profile": "http://hl7.org/fhir/StructureDefinition/Parameters",
        "operation": [{"name": "validate",
                       "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}]}
    assert set(resources) >= set(RESOURCE_TYPES)
    assert len(resources) == 145  # every other R4 resource type
    with_identifier = _with_identifier_parameter()
    assert not WITHOUT_IDENTIFIER & with_identifier
    for resource_type, resource in resources.items():
        interactions = {i["code"] for i in resource["interaction"]}
        assert interactions == READ_ONLY.get(resource_type, interactions), resource_type
        assert interactions >= READ_ONLY.get(resource_type, INTERACTIONS), resource_type
        params = {p["name"]: p["type"] for p in resource["searchParam"]}
        assert params["_id"] == "token"
        assert params["_lastUpdated"] == "date"
        if resource_type in with_identifier:
            assert params["identifier"] == "token", resource_type
        else:
            assert "identifier" not in params, resource_type


def test_metadata_describes_conditional_and_versioning_support(client):
    resources = client.get("/metadata").json()["rest"][0]["resource"]
    patient = next(r for r in resources if r["type"] == "Patient")
    assert patient["conditionalCreate"] is True
    assert patient["conditionalUpdate"] is True
    assert patient["conditionalDelete"] in ("single", "multiple")
    assert patient["updateCreate"] is True
    assert patient["readHistory"] is True
    assert patient["versioning"] in ("versioned", "versioned-update")


def test_metadata_lists_the_signature_operations(client):
    rest = client.get("/metadata").json()["rest"][0]
    resources = {r["type"]: r for r in rest["resource"]}
    names = {t: [o["name"] for o in r.get("operation", [])] for t, r in resources.items()}
    # $meta, $reindex and $validate are offered on every type, $verify only on Provenance,
    # $meta-add and $meta-delete on every type but those never changed.
    assert sorted(names["Provenance"]) == ["meta", "reindex", "validate", "verify"]
    assert "meta-add" in names["Patient"] and "meta-add" not in names["AuditEvent"]
    assert [t for t, n in names.items() if "verify" in n] == ["Provenance"]
    assert "verify-signature" in {o["name"] for o in rest["operation"]}
    assert "verify-signature" not in {n for found in names.values() for n in found}


def test_metadata_answers_json_when_asked(client):
    response = client.get("/metadata", params={"_format": "application/json"})
    assert response.status_code == 200
    assert media_type(response) == "application/json"
    assert_outcome(client.get("/metadata", params={"_format": "ttl"}), 406)


def test_metadata_mode_terminology_is_terminology_capabilities(client):
    """`metadata?mode=terminology` (capabilitystatement.html): the code systems the server
    knows, as a terminology client such as the FHIR validator asks for them."""
    response = client.get("/metadata", params={"mode": "terminology"})
    assert response.status_code == 200, response.text
    capabilities = response.json()
    assert capabilities["resourceType"] == "TerminologyCapabilities"
    assert capabilities["status"] == "active" and capabilities["kind"] == "instance"
    known = {system["uri"]: system for system in capabilities["codeSystem"]}
    assert {"code": "4.0.1"} in known["http://hl7.org/fhir/administrative-gender"]["version"]
    checked = client.post("/TerminologyCapabilities/$validate", json=capabilities,
                          headers={"Content-Type": "application/fhir+json"}).json()
    assert not [i for i in checked["issue"] if i["severity"] in ("error", "fatal")], checked
    xml = client.get("/metadata", params={"mode": "terminology", "_format": "xml"})
    assert xml.status_code == 200 and b"<TerminologyCapabilities" in xml.content
    full = client.get("/metadata", params={"mode": "full"}).json()
    assert full["resourceType"] == "CapabilityStatement"


def test_metadata_takes_summary_and_elements_and_refuses_an_unknown_mode(client):
    """A client polling for the server's version asks for a part of a statement of about a
    megabyte; `_summary` and `_elements` subset it as any read (SUBSETTED tag)."""
    whole = client.get("/metadata").json()
    summary = client.get("/metadata", params={"_summary": "true"}).json()
    assert summary["software"] == whole["software"] and summary["fhirVersion"] == "4.0.1"
    assert "rest" in whole and len(str(summary)) < len(str(whole)) / 10
    assert summary["meta"]["tag"][0]["code"] == "SUBSETTED"
    elements = client.get("/metadata", params={"_elements": "software,format"}).json()
    assert set(elements) >= {"software", "format", "status", "kind"} and "rest" not in elements
    assert client.get("/metadata").json() == whole  # the kept statement is not changed
    assert_outcome(client.get("/metadata", params={"mode": "everything"}), 400)
    assert client.get("/metadata", params={"mode": "normative"}).json() == whole


def test_every_search_include_the_statement_lists_is_accepted(client):
    """CapabilityStatement.rest.resource.searchInclude lists `_include` values: each of
    them, the wildcard included, is a search the server answers."""
    encounter = next(r for r in client.get("/metadata").json()["rest"][0]["resource"]
                     if r["type"] == "Encounter")
    assert "Encounter:*" in encounter["searchInclude"]
    for value in encounter["searchInclude"]:
        response = client.get("/Encounter", params={"_include": value, "_count": "1"})
        assert response.status_code == 200, (value, response.text)


def test_format_and_pretty_in_a_search_form_shape_the_answer_as_its_links_do(client, patient):
    """`POST [type]/_search` carries the search's parameters, `_format` and `_pretty` among
    them: page 1 came back as JSON while its links (and so page 2) said XML."""
    form = {"_id": patient["id"], "_format": "xml", "_pretty": "true", "_count": "1"}
    response = client.post("/Patient/_search", data=form)
    assert response.status_code == 200, response.text
    assert media_type(response) == "application/fhir+xml"
    assert "\n  " in response.text and "<Bundle" in response.text
    assert "_format=xml" in response.text  # the self link, as before
    refused = client.post("/Patient/_search", data={"_id": patient["id"], "_format": "bogus"})
    assert_outcome(refused, 406)


def test_pretty_xml_ends_its_root_element_on_a_line_of_its_own(client, patient):
    """`_pretty=true` in XML put every end tag on a line of its own but the root's, which
    followed the last child's (`</name></Patient>`), as JSON's closing brace does not."""
    read = client.get(f"/Patient/{patient['id']}", params={"_format": "xml", "_pretty": "true"})
    found = client.get("/Patient", params={"_id": patient["id"], "_format": "xml",
                                           "_pretty": "true"})
    for response, root in ((read, "Patient"), (found, "Bundle")):
        assert response.status_code == 200, response.text
        lines = response.text.splitlines()
        assert lines[0].startswith(f"<{root} ") and lines[-1] == f"</{root}>", response.text
        assert all(line.startswith("  ") for line in lines[1:-1]), response.text
    plain = client.get(f"/Patient/{patient['id']}", params={"_format": "xml"})
    assert "\n" not in plain.text and plain.text.endswith("</address></Patient>"), plain.text
