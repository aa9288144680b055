"""The language of OperationOutcome messages: Vietnamese when `Accept-Language` prefers `vi`,
English otherwise (RFC 9110 §12.5.4, http://hl7.org/fhir/R4/languages.html); the messages of
validation and of batches and transactions are all translated, with the reasons they embed."""

import re

import pytest
from bundle_helpers import batch, delete_entry, post_entry, transaction, urn
from helpers import FHIR_HEADERS, new_patient

VI = {"Accept-Language": "vi"}
FHIR_XML = "application/fhir+xml"
XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'
VN_CORE = "http://fhir.ehealth.gov.vn/core/StructureDefinition/"
# Held, but unusable: its base, IPS 1.0's Observation-results-uv-ips, is not in IPS 2.0.0.
UNUSABLE = VN_CORE + "vn-core-observation-lab-code"
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED"}
OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "Mạch"}}

# Words of an English sentence, once what messages quote in both languages is taken out.
_ENGLISH = re.compile(r"\b(a|an|and|are|be|by|cannot|does|has|is|it|its|must|no|not|of|"
                      r"only|or|the|to|was|with)\b")
_QUOTED = re.compile(r"""'[^']*'|"[^"]*"|<[^>]*>|\S*(://|urn:|[.\[/])\S*""")


def _english_words(text: str) -> list[str]:
    """English words in a message, leaving out URLs, paths, quoted values and tags."""
    return _ENGLISH.findall(_QUOTED.sub(" ", text))


def _narrative(div: str) -> dict:
    return new_patient(text={"status": "generated", "div": div})


def _entry_of(resource: dict, method: str, url: str, **extra) -> dict:
    return {"resource": resource, "request": {"method": method, "url": url, **extra}}


def _xml(body: str) -> tuple[str, bytes, dict]:
    return "/Patient", body.encode(), {"Content-Type": FHIR_XML}


def _raw(body: bytes) -> tuple[str, bytes, dict]:
    return "/Patient", body, {}


_TWICE = urn()
# What the probe found in English with `Accept-Language: vi`, and what else of the two
# families was built outside the catalog: (path, JSON or raw body, headers).
REQUESTS = {
    "unknown profile": ("/Patient", new_patient(meta={"profile": ["http://example.org/x"]}),
                        {}),
    "profile version not held": ("/Patient", new_patient(
        meta={"profile": [VN_CORE + "vn-core-patient|9.9"]},
        name=[{"text": "Nguyễn Văn An", "family": "Nguyễn", "given": ["Văn", "An"]}],
        address=[{"text": "12 Phố Huế, Hai Bà Trưng, Hà Nội", "country": "VN"}]), {}),
    "unusable profile": ("/Observation", {**OBSERVATION, "meta": {"profile": [UNUSABLE]}},
                         {}),
    "SUBSETTED tag": ("/Patient", new_patient(meta={"tag": [SUBSETTED]}), {}),
    "script in a narrative": ("/Patient", _narrative(f"<div {XHTML}><script>x</script></div>"),
                              {}),
    "event attribute in a narrative": (
        "/Patient", _narrative(f'<div {XHTML}><p onclick="x()">x</p></div>'), {}),
    "narrative not well-formed": ("/Patient", _narrative(f"<div {XHTML}><p>x</div>"), {}),
    "narrative of another element": ("/Patient", _narrative(f"<p {XHTML}>x</p>"), {}),
    "comment beside a narrative": ("/Patient",
                                   _narrative(f"<!-- x --><div {XHTML}>x</div>"), {}),
    "empty narrative": ("/Patient", _narrative(f"<div {XHTML}> </div>"), {}),
    "property twice": _raw(b'{"resourceType": "Patient", "gender": "male", "gender": "female"}'),
    "decimal of 38 digits": (
        "/Observation", b'{"resourceType": "Observation", "status": "final", "code": {"text": '
        b'"x"}, "valueQuantity": {"value": 1.2345678901234567890123456789012345678}}', {}),
    "JSON syntax": _raw(b'{"resourceType": "Patient", "active": tru'),
    "NaN": _raw(b'{"resourceType": "Patient", "multipleBirthInteger": NaN}'),
    "not UTF-8": _raw(b'{"resourceType": "Patient", "name": [{"text": "Nguy\xe1n"}]}'),
    "empty body": _raw(b" "),
    "control character": _raw(b'{"resourceType": "Patient", "name": [{"text": "a\\u0001b"}]}'),
    "other resourceType": ("/Patient", OBSERVATION, {}),
    "modifier sent as an extension": ("/Patient", new_patient(extension=[{
        "url": "http://hl7.org/fhir/StructureDefinition/request-doNotPerform",
        "valueBoolean": True}]), {}),
    "XML not well-formed": _xml('<Patient xmlns="http://hl7.org/fhir"><active value="true">'
                                "</Patient>"),
    "XML unknown element": _xml('<Patient xmlns="http://hl7.org/fhir"><foo value="1"/>'
                                "</Patient>"),
    "XML boolean": _xml('<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>'),
    "XML DTD": _xml('<!DOCTYPE Patient><Patient xmlns="http://hl7.org/fhir"/>'),
    "unresolved urn:uuid": ("", transaction(post_entry(
        {**OBSERVATION, "subject": {"reference": urn()}})), {}),
    "the same resource twice": ("", transaction(delete_entry("Patient/abc"),
                                                delete_entry("Patient/abc")), {}),
    "an operation in a transaction": ("", transaction(
        {"request": {"method": "GET", "url": "Patient/$everything"}}), {}),
    "a batch entry naming another": ("", batch(
        post_entry(new_patient(), full_url=_TWICE),
        post_entry({**OBSERVATION, "subject": {"reference": _TWICE}})), {}),
    "a batch writing one resource twice": ("", batch(delete_entry("Patient/hai-lan"),
                                                     delete_entry("Patient/hai-lan")), {}),
    "fullUrl twice": ("", batch(post_entry(new_patient(), full_url=_TWICE),
                                post_entry(new_patient(), full_url=_TWICE)), {}),
    "another Bundle type": ("", {"resourceType": "Bundle", "type": "collection"}, {}),
    "a Bundle without type": ("", {"resourceType": "Bundle"}, {}),
    "contained without id": ("/Patient", new_patient(contained=[
        {"resourceType": "Organization", "name": "Bạch Mai"}]), {}),
    "an entry without request": ("", transaction({"resource": new_patient()}), {}),
    "a url of another server": ("", transaction(
        _entry_of(new_patient(), "POST", "http://example.org/fhir/Patient")), {}),
    "ifNoneExist on a PUT": ("", transaction(
        _entry_of(new_patient(id="p"), "PUT", "Patient/p", ifNoneExist="identifier=x")), {}),
    "a PUT without resource": ("", transaction({"request": {"method": "PUT",
                                                            "url": "Patient/p"}}), {}),
    "a fullUrl naming another": ("", transaction(
        {**_entry_of(new_patient(id="p"), "PUT", "Patient/p"),
         "fullUrl": "http://example.org/fhir/Patient/q"}), {}),
    "a PATCH of a Patient": ("", transaction(_entry_of(new_patient(), "PATCH", "Patient/p")),
                             {}),
    "capabilities in an entry": ("", batch({"request": {"method": "GET", "url": "metadata"}}),
                                 {}),
    "criteria in a create's URL": ("/Patient?identifier=x", new_patient(), {}),
    "criteria in a create entry's url": ("", transaction(
        _entry_of(new_patient(), "POST", "Patient?identifier=x")), {}),
    "what a write did": ("", transaction(post_entry(new_patient())), {}),
}


def _send(client, path: str, body: object, headers: dict, language: str):
    sent = {**FHIR_HEADERS, "Prefer": "return=OperationOutcome", **headers,
            "Accept-Language": language}
    if isinstance(body, bytes):
        return client.post(path, content=body, headers=sent)
    return client.post(path, json=body, headers=sent)


def _outcomes(response) -> list[dict]:
    """The OperationOutcomes of an answer: itself, or those of a Bundle's entries."""
    body = response.json()
    if body["resourceType"] == "OperationOutcome":
        return [body]
    return [entry["response"]["outcome"] for entry in body.get("entry", [])
            if "outcome" in entry.get("response", {})]


@pytest.mark.parametrize("name", list(REQUESTS))
def test_every_issue_of_validation_and_transactions_is_in_vietnamese(client, name):
    """Each issue in Vietnamese, whole: neither left in English nor half translated (the
    warning of an unknown profile, the reason a narrative or a profile is refused, a
    transaction's 400s, a body that is no JSON were English with `vi`)."""
    path, body, headers = REQUESTS[name]
    english = _send(client, path, body, headers, "en")
    vietnamese = _send(client, path, body, headers, "vi")
    assert vietnamese.status_code == english.status_code, vietnamese.text
    outcomes = _outcomes(vietnamese)
    assert outcomes, vietnamese.text
    if vietnamese.status_code >= 400:
        assert vietnamese.headers["content-language"] == "vi"
    for outcome, in_english in zip(outcomes, _outcomes(english), strict=True):
        assert outcome.get("language") == "vi", outcome
        for issue, said in zip(outcome["issue"], in_english["issue"], strict=True):
            assert issue["diagnostics"] != said["diagnostics"], issue
            assert not _english_words(issue["diagnostics"]), issue["diagnostics"]


def test_a_fhir_patch_that_is_no_parameters_is_refused_in_vietnamese(client):
    """What the body of a PATCH in FHIR JSON must be, as the same refusal of a PATCH entry
    ("a PATCH of a Patient") says it."""
    stored = client.post("/Patient", json=new_patient(), headers=FHIR_HEADERS).json()
    response = client.patch(f"/Patient/{stored['id']}", json=new_patient(),
                            headers={**FHIR_HEADERS, **VI})
    assert response.status_code == 400, response.text
    assert response.headers["content-language"] == "vi"
    [issue] = response.json()["issue"]
    assert issue["diagnostics"].startswith("Yêu cầu PATCH bằng FHIR JSON hoặc XML là một "
                                           "FHIRPath Patch")
    assert not _english_words(issue["diagnostics"]), issue["diagnostics"]


def test_the_reason_a_profile_cannot_be_used_is_in_vietnamese_too(client):
    claimed = {**OBSERVATION, "meta": {"profile": [UNUSABLE]}}
    response = _send(client, "/Observation", claimed, {}, "vi")
    assert response.status_code == 201, response.text
    [warning] = [i for i in response.json()["issue"] if i["severity"] == "warning"]
    assert warning["diagnostics"].startswith(
        f"Không dùng được hồ sơ (profile) {UNUSABLE}: Không dùng được hồ sơ (profile) "
        f"{VN_CORE}vn-core-obervation-result-base: máy chủ không có định nghĩa gốc (base) hay "
        "kiểu http://hl7.org/fhir/uv/ips/StructureDefinition/Observation-results-uv-ips")


def test_a_narrative_and_a_transaction_refused_in_vietnamese(client):
    script = _narrative(f"<div {XHTML}><script>x</script></div>")
    [issue] = _send(client, "/Patient", script, {}, "vi").json()["issue"]
    assert issue["diagnostics"] == (
        "Phần tường thuật (narrative) tại Patient.text.div không hợp lệ: phần tử <script> "
        "không được phép có trong phần tường thuật: chỉ được dùng định dạng cơ bản, không có "
        "script, biểu mẫu (form), khung (frame), đối tượng (object) hay thuộc tính sự kiện "
        "(txt-1)")
    twice = transaction(delete_entry("Patient/abc"), delete_entry("Patient/abc"))
    [issue] = _send(client, "", twice, {}, "vi").json()["issue"]
    assert issue["diagnostics"] == "Bundle.entry[1]: 'Patient/abc' xuất hiện hai lần trong " \
                                   "transaction"


def test_english_is_unchanged(client):
    """The English of messages now from the catalog is what it was."""
    response = _send(client, *REQUESTS["property twice"], "en")
    assert response.json()["issue"][0]["diagnostics"] == (
        "The body is not valid JSON: an object has the property 'gender' twice")
    response = _send(client, *REQUESTS["unknown profile"], "en")
    assert response.json()["issue"][1]["diagnostics"] == (
        "Profile http://example.org/x is not known to this server: the Patient was checked "
        "against the base R4 definition only, and its meta.profile claim is kept as sent")


@pytest.mark.parametrize(("asked", "language"), [(None, "en"), ("vi-VN, en;q=0.5", "vi")])
def test_an_outcome_says_its_language(client, asked, language):
    """RFC 9110 §8.5: the language of the OperationOutcome's messages, as Accept-Language
    chose it (an invalid resource's issues are in Vietnamese for `vi`)."""
    headers = {**FHIR_HEADERS, **({"Accept-Language": asked} if asked else {})}
    response = client.post("/Patient", json={"resourceType": "Patient", "gender": "nam"},
                           headers=headers)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-language"] == language
    assert response.json().get("language", "en") == language


def test_an_outcome_in_english_says_so_whatever_was_asked(client):
    """A message the catalog has only in English (a 404, a malformed search value) is
    labelled English, not as the Vietnamese that was asked for."""
    headers = {**FHIR_HEADERS, **VI}
    for response in (client.get("/Patient/khong-co", headers=headers),
                     client.get("/Patient", params={"birthdate": "bad"}, headers=headers)):
        assert response.status_code in (400, 404), response.text
        assert response.headers["content-language"] == "en"
        assert "language" not in response.json()


def test_accept_language_in_two_lines_is_one_list(client):
    """RFC 9110 §5.3: `Accept-Language: en;q=0.1` and `Accept-Language: vi` are one list,
    which prefers vi; the first line alone was read."""
    headers = [*FHIR_HEADERS.items(), ("Accept-Language", "en;q=0.1"), ("Accept-Language", "vi")]
    response = client.post("/Patient", json={"resourceType": "Patient", "gender": "nam"},
                           headers=headers)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-language"] == "vi"
