"""Generated hostile input at every route family (issue 14, "No 500 for bad input"): random
JSON (deep within the limits, nulls, huge numbers, wrong types, lone surrogates), random
bytes, wrong content types, and random query parameters (names, modifiers, prefixes, chains,
Unicode). Whatever arrives, the server answers below 500, and every 4xx is an
OperationOutcome (the token endpoint's, an OAuth error object).

Bounded: derandomized, a few dozen examples per route family, the file well under a minute.
"""

import base64
import json
import os
from urllib.parse import quote

import httpx
import pytest
from api.helpers import FHIR_JSON, JSON_PATCH, created, new_patient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# FUZZ_EXAMPLES=2000 for a longer hunt; CI runs the default.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), derandomize=True,
                deadline=None, database=None, suppress_health_check=list(HealthCheck))

# ---------------------------------------------------------------- JSON

LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udbff", "\ud83d"])
TEXT = st.one_of(st.text(max_size=20), LONE_SURROGATES,
                 st.sampled_from(["", " ", "\x00", "9999-12-31", "0001-01-01T00:00:00+14:00",
                                  "Patient/x", "urn:uuid:1", "$where", "W/\"1\"", "ạ" * 200]))
NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                    st.sampled_from([2**63, -(2**63) - 1, 10**30, 0, -1]),
                    st.floats(allow_nan=False, allow_infinity=False))
ELEMENTS = st.sampled_from([
    "id", "meta", "text", "contained", "extension", "modifierExtension", "identifier",
    "active", "name", "telecom", "gender", "birthDate", "address", "status", "subject",
    "period", "code", "valueQuantity", "effectiveDateTime", "entry", "request", "resource",
    "fullUrl", "parameter", "valueString", "url", "versionId", "lastUpdated", "profile",
    "_birthDate", "op", "path", "value", "from", "reference", "system", "div", "data",
])
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(ELEMENTS, TEXT), inner, max_size=4),
    ),
    max_leaves=12,
)
TYPES = st.sampled_from(["Patient", "Encounter", "Observation", "Bundle", "Parameters",
                         "Provenance", "AuditEvent", "Binary", "NoSuchType", "patient", ""])


def _deep(depth: int) -> object:
    value: object = None
    for level in range(depth):
        value = [value] if level % 2 else {"extension": value}
    return value


DATES = st.sampled_from(["9999-12-31", "0001-01-01T00:00:00+14:00", "2024-02-29T23:59:59.9999Z",
                         "9999-12-31T23:59:59-14:00", "0001", "2024-13-01", "2024"])
# Valid in shape, hostile in value: what gets past validation into indexing and storage.
OBSERVATIONS = st.builds(
    lambda value, date, reference, code: {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org",
                          "code": "kg"},
        "effectiveDateTime": date, "subject": {"reference": reference}},
    NUMBERS, DATES,
    st.one_of(TEXT, st.sampled_from(["Patient/x", "#", "urn:uuid:x", "Patient/x/_history/1"])),
    TEXT,
)
PATIENTS = st.builds(
    lambda birth, period, names: new_patient(birthDate=birth, name=names, identifier=[
        {"system": "http://e.vn/id", "value": "1", "period": {"start": period}}]),
    DATES, DATES, st.lists(st.fixed_dictionaries({"family": TEXT, "given": st.lists(TEXT)}),
                           max_size=3),
)
RESOURCES = st.one_of(
    OBSERVATIONS,
    PATIENTS,
    st.builds(lambda kind, fields: {"resourceType": kind, **fields}, TYPES,
              st.dictionaries(ELEMENTS, JSON, max_size=5)),
    st.builds(lambda fields: {**new_patient(), **fields},
              st.dictionaries(ELEMENTS, JSON, max_size=3)),
    st.builds(_deep, st.integers(min_value=1, max_value=70)),
    JSON,
)


def _encode(document: object) -> bytes:
    """JSON with every non-ASCII character escaped, so lone surrogates reach the server as
    `\\ud800` escapes."""
    return json.dumps(document, ensure_ascii=True).encode()


BODIES = st.one_of(RESOURCES.map(_encode), st.binary(max_size=64),
                   st.sampled_from([b"", b"null", b"[]", b"{", b'{"resourceType":null}',
                                    b"<Patient xmlns='http://hl7.org/fhir'/>", b"\xed\xa0\x80"]))
CONTENT_TYPES = st.sampled_from([
    FHIR_JSON, "application/json", "application/fhir+xml", JSON_PATCH,
    "application/x-www-form-urlencoded", "text/plain", "", "multipart/form-data; boundary=x",
    "application/fhir+json; charset=latin-1", "application/fhir+json; fhirVersion=3.0",
])

# ---------------------------------------------------------------- parameters

PARAMETER_NAMES = st.one_of(
    st.sampled_from([
        "name", "family", "birthdate", "_id", "identifier", "subject", "patient", "date",
        "_lastUpdated", "code", "gender", "_count", "_sort", "_elements", "_summary", "_total",
        "_include", "_revinclude", "_include:iterate", "_revinclude:iterate", "_has",
        "_has:Observation:subject:code", "subject:Patient.name", "subject.name",
        "patient:Patient.organization.name", "name:exact", "name:contains", "gender:not",
        "code:in", "code:text", "identifier:of-type", "_text", "_content", "_filter",
        "_format", "_pretty", "_type", "_since", "_outputFormat", "url", "system", "x",
        "_id:missing", "birthdate:missing", "value-quantity", "_security", "_tag", "_profile",
    ]),
    st.text(min_size=1, max_size=12),
)
PREFIXES = st.sampled_from(["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "zz"])
VALUES = st.one_of(
    st.builds(lambda p, v: p + v, PREFIXES, st.sampled_from([
        "9999-12-31", "0001-01-01", "0001-01-01T00:00:00+14:00", "9999", "0000", "2024-13",
        "1e999", "5.4|http://unitsofmeasure.org|mg", "-0", "99999999999999999999999",
        "Patient:subject", "Observation:subject:Patient", "*", "http://loinc.org|", "|x",
        "Patient/1", "a,b,c", "\\", "$", "2024-02-29T24:00:00Z",
    ])),
    TEXT,
    st.integers().map(str),
)
PARAMS = st.lists(st.tuples(PARAMETER_NAMES, VALUES), max_size=6)


def _query(params: list[tuple[str, str]]) -> str:
    """The query string, lone surrogates and all (percent-escaped as surrogatepass UTF-8)."""
    def escaped(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{escaped(name)}={escaped(value)}" for name, value in params)


# ---------------------------------------------------------------- the server

@pytest.fixture(scope="module")
def raw(server, issuer) -> httpx.Client:
    """A client that sends exactly what it is given, with a token for everything."""
    headers = {"Authorization": f"Bearer {issuer.token()}", "Accept": FHIR_JSON}
    with httpx.Client(base_url=server.base, timeout=60, headers=headers) as client:
        yield client


@pytest.fixture(scope="module")
def known(client) -> dict[str, str]:
    patient = created(client, new_patient())
    encounter = created(client, {"resourceType": "Encounter", "status": "finished",
                                 "class": {"system": "http://terminology.hl7.org/CodeSystem/"
                                           "v3-ActCode", "code": "AMB"},
                                 "subject": {"reference": f"Patient/{patient['id']}"}})
    return {"Patient": patient["id"], "Encounter": encounter["id"]}


def send(client: httpx.Client, method: str, path: str, params=(), body: bytes | None = None,
         content_type: str | None = None, headers: dict | None = None) -> httpx.Response:
    query = _query(list(params))
    url = str(client.base_url).rstrip("/") + path + (f"?{query}" if query else "")
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    response = client.request(method, url, content=body,
                              headers=sent)
    assert_answered(response, f"{method} {path}?{query} {content_type} {body!r:.300}")
    return response


def assert_answered(response: httpx.Response, sent: str, oauth: bool = False) -> None:
    assert response.status_code < 500, (sent, response.status_code, response.text[:500])
    if response.status_code >= 400:
        answer = response.json()
        if oauth:
            assert "error" in answer, (sent, answer)
        else:
            assert answer.get("resourceType") == "OperationOutcome", (sent, answer)
            assert answer["issue"], (sent, answer)


# ---------------------------------------------------------------- route families

READ_PATHS = st.sampled_from(["/Patient/{Patient}", "/Encounter/{Encounter}",
                              "/Patient/{Patient}/_history", "/Patient/{Patient}/_history/1",
                              "/Patient/_history", "/_history", "/Patient/no-such-id",
                              "/Patient/{Patient}/_history/99999999999999999999",
                              "/AuditEvent", "/Provenance", "/metadata"])


@FUZZ
@given(path=READ_PATHS, params=PARAMS)
def test_read_vread_and_history(raw, known, path, params):
    send(raw, "GET", path.format(**known), params)


@FUZZ
@given(kind=TYPES, params=PARAMS)
def test_search_get(raw, kind, params):
    send(raw, "GET", f"/{kind or 'Patient'}", params)


@FUZZ
@given(kind=TYPES, params=PARAMS, query=PARAMS, content_type=CONTENT_TYPES,
       junk=st.one_of(st.none(), st.binary(max_size=40)))
def test_search_post(raw, kind, params, query, content_type, junk):
    body = junk if junk is not None else _query(params).encode()
    send(raw, "POST", f"/{kind or 'Patient'}/_search", query, body, content_type)


@FUZZ
@given(kind=TYPES, body=BODIES, content_type=CONTENT_TYPES, params=PARAMS)
def test_create(raw, kind, body, content_type, params):
    send(raw, "POST", f"/{kind or 'Patient'}", params, body, content_type)


@FUZZ
@given(body=BODIES, content_type=CONTENT_TYPES,
       if_match=st.one_of(st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                             max_size=30),
                          st.sampled_from(['W/"99999999999999999999999"', 'W/"1"', 'W/"-0"'])),
       conditional=st.booleans(), params=PARAMS)
def test_update(raw, known, body, content_type, if_match, conditional, params):
    path = "/Patient" if conditional else f"/Patient/{known['Patient']}"
    headers = {"If-Match": if_match} if if_match else {}
    send(raw, "PUT", path, params, body, content_type, headers)


PATCH_OPS = st.lists(
    st.fixed_dictionaries({"op": st.one_of(st.sampled_from(["add", "remove", "replace", "move",
                                                            "copy", "test"]), JSON),
                           "path": st.one_of(st.sampled_from(["/active", "/name/0", "/id",
                                                              "/meta", "/-", "", "/name/99"]),
                                             JSON)},
                          optional={"value": JSON, "from": JSON}),
    max_size=4,
)
FHIRPATH_PATCH = st.builds(
    lambda kind, path, value: {"resourceType": "Parameters", "parameter": [{
        "name": "operation", "part": [{"name": "type", "valueCode": kind},
                                      {"name": "path", "valueString": path},
                                      {"name": "name", "valueString": "active"},
                                      {"name": "value", "valueBoolean": value}]}]},
    st.sampled_from(["add", "replace", "delete", "insert", "move", "x"]),
    st.sampled_from(["Patient", "Patient.name", "Patient.where(", "%resource", "1/0"]),
    st.one_of(st.booleans(), st.none()),
)


@FUZZ
@given(operations=st.one_of(PATCH_OPS, FHIRPATH_PATCH, JSON),
       content_type=st.one_of(st.just(JSON_PATCH), CONTENT_TYPES), deep=st.booleans(),
       criteria=st.one_of(st.none(), PARAMS))
def test_patch(raw, known, operations, content_type, deep, criteria):
    """JSON Patch, and FHIRPath Patch (a Parameters body), by id or by criteria."""
    if deep:
        operations = [{"op": "add", "path": "/extension", "value": _deep(500)}]
    path = "/Patient" if criteria is not None else f"/Patient/{known['Patient']}"
    send(raw, "PATCH", path, criteria or (), _encode(operations), content_type)


@FUZZ
@given(kind=TYPES, params=PARAMS, by_id=st.booleans())
def test_delete(raw, kind, params, by_id):
    path = f"/{kind or 'Patient'}" + ("/no-such-id" if by_id else "")
    send(raw, "DELETE", path, params)


ENTRY_REQUESTS = st.fixed_dictionaries(
    {}, optional={"method": st.one_of(st.sampled_from(["GET", "POST", "PUT", "PATCH",
                                                       "DELETE", "HEAD"]), JSON),
                  "url": st.one_of(st.sampled_from(["Patient", "Patient/x", "Patient?name=a",
                                                    "Patient/x/_history/99999999999999999999",
                                                    "metadata", "", "/", "$export"]), JSON),
                  "ifMatch": JSON, "ifNoneExist": JSON, "ifNoneMatch": JSON})
ENTRIES = st.one_of(
    st.fixed_dictionaries({}, optional={"request": st.one_of(ENTRY_REQUESTS, JSON),
                                        "resource": RESOURCES, "fullUrl": JSON}),
    JSON,
)


@FUZZ
@given(kind=st.one_of(st.sampled_from(["batch", "transaction"]), JSON),
       entries=st.one_of(st.lists(ENTRIES, max_size=4), JSON), patch=PATCH_OPS)
def test_batch_and_transaction(raw, kind, entries, patch):
    if isinstance(entries, list):
        data = base64.b64encode(_encode(patch)).decode()
        entries.append({"resource": {"resourceType": "Binary", "contentType": JSON_PATCH,
                                     "data": data},
                        "request": {"method": "PATCH", "url": "Patient/x"}})
    bundle = {"resourceType": "Bundle", "type": kind, "entry": entries}
    send(raw, "POST", "", (), _encode(bundle), FHIR_JSON)


OPERATIONS = st.sampled_from([
    ("POST", "/Patient/$validate"), ("POST", "/$validate"), ("GET", "/Patient/{Patient}/$validate"),
    ("GET", "/Patient/{Patient}/$everything"), ("GET", "/Patient/$everything"),
    ("GET", "/Encounter/{Encounter}/$everything"), ("GET", "/$export"),
    ("GET", "/Patient/$export"), ("POST", "/$export"), ("GET", "/ValueSet/$expand"),
    ("POST", "/ValueSet/$expand"), ("GET", "/ValueSet/$validate-code"),
    ("GET", "/CodeSystem/$validate-code"), ("GET", "/ConceptMap/$translate"),
    ("POST", "/ConceptMap/$translate"), ("GET", "/CodeSystem/$lookup"),
    ("GET", "/$export-status/no-such-job"), ("GET", "/$export-file/x/y.ndjson"),
])


@FUZZ
@given(operation=OPERATIONS, params=PARAMS, body=BODIES, content_type=CONTENT_TYPES,
       respond_async=st.booleans())
def test_operations(raw, known, operation, params, body, content_type, respond_async):
    """$validate, $everything, $export kick-off (async, as Bulk Data asks, or not),
    terminology operations, export status and files."""
    method, path = operation
    headers = {"Prefer": "respond-async"} if respond_async else {}
    if method == "GET":
        send(raw, method, path.format(**known), params, headers=headers)
    else:
        send(raw, method, path.format(**known), params, body, content_type, headers)


@FUZZ
@given(params=PARAMS, content_type=CONTENT_TYPES, junk=st.one_of(st.none(), BODIES))
def test_token_endpoint(server, params, content_type, junk):
    body = junk if junk is not None else _query(params).encode()
    with httpx.Client(base_url=server.base, timeout=60) as anonymous:
        response = anonymous.post("/auth/token", content=body,
                                  headers={"Content-Type": content_type})
    assert_answered(response, f"token {content_type} {body!r:.300}", oauth=True)
