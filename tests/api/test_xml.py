"""FHIR XML over HTTP (http://hl7.org/fhir/R4/xml.html, http://hl7.org/fhir/R4/http.html#mime-type):
bodies in XML for create, update, transaction and operations; answers in XML for read, vread,
search, history, operations and errors, by Accept or `_format`."""

import json

import pytest
from bundle_helpers import post_entry, transaction, urn
from helpers import (
    FHIR_HEADERS,
    assert_outcome,
    create,
    created,
    media_type,
    new_patient,
    search_ids,
    type_snapshot,
    unique_cccd,
    without_meta,
)
from pymongo import MongoClient

from fhir_server.conformance.xml_format import resource_to_xml, xml_to_resource

FHIR_XML = "application/fhir+xml"
XML_HEADERS = {"Content-Type": FHIR_XML, "Accept": FHIR_XML}
XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'


def _patient() -> dict:
    """A Patient with what XML writes differently: narrative, extensions on primitives."""
    return new_patient(
        text={"status": "generated",
              "div": f"<div {XHTML}><p>Bệnh nhân <b>Nguyễn Văn An</b> &amp; gia đình</p></div>"},
        _birthDate={"extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
            "valueDateTime": "1985-03-12T08:30:00+07:00"}]},
    )


def _xml(response) -> dict:
    assert media_type(response) == FHIR_XML, response.text
    return xml_to_resource(response.content)


def _assert_xml_outcome(response, status: int, words: str) -> dict:
    assert response.status_code == status, response.text
    outcome = _xml(response)
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"], outcome
    return outcome


def test_created_as_xml_reads_back_the_same_as_json_and_as_xml(client):
    sent = _patient()
    response = client.post("/Patient", content=resource_to_xml(sent), headers=XML_HEADERS)
    assert response.status_code == 201, response.text
    stored = _xml(response)
    assert without_meta(stored) == sent
    as_json = client.get(f"/Patient/{stored['id']}")
    assert media_type(as_json) == "application/fhir+json"
    assert as_json.json() == stored
    as_xml = client.get(f"/Patient/{stored['id']}", headers={"Accept": FHIR_XML})
    assert as_xml.headers["etag"] == as_json.headers["etag"]
    assert _xml(as_xml) == stored


def test_created_as_json_reads_as_xml_unchanged(client):
    stored = created(client, _patient())
    response = client.get(f"/Patient/{stored['id']}", headers={"Accept": FHIR_XML})
    assert response.content.startswith(b'<Patient xmlns="http://hl7.org/fhir"><id value=')
    assert stored["text"]["div"].encode() in response.content
    assert _xml(response) == stored


def test_a_decimal_is_the_same_whichever_format_it_came_in(client):
    observation = ('<Observation xmlns="http://hl7.org/fhir"><status value="final"/>'
                   '<code><text value="Cân nặng"/></code>'
                   '<valueQuantity><value value="72.50"/><unit value="kg"/></valueQuantity>'
                   "</Observation>")
    from_xml = client.post("/Observation", content=observation, headers=XML_HEADERS)
    assert from_xml.status_code == 201, from_xml.text
    from_json = client.post(
        "/Observation",
        content=b'{"resourceType": "Observation", "status": "final", "code": {"text": '
                b'"C\\u00e2n n\\u1eb7ng"}, "valueQuantity": {"value": 72.50, "unit": "kg"}}',
        headers={"Content-Type": "application/fhir+json"},
    )
    assert from_json.status_code == 201, from_json.text
    assert without_meta(_xml(from_xml)) == without_meta(from_json.json())


@pytest.mark.parametrize("value", [2147483648, 3000000000, 10**18])
def test_a_whole_decimal_beyond_32_bits_is_read_as_xml(client, value):
    """MongoDB gives such a number back as a 64-bit integer: still a decimal to write (it was
    406, and so was every XML page holding it; official example Observation-decimal)."""
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "lớn"},
                   "valueQuantity": {"value": value}}
    stored = created(client, observation)
    response = client.get(f"/Observation/{stored['id']}", params={"_format": "xml"})
    assert response.status_code == 200, response.text
    assert f'<value value="{value}"/>'.encode() in response.content
    assert _xml(response)["valueQuantity"] == {"value": value}


@pytest.mark.parametrize("div", [
    '<?xml version="1.0"?><div xmlns="http://www.w3.org/1999/xhtml">a</div>',
    '<!-- trước --><div xmlns="http://www.w3.org/1999/xhtml">a</div>',
    '<div xmlns="http://www.w3.org/1999/xhtml">a</div><?php echo 1 ?>',
])
def test_a_narrative_is_one_div_with_nothing_beside_it(client, div):
    """An XML declaration or a comment beside the div was stored, and then broke every XML
    answer holding the resource (the server refused its own output)."""
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    response = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert_outcome(response, 400)
    inner = {"status": "generated",
             "div": '<div xmlns="http://www.w3.org/1999/xhtml">a<!-- ghi chú --></div>'}
    stored = created(client, {"resourceType": "Patient", "text": inner})
    as_xml = client.get(f"/Patient/{stored['id']}", params={"_format": "xml"})
    assert _xml(as_xml)["text"] == inner


@pytest.mark.parametrize(("div", "prefixed"), [
    ('<h:div xmlns:h="http://www.w3.org/1999/xhtml"><h:p>hi</h:p></h:div>', "h:div"),
    (f'<div {XHTML}><x:p xmlns:x="http://www.w3.org/1999/xhtml">hi</x:p></div>', "x:p"),
])
def test_a_narrative_written_with_a_namespace_prefix_is_refused(client, div, prefixed):
    """`<h:div xmlns:h="...xhtml">` is XHTML to XML, but a browser reads the narrative as
    HTML, where `h:p` is an unknown element (narrative.html): it was stored and written to
    JSON as `<h:div ...>`. Refused in XML and in JSON alike."""
    before = type_snapshot(client, "Patient")
    as_xml = ('<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
              f"{div}</text></Patient>")
    response = client.post("/Patient", content=as_xml.encode(), headers=XML_HEADERS)
    _assert_xml_outcome(response, 400, f"no namespace prefix, not <{prefixed}>")
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    response = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert f"not <{prefixed}>" in assert_outcome(response, 400)["issue"][0]["diagnostics"]
    assert type_snapshot(client, "Patient") == before


def test_update_vread_and_history_in_xml(client):
    stored = created(client, _patient())
    changed = {**stored, "gender": "other"}
    response = client.put(f"/Patient/{stored['id']}", content=resource_to_xml(changed),
                          headers=XML_HEADERS)
    assert response.status_code == 200, response.text
    assert _xml(response)["gender"] == "other"
    first = client.get(f"/Patient/{stored['id']}/_history/1", params={"_format": "xml"})
    assert _xml(first) == stored
    history = _xml(client.get(f"/Patient/{stored['id']}/_history",
                              headers={"Accept": FHIR_XML}))
    assert history["type"] == "history"
    assert [e["resource"]["gender"] for e in history["entry"]] == ["other", "male"]


def test_search_answers_a_bundle_in_xml(client):
    value = unique_cccd()
    stored = created(client, new_patient(value))
    response = client.get("/Patient", params={"identifier": value},
                          headers={"Accept": FHIR_XML})
    bundle = _xml(response)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert [entry["resource"] for entry in bundle["entry"]] == [stored]
    assert b"<entry><fullUrl value=" in response.content
    assert b"<resource><Patient><id value=" in response.content


def test_transaction_in_xml(client):
    patient_urn, value = urn(), unique_cccd()
    observation = {"resourceType": "Observation", "status": "final",
                   "code": {"text": "Mạch"}, "subject": {"reference": patient_urn},
                   "valueQuantity": {"value": 78, "unit": "/min"}}
    body = transaction(post_entry(new_patient(value), patient_urn), post_entry(observation))
    response = client.post("/", content=resource_to_xml(body), headers=XML_HEADERS)
    result = _xml(response)
    assert response.status_code == 200, result
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"][:3] for e in result["entry"]] == ["201", "201"]
    [patient_id] = search_ids(client, "Patient", identifier=value)
    subject = client.get(f"/Observation?subject=Patient/{patient_id}").json()
    assert subject["entry"][0]["resource"]["valueQuantity"]["value"] == 78


def test_an_operation_takes_and_answers_parameters_in_xml(client):
    parameters = ('<Parameters xmlns="http://hl7.org/fhir">'
                  '<parameter><name value="system"/>'
                  '<valueUri value="http://hl7.org/fhir/administrative-gender"/></parameter>'
                  '<parameter><name value="code"/><valueCode value="female"/></parameter>'
                  "</Parameters>")
    response = client.post("/CodeSystem/$lookup", content=parameters, headers=XML_HEADERS)
    assert response.status_code == 200, response.text
    answer = _xml(response)
    assert {"name": "display", "valueString": "Female"} in answer["parameter"]


def test_the_capability_statement_lists_and_speaks_xml(client):
    statement = _xml(client.get("/metadata", params={"_format": "xml"}))
    assert statement["resourceType"] == "CapabilityStatement"
    assert {"application/fhir+xml", "xml"} <= set(statement["format"])


@pytest.mark.parametrize(("params", "accept", "expected"), [
    ({"_format": "xml"}, "application/fhir+json", FHIR_XML),
    ({"_format": "application/fhir+xml"}, "application/fhir+json", FHIR_XML),
    ({"_format": "text/xml"}, "application/fhir+json", "text/xml"),
    ({}, "application/xml", "application/xml"),
    ({}, "text/xml", "text/xml"),
    ({}, "text/turtle, application/fhir+xml;q=0.9", FHIR_XML),
    ({"_format": "json"}, "application/fhir+xml", "application/fhir+json"),
])
def test_format_and_accept_choose_xml(client, params, accept, expected):
    stored = created(client, new_patient())
    response = client.get(f"/Patient/{stored['id']}", params=params, headers={"Accept": accept})
    assert response.status_code == 200, response.text
    assert media_type(response) == expected
    body = response.json() if "json" in expected else xml_to_resource(response.content)
    assert body == stored


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml",
                                          "application/fhir+xml; charset=utf-8"])
def test_every_xml_content_type_is_read(client, content_type):
    value = unique_cccd()
    response = client.post("/Patient", content=resource_to_xml(new_patient(value)),
                           headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    assert search_ids(client, "Patient", identifier=value) == [response.json()["id"]]


@pytest.mark.parametrize(("declaration", "refused"), [
    ('<?xml version="1.0" encoding="ISO-8859-1"?>', "ISO-8859-1"),
    ("<?xml version='1.0' encoding='windows-1258'?>", "windows-1258"),
    ('<?xml version="1.0" encoding="UTF-8"?>', None),
    ('<?xml version="1.0" encoding="utf-8"?>', None),
    ('<?xml version="1.0"?>', None),
    ("", None),
])
def test_an_xml_declaration_naming_another_encoding_than_utf8_is_refused(
        client, declaration, refused):
    """FHIR XML is UTF-8 (http.html#mime-type). A body declaring Latin-1 whose bytes are
    also valid UTF-8 (`MÃ¼ller` in Latin-1) was read as UTF-8 (`Müller`) and stored."""
    before = type_snapshot(client, "Patient")
    body = f'{declaration}<Patient xmlns="http://hl7.org/fhir"><name><family value="Müller"/>' \
           "</name></Patient>"
    response = client.post("/Patient", content=body.encode(), headers=XML_HEADERS)
    if refused is None:
        assert response.status_code == 201, response.text
        assert _xml(response)["name"] == [{"family": "Müller"}]
    else:
        _assert_xml_outcome(response, 400, f'encoding="{refused}"')
        assert type_snapshot(client, "Patient") == before


def test_errors_are_operation_outcomes_in_xml_when_xml_is_asked_for(client):
    _assert_xml_outcome(client.get("/Patient/khong-co", headers={"Accept": FHIR_XML}), 404,
                        "khong-co")
    invalid = resource_to_xml({"resourceType": "Patient", "gender": "nam"})
    outcome = _assert_xml_outcome(
        client.post("/Patient", content=invalid, headers=XML_HEADERS), 400, "nam")
    assert outcome["issue"][0]["expression"] == ["Patient.gender"]
    _assert_xml_outcome(client.get("/Patient", params={"_format": "xml", "nope": "1"},
                                   headers={"Prefer": "handling=strict"}), 400, "nope")


@pytest.mark.parametrize(("body", "words"), [
    (b'<Patient xmlns="http://hl7.org/fhir">\n  <nickname value="B\xc3\xa9"/></Patient>',
     "Unknown element <nickname> in Patient (line 2)"),
    (b'<Patient xmlns="http://hl7.org/fhir"><active value="true"></Patient>',
     "not well-formed XML"),
    (b'{"resourceType": "Patient"}', "not well-formed XML"),
    (b'<Patient><active value="true"/></Patient>', "<Patient> is in no namespace"),
    (b'<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     b'<Patient xmlns="http://hl7.org/fhir"><name><text value="&x;"/></name></Patient>',
     "must not contain a DTD"),
])
def test_bad_xml_is_400_naming_the_problem_and_stores_nothing(client, body, words):
    before = type_snapshot(client, "Patient")
    _assert_xml_outcome(client.post("/Patient", content=body, headers=XML_HEADERS), 400, words)
    assert type_snapshot(client, "Patient") == before


def test_xml_nested_deeper_than_the_json_limit_is_400(client):
    extension: dict = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(40):
        extension = {"url": "http://example.org/node", "extension": [extension]}
    body = resource_to_xml({"resourceType": "Patient", "extension": [extension]})
    response = client.post("/Patient", content=body, headers=XML_HEADERS)
    _assert_xml_outcome(response, 400, "The XML body nests deeper than the")


def test_unsupported_media_types_are_415_and_406(client):
    stored = created(client, new_patient())
    assert_outcome(client.post("/Patient", content=json.dumps(stored),
                               headers={"Content-Type": "text/plain"}), 415)
    assert_outcome(client.get(f"/Patient/{stored['id']}", headers={"Accept": "text/turtle"}),
                   406)
    assert_outcome(client.get(f"/Patient/{stored['id']}", params={"_format": "ttl"}), 406)


def test_an_xml_patch_that_is_no_parameters_is_400(client):
    """A PATCH in XML is a FHIRPath Patch (Parameters): XML is a patch format here (415
    would say it is not), the body is no patch of it."""
    stored = created(client, new_patient())
    response = client.patch(f"/Patient/{stored['id']}",
                            content=b'<Patient xmlns="http://hl7.org/fhir"/>',
                            headers={"Content-Type": FHIR_XML, "Accept": FHIR_XML})
    _assert_xml_outcome(response, 400, "application/json-patch+json")


def _stored_before_xml_was_checked(client, server, text: str) -> dict:
    """A Patient whose name holds a character XML 1.0 cannot carry, as a release that took
    U+FFFE and U+FFFF in JSON stored it (they are refused now, 400)."""
    value = unique_cccd()
    stored = created(client, new_patient(value, name=[{"text": "Bình"}]))
    with MongoClient(server.settings.mongodb_uri) as mongo:
        mongo[server.settings.database]["Patient"].update_one(
            {"_id": stored["id"]}, {"$set": {"resource.name.0.text": text}})
    return {**stored, "name": [{"text": text}], "identifier": [{"value": value}]}


def test_a_resource_xml_cannot_carry_is_406_and_json_still_works(client, server):
    # Control characters, U+FFFE, U+FFFF, and a narrative that is not well-formed XHTML are
    # refused when written: 400.
    for text in ("An\u0007", "An\ufffe", "An\uffff"):
        assert create(client, new_patient(name=[{"text": text}])).status_code == 400
    refused = client.post("/Patient", json=new_patient(text={
        "status": "generated", "div": "<div>a<b</div>"}), headers=FHIR_HEADERS)
    assert refused.status_code == 400
    stored = _stored_before_xml_was_checked(client, server, "An\uffff")
    response = client.get(f"/Patient/{stored['id']}", headers={"Accept": FHIR_XML})
    _assert_xml_outcome(response, 406, "Patient.name[0].text holds a character XML cannot")
    assert client.get(f"/Patient/{stored['id']}").json()["name"] == stored["name"]


def test_a_write_answered_with_what_xml_cannot_carry_is_in_json_not_406(client, server):
    """A conditional create finding a resource XML cannot carry, asked for in XML, was
    answered 406: a client retrying would take it for a failed write. A write is answered
    as what it is, in JSON (RFC 9110 §12.1 lets a server disregard Accept)."""
    stored = _stored_before_xml_was_checked(client, server, "Bình\ufffe")
    criteria = f"identifier={stored['identifier'][0]['value']}"
    response = client.post("/Patient", json=new_patient(), headers={
        "Content-Type": "application/fhir+json", "Accept": FHIR_XML,
        "If-None-Exist": criteria, "Prefer": "return=representation"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["name"] == stored["name"]


def test_an_error_xml_cannot_carry_still_reaches_the_client_as_json(client):
    # The unknown type is quoted in the diagnostics, control character and all.
    response = client.get("/Pat%01ient/x", headers={"Accept": FHIR_XML})
    assert_outcome(response, 404)
    assert media_type(response) == "application/fhir+json"


@pytest.mark.parametrize("accept", ["*/*", ""])
def test_a_body_in_xml_is_answered_in_xml_when_any_format_will_do(client, accept):
    """With no `_format` and an Accept of anything (curl's `*/*`) or none, the answer comes
    in the format the body was sent in, as HAPI answers; JSON for a body in JSON."""
    value = unique_cccd()
    response = client.post("/Patient", content=resource_to_xml(new_patient(value)),
                           headers={"Content-Type": FHIR_XML, "Accept": accept})
    assert response.status_code == 201, response.text
    assert media_type(response) == FHIR_XML
    assert xml_to_resource(response.content)["identifier"][0]["value"] == value
    as_json = client.post("/Patient", json=new_patient(), headers={"Accept": accept})
    assert media_type(as_json) == "application/fhir+json"


@pytest.mark.parametrize(("element", "code"), [
    # A value its type does not take is a `value` issue, as the same value in JSON is: it
    # was `structure`, the code of an element or attribute FHIR XML does not have.
    ('<active value="yes"/>', "value"),
    ('<birthDate value="1990-13-01"/>', "value"),
    ('<multipleBirthInteger value="1.5"/>', "value"),
    ('<active value="true" foo="x"/>', "structure"),
    ('<nickname value="x"/>', "structure"),
])
def test_a_bad_xml_value_is_coded_as_json_codes_it(client, element, code):
    body = f'<Patient xmlns="http://hl7.org/fhir">{element}</Patient>'.encode()
    response = client.post("/Patient", content=body,
                           headers={"Content-Type": FHIR_XML, "Accept": "application/fhir+json"})
    outcome = assert_outcome(response, 400)
    assert [issue["code"] for issue in outcome["issue"]] == [code], outcome


def test_every_bad_value_of_an_xml_body_is_reported_at_once(client):
    """As in JSON: a client fixing an XML body learned of one bad value per attempt."""
    body = (b'<Patient xmlns="http://hl7.org/fhir"><active value="yes"/><name><given value="a"/>'
            b'</name><multipleBirthInteger value="x"/><nickname value="x"/></Patient>')
    response = client.post("/Patient", content=body,
                           headers={"Content-Type": FHIR_XML, "Accept": "application/fhir+json"})
    outcome = assert_outcome(response, 400)
    assert [(i["expression"], i["code"]) for i in outcome["issue"]] == [
        (["Patient.active"], "value"), (["Patient.multipleBirthInteger"], "value"),
        (["Patient.nickname"], "structure")], outcome
    # Without the unknown element, the values alone.
    response = client.post("/Patient", content=body.replace(b'<nickname value="x"/>', b""),
                           headers={"Content-Type": FHIR_XML, "Accept": "application/fhir+json"})
    assert [i["expression"] for i in assert_outcome(response, 400)["issue"]] == [
        ["Patient.active"], ["Patient.multipleBirthInteger"]]
