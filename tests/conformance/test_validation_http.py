"""Validation as a client meets it over HTTP: a write that breaks a rule of R4 is refused with
an OperationOutcome naming the element, and `$validate` reports the same."""

import json
import uuid

import pytest

FHIR_HEADERS = {"Content-Type": "application/fhir+json"}
ORGANIZATION = {"resourceType": "Organization", "id": "o", "name": "Bệnh viện Bạch Mai"}


def _issue_at(response, expression: str) -> dict:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    found = [i for i in outcome["issue"] if expression in i.get("expression", ())]
    assert found, outcome
    return found[0]


def test_an_unreferenced_contained_resource_is_refused_dom_3(client):
    patient = {"resourceType": "Patient", "contained": [ORGANIZATION]}
    refused = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert refused.status_code == 400, refused.text
    issue = _issue_at(refused, "Patient.contained[0]")
    assert issue["code"] == "invariant" and "dom-3" in issue["diagnostics"]
    checked = client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS)
    assert _issue_at(checked, "Patient.contained[0]")["severity"] == "error"
    referenced = {**patient, "managingOrganization": {"reference": "#o"}}
    assert client.post("/Patient", json=referenced, headers=FHIR_HEADERS).status_code == 201
    # Without an id nothing can name it: the id is what to add (it said "not referenced").
    nameless = {"resourceType": "Patient", "contained": [{"resourceType": "Organization",
                                                          "name": "Bạch Mai"}]}
    refused = client.post("/Patient", json=nameless, headers=FHIR_HEADERS)
    issue = _issue_at(refused, "Patient.contained[0].id")
    assert issue["code"] == "required" and "has no id" in issue["diagnostics"], issue


def _entry(full_url: str, **extra) -> dict:
    resource = {"resourceType": "Basic", "id": "1", "code": {"text": "x"}}
    return {"fullUrl": full_url, "resource": resource, **extra}


def test_bundle_entry_rules_bdl_2_3_4_7_8(client):
    def refused(bundle: dict, expression: str, key: str) -> None:
        response = client.post("/Bundle", json=bundle, headers=FHIR_HEADERS)
        assert response.status_code == 400, response.text
        assert key in _issue_at(response, expression)["diagnostics"]

    twice = {"resourceType": "Bundle", "type": "collection",
             "entry": [_entry("urn:uuid:1"), _entry("urn:uuid:1")]}
    refused(twice, "Bundle.entry[1].fullUrl", "bdl-7")
    request = {"method": "POST", "url": "Basic"}
    refused({"resourceType": "Bundle", "type": "collection",
             "entry": [_entry("urn:uuid:1", request=request)]}, "Bundle.entry[0]", "bdl-3")
    refused({"resourceType": "Bundle", "type": "transaction",
             "entry": [_entry("urn:uuid:1", request=request), _entry("urn:uuid:2")]},
            "Bundle.entry[1]", "bdl-3")
    refused({"resourceType": "Bundle", "type": "collection", "entry": [
        _entry("urn:uuid:1", response={"status": "201"})]}, "Bundle.entry[0]", "bdl-4")
    # The same fullUrl in two versions is allowed, and anything in a history.
    versions = [{**_entry("https://benhvien.example.vn/fhir/Basic/1"), "resource": {
        "resourceType": "Basic", "id": "1", "code": {"text": "x"}, "meta": {"versionId": v}}}
        for v in ("1", "2")]
    allowed = {"resourceType": "Bundle", "type": "collection", "entry": versions}
    assert client.post("/Bundle", json=allowed, headers=FHIR_HEADERS).status_code == 201
    history = {"resourceType": "Bundle", "type": "history", "entry": [
        _entry("https://benhvien.example.vn/fhir/Basic/1",
               request={"method": "PUT", "url": "Basic/1"}, response={"status": "200"})
        for _ in range(2)]}
    assert client.post("/Bundle", json=history, headers=FHIR_HEADERS).status_code == 201
    refused({"resourceType": "Bundle", "type": "collection", "entry": [
        _entry("urn:uuid:1", search={"mode": "match"})]}, "Bundle.entry[0]", "bdl-2")
    refused({"resourceType": "Bundle", "type": "collection",
             "entry": [_entry("http://example.org/fhir/Basic/1/_history/1")]},
            "Bundle.entry[0].fullUrl", "bdl-8")


@pytest.mark.parametrize(("entries", "expression", "key"), [
    ([_entry("urn:uuid:1"), _entry("urn:uuid:1")], "Bundle.entry[1].fullUrl", "bdl-7"),
    ([_entry("urn:uuid:1", search={"mode": "match"})], "Bundle.entry[0]", "bdl-2"),
    ([_entry("urn:uuid:1", response={"status": "201"})], "Bundle.entry[0]", "bdl-4"),
    ([_entry("http://example.org/fhir/Basic/1/_history/1")], "Bundle.entry[0].fullUrl",
     "bdl-8"),
])
@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_a_batch_or_transaction_breaking_a_bundle_rule_is_400_and_runs_nothing(
        client, entries, expression, key, kind):
    code = f"bdl-{kind}-{key}"
    posted = [{**entry, "resource": {**entry["resource"], "code": {"text": code}},
               "request": {"method": "POST", "url": "Basic"}} for entry in entries]
    response = client.post("", json={"resourceType": "Bundle", "type": kind, "entry": posted},
                           headers=FHIR_HEADERS)
    assert response.status_code == 400, response.text
    assert key in _issue_at(response, expression)["diagnostics"]
    assert client.get("/Basic", params={"code:text": code}).json()["total"] == 0


def test_a_contained_resource_with_a_malformed_id_is_400_not_500(client):
    patient = {"resourceType": "Patient", "contained": [{**ORGANIZATION, "id": ["o"]}],
               "managingOrganization": {"reference": "#o"}}
    response = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert response.status_code == 400, response.text
    _issue_at(response, "Patient.contained[0].id")


XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'


def _narrated(div: str, status: str = "generated") -> dict:
    return {"resourceType": "Patient", "text": {"status": status, "div": div}}


@pytest.mark.parametrize(("div", "code", "said"), [
    ("<p>Nguyễn Văn An</p>", "value", "one <div"),
    (f"<div {XHTML}>unclosed", "value", "not well-formed"),
    ("<div>no namespace</div>", "value", "one <div"),
    (f"<div {XHTML}><script>alert(1)</script>x</div>", "invariant", "<script>"),
    (f'<div {XHTML}><img src="x.png" onerror="alert(1)"/></div>', "invariant", "onerror"),
    (f'<div {XHTML}><a href="javascript:alert(1)">x</a></div>', "invariant",
     "a script URL in the attribute href"),
    # A browser drops tabs and newlines from a URL, and what surrounds it: script all the same.
    (f'<div {XHTML}><a href="java&#9;script:alert(1)">x</a></div>', "invariant",
     "a script URL in the attribute href"),
    (f'<div {XHTML}><a href="&#x20;jav&#x0A;ascript:alert(1)">x</a></div>', "invariant", "href"),
    (f'<div {XHTML}><img src=" VB&#13;Script:x"/></div>', "invariant",
     "a script URL in the attribute src"),
    (f'<div {XHTML}><iframe src="https://e.vn"/>x</div>', "invariant", "<iframe>"),
    # txt-1's basic attributes only (those the HL7 validator lists), none of another namespace
    # but xml:lang: the XML written of these failed R4's schema.
    (f'<div {XHTML} xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="https://e.vn">'
     'x</a></div>', "invariant", "the attribute href of the namespace http://www.w3.org/1999"),
    (f'<div {XHTML}><p foo="bar">x</p></div>', "invariant", "the attribute foo of <p>"),
    (f'<div {XHTML}><p data-x="1">x</p></div>', "invariant", "the attribute data-x of <p>"),
])
def test_a_narrative_that_is_not_safe_basic_xhtml_is_refused(client, div, code, said):
    # Before, any string was stored: scripts reached whoever shows the narrative, and one
    # such div made every XML search answer that included it a 406.
    response = client.post("/Patient", json=_narrated(div), headers=FHIR_HEADERS)
    assert response.status_code == 400, response.text
    issue = _issue_at(response, "Patient.text.div")
    assert issue["code"] == code and said in issue["diagnostics"]


# An image running a script, hidden from XML where a browser's HTML parser (as innerHTML shows
# a JSON div) ends the markup before it at the first `>` (WHATWG HTML §13.2.5).
_HIDDEN_IMAGE = "<img src=x onerror=alert(document.domain)>"


@pytest.mark.parametrize(("div", "said"), [
    (f"<div {XHTML}><![CDATA[>{_HIDDEN_IMAGE}]]></div>", "a CDATA section, which a browser"),
    (f"<div {XHTML}><!-->{_HIDDEN_IMAGE}--></div>", "a comment opened as <!--> or <!--->"),
    (f"<div {XHTML}><p><!--->{_HIDDEN_IMAGE}--></p></div>", "a comment opened as <!-->"),
    (f"<div {XHTML}><?x >{_HIDDEN_IMAGE}?></div>", "a processing instruction, which a browser"),
    # XML makes a literal tab or newline in an attribute a space; HTML keeps it, and a URL
    # parser drops it: `java<TAB>script:` is `javascript:` to a browser.
    *((f'<div {XHTML}><a href="java{space}script:alert(1)">x</a></div>',
       "a script URL in the attribute href of <a>") for space in ("\t", "\n", "\r", "\r\n")),
    (f"<div {XHTML}><a title='x' href='javascript\n:alert(1)'>x</a></div>", "attribute href"),
    (f'<div {XHTML}><img alt="x" src=" VB\tScript:x"/></div>', "the attribute src of <img>"),
])
@pytest.mark.parametrize("body_format", ["json", "xml"])
def test_a_narrative_a_browser_reads_as_running_a_script_is_refused(client, div, said,
                                                                     body_format):
    """Each was stored as sent (201), and a viewer showing it ran the script."""
    marker = f"xss-{uuid.uuid4()}"
    patient = {**_narrated(div), "identifier": [{"value": marker}]}
    if body_format == "json":
        response = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    else:
        xml = ('<Patient xmlns="http://hl7.org/fhir">'
               f'<identifier><value value="{marker}"/></identifier>'
               f'<text><status value="generated"/>{div}</text></Patient>')
        response = client.post("/Patient", content=xml.encode(), headers={
            "Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"})
    assert response.status_code == 400, response.text
    issue = _issue_at(response, "Patient.text.div")
    assert issue["code"] == "invariant" and said in issue["diagnostics"], issue
    assert client.get("/Patient", params={"identifier": marker}).json()["total"] == 0


def test_ordinary_and_empty_narratives_are_accepted(client):
    # Comments HTML ends where XML does (an official example has some), and tabs and newlines
    # in attributes that are no script to a browser either.
    table = (f'<div {XHTML}><p class="x" style="color:red">Nguyễn <b>Văn</b> An</p>'
             '<table border="1"><tr><td colspan="2">1</td></tr></table>'
             '<a href="https://benhvien.vn/a">a</a><img src="data:image/png;base64,AAAA"/>'
             '<!-- link to NCCN image --><!----><!-- <img src=x onerror=alert(1)> -->'
             '<a title="java\tscript" href="https://benhvien.vn/\njava script:">b</a>'
             '<p xml:lang="vi" lang="vi" id="p1">Việt</p></div>')
    assert client.post("/Patient", json=_narrated(table), headers=FHIR_HEADERS
                       ).status_code == 201
    empty = client.post("/Patient", json=_narrated(f"<div {XHTML}> </div>"),
                        headers=FHIR_HEADERS)
    assert empty.status_code == 201  # txt-2 is a warning, as in four official examples
    said_empty = _narrated(f"<div {XHTML}/>", status="empty")
    checked = client.post("/Patient/$validate", json=said_empty, headers=FHIR_HEADERS)
    assert [i["severity"] for i in checked.json()["issue"]] == ["information"]


def test_a_restful_full_url_disagreeing_with_its_resource_is_refused(client):
    """Bundle.entry.fullUrl "SHALL NOT disagree with the id in the resource": an error, as
    HL7's validator's (its bundle-ihe-good, document-css, relative_reference_to_fullUrl.*),
    at the entry's fullUrl, for another type or no id; it was a warning and the Bundle was
    stored. Another id of the right type stays a warning: three official examples have
    one."""
    def entry(full_url: str, resource_id: str | None) -> dict:
        resource = {"resourceType": "Patient"}
        return {"fullUrl": full_url,
                "resource": resource if resource_id is None else {**resource, "id": resource_id}}

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        entry("http://benhvien.vn/fhir/Observation/1", "1"),
        entry("http://benhvien.vn/fhir/Patient/3", "3"),
        entry("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "4"),
        entry("http://benhvien.vn/fhir/Patient/5", None),
        entry("urn:uuid:77bd1f4a-08a5-4c55-9b4e-33ad6a3fbbf2", None),
        entry("http://benhvien.vn/fhir/Patient/6", "7")]}
    outcome = client.post("/Bundle/$validate", json=bundle, headers=FHIR_HEADERS).json()
    found = [i for i in outcome["issue"] if "fullUrl" in i["diagnostics"]]
    assert [(i["severity"], i["expression"]) for i in found] == [
        ("error", ["Bundle.entry[0].fullUrl"]), ("error", ["Bundle.entry[3].fullUrl"]),
        ("warning", ["Bundle.entry[5].fullUrl"])]
    assert "Observation/1" in found[0]["diagnostics"] and "no id" in found[1]["diagnostics"]
    assert "Patient/7" in found[2]["diagnostics"]
    refused = client.post("/Bundle", json=bundle, headers=FHIR_HEADERS)
    assert refused.status_code == 400, refused.text
    agreeing = {**bundle, "entry": bundle["entry"][1:3] + bundle["entry"][4:]}
    assert client.post("/Bundle", json=agreeing, headers=FHIR_HEADERS).status_code == 201


def test_a_reference_to_a_type_its_element_does_not_allow_is_warned_of(client):
    """Observation.subject refers to a Patient, Group, Device or Location (targetProfile);
    `Reference.type` agrees with the reference. Warnings: four official examples refer to
    other types."""
    def warnings(subject: dict) -> list[str]:
        observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                       "subject": subject}
        outcome = client.post("/Observation/$validate", json=observation,
                              headers=FHIR_HEADERS).json()
        return [i["diagnostics"] for i in outcome["issue"] if i["severity"] == "warning"
                and i.get("expression") == ["Observation.subject"]]

    assert "allows only Device, Group, Location, Patient" in warnings(
        {"reference": "Medication/1"})[0]
    assert warnings({"reference": "Patient/1"}) == []
    assert warnings({"reference": "https://benhvien.vn/fhir/Group/7"}) == []
    assert "Reference.type says Group" in warnings({"reference": "Patient/1",
                                                     "type": "Group"})[0]
    assert warnings({"identifier": {"value": "1"}, "type": "Medication"})


@pytest.mark.parametrize("reference", ["?identifier=https://benhvien.vn/sid|01",
                                       "Patient/p1?x=1", "Patient/p1/_history/2?x=1"])
def test_a_search_url_that_is_no_conditional_reference_is_warned_of(client, reference):
    """A `?` but not after a type alone (`Patient?criteria`, which a write resolves): no
    [type]/[id] (references.html#literal), stored as sent, which nothing resolves. It was
    taken for a conditional reference by the check, and stored without a word."""
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "subject": {"reference": reference}}
    created = client.post("/Observation", json=observation,
                          headers={**FHIR_HEADERS, "Prefer": "return=OperationOutcome"})
    assert created.status_code == 201, created.text
    issue = _issue_at(created, "Observation.subject.reference")
    assert issue["severity"] == "warning" and "[type]/[id]" in issue["diagnostics"], issue


def test_a_resource_rule_broken_in_a_transaction_is_placed_at_the_entry_resource(client):
    """app-2 ("either start and end are specified, or neither") is about the Appointment
    itself: in a Bundle entry that is `Bundle.entry[0].resource` (was `...Appointment`)."""
    appointment = {"resourceType": "Appointment", "status": "proposed",
                   "start": "2025-07-01T08:00:00+07:00",
                   "participant": [{"status": "needs-action", "actor": {"display": "BS An"}}]}
    response = client.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": appointment, "request": {"method": "POST", "url": "Appointment"}}]},
        headers=FHIR_HEADERS)
    assert response.status_code == 400, response.text
    assert "app-2" in _issue_at(response, "Bundle.entry[0].resource")["diagnostics"]


def test_a_part_of_a_complex_extension_with_the_wrong_value_is_refused(client):
    """patient-nationality's `code` takes a CodeableConcept: a string there was stored (201)
    and `$validate` found nothing."""
    patient = {"resourceType": "Patient", "extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/patient-nationality",
        "extension": [{"url": "code", "valueString": "VN"}]}]}
    refused = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert refused.status_code == 400, refused.text
    where = "Patient.extension[0].extension[0].valueString"
    assert "valueCodeableConcept" in _issue_at(refused, where)["diagnostics"]
    checked = client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS)
    assert _issue_at(checked, where)["severity"] == "error"


VN_CORE = "http://fhir.ehealth.gov.vn/core/StructureDefinition/"


@pytest.mark.parametrize("extension", [
    {"url": f"{VN_CORE}extension-nationality",
     "valueCodeableConcept": {"coding": [{"system": "urn:iso:std:iso:3166", "code": "VN"}]}},
    {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
     "valueString": "Trần"}], ids=["vn-core-nationality", "r4-mothersMaidenName"])
def test_an_extension_its_definition_allows_once_is_refused_twice(client, extension):
    """Each definition's root Extension has max 1: "only allowed once on any element on which
    it appears" (defining-extensions.html#cardinality). Two nationalities were stored (201)."""
    patient = {"resourceType": "Patient", "name": [{"text": "Nguyễn An", "family": "Nguyễn"}],
               "extension": [extension, extension]}
    refused = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert refused.status_code == 400, refused.text
    assert extension["url"] in _issue_at(refused, "Patient.extension[1]")["diagnostics"]
    for profile in (None, f"{VN_CORE}vn-core-patient"):
        checked = client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS,
                              params={"profile": profile} if profile else None)
        assert _issue_at(checked, "Patient.extension[1]")["severity"] == "error"
    once = {**patient, "extension": [extension]}
    assert client.post("/Patient", json=once, headers=FHIR_HEADERS).status_code == 201


def test_a_number_in_a_message_is_shown_as_json_writes_it(client):
    """JSON decimals are read as Python Decimals: their repr, `Decimal('1E+2')`, was shown."""
    response = client.post("/Patient", content=b'{"resourceType": "Patient", '
                           b'"multipleBirthInteger": 1e2}', headers=FHIR_HEADERS)
    issue = _issue_at(response, "Patient.multipleBirthInteger")
    assert "1E+2" in issue["diagnostics"] and "Decimal" not in issue["diagnostics"], issue


ANIMAL = "http://hl7.org/fhir/StructureDefinition/patient-animal"


def test_a_part_a_complex_extension_does_not_define_is_refused(client):
    """A relative url names one of the extension's parts: `species-x` names nothing, and its
    data was stored where no reader would look (HL7's validator: an error, though
    patient-animal's slicing is open). An absolute one is an extension of its own."""
    dog = {"valueCodeableConcept": {"text": "dog"}}
    parts = [{"url": "species", **dog}, {"url": "species-x", **dog}]
    patient = {"resourceType": "Patient", "extension": [{"url": ANIMAL, "extension": parts}]}
    checked = client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS)
    issue = _issue_at(checked, "Patient.extension[0].extension[1].url")
    assert issue["severity"] == "error" and "'species-x'" in issue["diagnostics"], issue
    refused = client.post("/Patient", json=patient, headers=FHIR_HEADERS)
    assert refused.status_code == 400, refused.text
    parts[1] = {"url": "http://example.org/fhir/StructureDefinition/pet-name",
                "valueString": "Vàng"}
    assert client.post("/Patient", json=patient, headers=FHIR_HEADERS).status_code == 201


NATIONALITY = "http://fhir.ehealth.gov.vn/core/StructureDefinition/extension-nationality"


def test_a_part_of_an_extension_that_defines_none_is_refused(client):
    """VN Core's nationality is a simple extension (a valueCodeableConcept, no parts): a
    nested `code`, as R4's complex patient-nationality has it, names nothing of it and was
    stored; HL7's validator reports any relative url no slice of the definition declares
    (Extension_EXT_SubExtension_Invalid)."""
    vn = {"valueCodeableConcept": {"coding": [{"system": "urn:iso:std:iso:3166", "code": "VN"}]}}
    patient = {"resourceType": "Patient",
               "extension": [{"url": NATIONALITY, "extension": [{"url": "code", **vn}]}]}
    checked = client.post("/Patient/$validate", json=patient, headers=FHIR_HEADERS)
    issue = _issue_at(checked, "Patient.extension[0].extension[0].url")
    assert issue["severity"] == "error" and "'code'" in issue["diagnostics"], issue
    assert client.post("/Patient", json=patient, headers=FHIR_HEADERS).status_code == 400
    patient["extension"] = [{"url": NATIONALITY, **vn}]
    assert client.post("/Patient", json=patient, headers=FHIR_HEADERS).status_code == 201


@pytest.mark.parametrize("body_format", ["json", "xml"])
def test_a_narrative_pre_with_xml_space_is_accepted(client, body_format):
    """`<pre xml:space="preserve">`, as XML serializers write it (XHTML fixes it on pre): HL7's
    validator only hints at it; it was refused as an attribute txt-1 does not allow."""
    div = (f'<div {XHTML}><pre xml:space="preserve">Hb   135 g/L\n'
           'Plt  250</pre></div>')
    if body_format == "json":
        sent = {"content": json.dumps(_narrated(div)).encode(), "headers": FHIR_HEADERS}
    else:
        xml = ('<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
               f'{div}</text></Patient>')
        sent = {"content": xml.encode(), "headers": {"Content-Type": "application/fhir+xml",
                                                     "Accept": "application/fhir+json"}}
    checked = client.post("/Patient/$validate", **sent)
    assert [i["severity"] for i in checked.json()["issue"]] == ["information"], checked.text
    created = client.post("/Patient", **sent)
    assert created.status_code == 201, created.text
    read = client.get(f"/Patient/{created.json()['id']}",
                      headers={"Accept": "application/fhir+xml"})
    assert read.status_code == 200 and 'xml:space="preserve"' in read.text, read.text


def test_a_reference_to_the_container_is_checked_as_one_to_its_type(client):
    """`#` names the container (references.html#contained): a contained Patient whose
    managingOrganization is `#` in an Observation refers to an Observation, which that
    element does not allow (a warning, as for `Observation/1`); a Provenance's target may
    be any resource. `#` was taken for a reference of no type, never warned of."""
    def warned(contained: dict, at: str) -> list[str]:
        observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                       "contained": [contained], "focus": [{"reference": "#c"}]}
        outcome = client.post("/Observation", json=observation,
                              headers={**FHIR_HEADERS, "Prefer": "return=OperationOutcome"})
        assert outcome.status_code == 201, outcome.text
        return [i["diagnostics"] for i in outcome.json()["issue"]
                if i["severity"] == "warning" and i.get("expression") == [at]]

    patient = {"resourceType": "Patient", "id": "c", "managingOrganization": {"reference": "#"}}
    (said,) = warned(patient, "Observation.contained[0].managingOrganization")
    assert "a reference to a Observation" in said and "only Organization" in said, said
    provenance = {"resourceType": "Provenance", "id": "c", "target": [{"reference": "#"}],
                  "recorded": "2025-07-01T08:00:00+07:00", "agent": [{"who": {"display": "x"}}]}
    assert warned(provenance, "Observation.contained[0].target[0]") == []
