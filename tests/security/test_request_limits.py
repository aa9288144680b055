"""Bounded work per request (issue 14): query strings and search forms with too many
parameters, arrays with too many elements, the token endpoint's body, slow bodies (408),
and bulk export kick-offs racing past the per-client limit — each refused with a 4xx before
any expensive work, while other requests keep being answered."""

import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from api.helpers import FHIR_HEADERS, FHIR_JSON
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from security.helpers import fhir_client, own_server, patient_resource, raw_response

MAX_PARAMETERS = 20
MAX_REPEATS = 5
MAX_ELEMENTS = 50
MAX_TOKEN_BODY = 2048
MAX_SEARCH_FORM = 1024
BODY_TIMEOUT = 2.0
MAX_EXPORTS = 5


@pytest.fixture(scope="module")
def bounded(mongo_uri, request, tmp_path_factory, issuer):
    with own_server(
        mongo_uri, request, tmp_path_factory, issuer,
        max_parameters=MAX_PARAMETERS, max_parameter_repeats=MAX_REPEATS,
        max_array_elements=MAX_ELEMENTS, max_token_body_bytes=MAX_TOKEN_BODY,
        max_search_form_bytes=MAX_SEARCH_FORM,
        body_timeout_seconds=BODY_TIMEOUT, rate_limit_per_address_per_minute=0,
        export_workers=0, export_max_jobs=MAX_EXPORTS,
    ) as running:
        yield running


@pytest.fixture
def http(bounded, issuer):
    with fhir_client(bounded.base, issuer.token()) as client:
        yield client


def _outcome(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return outcome


def _raw(base: str, head: str, body: bytes = b"", timeout: float = 30) -> socket.socket:
    """A connection to the server that has sent `head` (request line and headers, without
    the blank line) and `body`, and may send more."""
    url = urlsplit(base)
    connection = socket.create_connection((url.hostname, url.port), timeout=timeout)
    connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
    return connection


def _answer(connection: socket.socket) -> tuple[int, dict]:
    """Status and JSON body of the response on a raw connection."""
    status, _, body = raw_response(connection)
    return status, json.loads(body)


# ------------------------------------------------------------------ parameters

def test_parameter_repeated_within_the_limit_is_searched(http):
    response = http.get("/Patient", params=[("given", "an")] * MAX_REPEATS)
    assert response.status_code == 200, response.text


def test_parameter_repeated_beyond_the_limit_is_400(http):
    outcome = _outcome(http.get("/Patient", params=[("given", "an")] * (MAX_REPEATS + 1)), 400)
    assert outcome["issue"][0]["expression"] == ["given"], outcome
    assert "6 times" in outcome["issue"][0]["diagnostics"], outcome


def test_too_many_parameters_are_400(http):
    params = [(f"p{n}", "x") for n in range(MAX_PARAMETERS + 1)]
    outcome = _outcome(http.get("/Patient", params=params), 400)
    assert f"More than {MAX_PARAMETERS} parameters" in outcome["issue"][0]["diagnostics"]


def test_a_refusal_before_routing_comes_in_the_format_asked_for(http):
    """Counted before anything else, and answered as any error: XML to an XML client."""
    params = [(f"p{n}", "x") for n in range(MAX_PARAMETERS + 1)]
    for asked in ({"headers": {"Accept": "application/fhir+xml"}},
                  {"params": [*params[:-1], ("_format", "xml")]}):
        response = http.get("/Patient", **({"params": params} | asked))
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/fhir+xml")
        assert "<OperationOutcome" in response.text, response.text


def test_thousands_of_parameters_are_refused_at_once_even_without_a_token(bounded):
    """Counted before authentication, before parsing what the parameters mean."""
    query = urlencode([("given", f"ten{n}") for n in range(1500)])
    started = time.monotonic()
    response = httpx.get(f"{bounded.base}/Patient?{query}", timeout=30)
    elapsed = time.monotonic() - started
    _outcome(response, 400)
    assert elapsed < 1, elapsed


def test_search_form_body_counts_with_the_query_string(http):
    form = urlencode([("given", "an")] * MAX_REPEATS)
    response = http.post("/Patient/_search?given=binh", content=form.encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    outcome = _outcome(response, 400)
    assert outcome["issue"][0]["expression"] == ["given"], outcome
    many = urlencode([(f"p{n}", "x") for n in range(MAX_PARAMETERS + 1)])
    _outcome(http.post("/Patient/_search", content=many.encode(),
                       headers={"Content-Type": "application/x-www-form-urlencoded"}), 400)


def test_search_form_over_its_own_limit_is_413(http):
    form = urlencode([("family", "x" * (MAX_SEARCH_FORM - 7))])
    assert len(form) == MAX_SEARCH_FORM
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = http.post("/Patient/_search", content=form.encode(), headers=form_headers)
    assert response.status_code == 200, response.text
    _outcome(http.post("/Patient/_search", content=form.encode() + b"x",
                       headers=form_headers), 413)


def test_body_declared_over_the_limit_is_413_before_it_is_sent(bounded, issuer):
    """1 GiB announced, nothing sent: the answer comes at once."""
    path = urlsplit(bounded.base).path
    head = (f"POST {path}/Patient HTTP/1.1\nHost: x\nContent-Type: {FHIR_JSON}\n"
            f"Authorization: Bearer {issuer.token()}\nContent-Length: {1 << 30}")
    started = time.monotonic()
    with _raw(bounded.base, head) as connection:
        status, outcome = _answer(connection)
    assert status == 413, outcome
    assert time.monotonic() - started < 2


FIXTURE_PER_TEST = HealthCheck.function_scoped_fixture  # `http` holds no per-example state
_NAMES = st.sampled_from(["given", "family", "name", "birthdate", "_count", "_sort", "_id",
                          "_include", "_revinclude:iterate", "identifier", "general-practitioner",
                          "_elements", "_summary", "_total", "address-city", "x"])


@settings(max_examples=60, deadline=None, suppress_health_check=[FIXTURE_PER_TEST])
@given(params=st.lists(st.tuples(st.one_of(_NAMES, st.text(min_size=1, max_size=12)),
                                 st.text(max_size=20)), max_size=3 * MAX_PARAMETERS))
def test_query_strings_of_any_shape_never_give_5xx(http, params):
    response = http.get("/Patient", params=params)
    assert response.status_code < 500, (params, response.status_code, response.text[:300])
    if len(params) > MAX_PARAMETERS:
        assert response.status_code == 400, (params, response.text[:300])


@settings(max_examples=40, deadline=None, suppress_health_check=[FIXTURE_PER_TEST])
@given(params=st.lists(st.tuples(_NAMES, st.text(max_size=30)), max_size=2 * MAX_PARAMETERS))
def test_search_forms_of_any_shape_never_give_5xx(http, params):
    response = http.post("/Patient/_search", content=urlencode(params).encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code < 500, (params, response.status_code, response.text[:300])


# ------------------------------------------------------------------ batch and transaction entries

def _identifiers(system: str, count: int) -> str:
    """Criteria naming `count` identifiers of `system`, ANDed: a patient with all matches."""
    return urlencode([("identifier", f"{system}|{n}") for n in range(count)])


def _patient_holding(http: httpx.Client, system: str, count: int) -> dict:
    """A new Patient with the identifiers `_identifiers(system, count)` names."""
    identifiers = [{"system": system, "value": str(n)} for n in range(count)]
    response = http.post("/Patient", json=patient_resource(identifier=[]) | {
        "identifier": identifiers}, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


def _bundle(kind: str, *entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _refused_alike(http: httpx.Client, direct: httpx.Response, entry: dict) -> None:
    """`entry` is refused as the request `direct` was (400, the same message): alone in a
    batch, whose other entry is answered; naming it in a transaction, which does nothing."""
    message = _outcome(direct, 400)["issue"][0]["diagnostics"]
    answered = {"request": {"method": "GET", "url": "Patient?_count=1"}}
    response = http.post("", json=_bundle("batch", entry, answered), headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    refused, other = response.json()["entry"]
    assert refused["response"]["status"] == "400 Bad Request", refused
    assert refused["response"]["outcome"]["issue"][0]["diagnostics"].endswith(message), refused
    assert other["response"]["status"] == "200 OK", other
    whole = _outcome(http.post("", json=_bundle("transaction", entry, answered),
                               headers=FHIR_HEADERS), 400)
    diagnostics = whole["issue"][0]["diagnostics"]
    assert diagnostics.startswith("Bundle.entry[0] ") and diagnostics.endswith(message), whole


@pytest.mark.parametrize("method,url", [
    ("GET", "Patient?{repeated}"),
    ("GET", "Patient/{id}/Observation?{too_many}"),
    ("DELETE", "Patient?{repeated}"),
    ("GET", "Patient/{id}/_history?{too_many}"),
    ("GET", "Patient/{id}/$everything?{too_many}"),
])
def test_an_entry_url_is_held_to_the_parameter_limits_of_a_request(http, method, url):
    """FHIR_MAX_PARAMETERS and FHIR_MAX_PARAMETER_REPEATS hold for a batch or transaction
    entry's request.url as for the same request alone: unchecked, a conditional DELETE
    refused directly deleted as a batch entry, and one search entry of 20,000 criteria held
    the server for 6 to 22 s."""
    system = f"urn:limits:{uuid.uuid4()}"
    patient = _patient_holding(http, system, MAX_REPEATS + 1)  # what the DELETE would find
    url = url.format(repeated=_identifiers(system, MAX_REPEATS + 1), id=patient["id"],
                     too_many=urlencode([(f"p{n}", "x") for n in range(MAX_PARAMETERS + 1)]))
    _refused_alike(http, http.request(method, f"/{url}", headers={"Accept": FHIR_JSON}),
                   {"request": {"method": method, "url": url}})
    assert http.get(f"/Patient/{patient['id']}").status_code == 200


def test_if_none_exist_criteria_are_held_to_the_parameter_limits_of_a_request(http):
    """Criteria of a conditional create, in the header or in a Bundle entry's
    request.ifNoneExist, are held to the bounds of a query string's parameters."""
    system = f"urn:limits:{uuid.uuid4()}"
    patient = _patient_holding(http, system, MAX_REPEATS + 1)
    criteria = _identifiers(system, MAX_REPEATS + 1)  # the patient matches: 200, not created
    direct = http.post("/Patient", json=patient, headers={**FHIR_HEADERS,
                                                          "If-None-Exist": criteria})
    _refused_alike(http, direct, {"resource": patient, "request": {
        "method": "POST", "url": "Patient", "ifNoneExist": criteria}})
    found = http.get("/Patient", params={"identifier": f"{system}|0"}).json()
    assert [entry["resource"]["id"] for entry in found.get("entry", [])] == [patient["id"]]


# ------------------------------------------------------------------ arrays

def test_array_within_the_limit_is_stored(http):
    names = [{"family": "Nguyễn", "given": [f"Tên{n}"]} for n in range(MAX_ELEMENTS)]
    response = http.post("/Patient", json=patient_resource(name=names), headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("shape", ["resource", "transaction"])
def test_array_beyond_the_limit_is_413_before_validation(http, shape):
    names = [{"family": "Nguyễn", "given": [f"Tên{n}"]} for n in range(MAX_ELEMENTS + 1)]
    resource = patient_resource(name=names, unknownElement=True)  # would be a 400 if validated
    body = resource if shape == "resource" else {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": resource, "request": {"method": "POST", "url": "Patient"}}]}
    response = http.post("/Patient" if shape == "resource" else "", json=body,
                         headers=FHIR_HEADERS)
    outcome = _outcome(response, 413)
    assert f"at most {MAX_ELEMENTS}" in outcome["issue"][0]["diagnostics"], outcome


# ------------------------------------------------------------------ token endpoint body

def test_token_body_over_its_limit_is_an_oauth_error(bounded):
    form = {"grant_type": "client_credentials", "client_assertion": "x" * MAX_TOKEN_BODY}
    response = httpx.post(f"{bounded.base}/auth/token", data=form, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert str(MAX_TOKEN_BODY) in response.json()["error_description"]


def test_token_endpoint_refuses_a_huge_declared_body_without_reading_it(bounded):
    """16 MiB announced, nothing sent: the answer comes at once, not after the upload."""
    path = urlsplit(bounded.base).path
    connection = _raw(bounded.base, f"POST {path}/auth/token HTTP/1.1\nHost: x\n"
                      "Content-Type: application/x-www-form-urlencoded\n"
                      f"Content-Length: {16 * 1024 * 1024}")
    with connection:
        status, body = _answer(connection)
    assert status == 400 and body["error"] == "invalid_request", body


# ------------------------------------------------------------------ slow bodies

def test_a_body_sent_too_slowly_gets_408_and_others_are_answered(bounded, issuer):
    path = urlsplit(bounded.base).path
    head = (f"POST {path}/Patient HTTP/1.1\nHost: x\nContent-Type: {FHIR_JSON}\n"
            f"Authorization: Bearer {issuer.token()}\nContent-Length: 1000")
    started = time.monotonic()
    stop = threading.Event()
    connection = _raw(bounded.base, head, b'{"resourceType": ')

    def trickle() -> None:  # a byte a second: never enough
        while not stop.wait(1):
            try:
                connection.sendall(b" ")
            except OSError:
                return

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        probe = httpx.get(f"{bounded.base}/metadata", timeout=5)
        assert probe.status_code == 200
        status, outcome = _answer(connection)
    finally:
        stop.set()
        connection.close()
    elapsed = time.monotonic() - started
    assert status == 408, outcome
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "timeout", outcome
    assert BODY_TIMEOUT <= elapsed < BODY_TIMEOUT + 3, elapsed


def test_a_body_that_never_comes_gets_408(bounded, issuer):
    path = urlsplit(bounded.base).path
    head = (f"POST {path}/Patient/_search HTTP/1.1\nHost: x\n"
            "Content-Type: application/x-www-form-urlencoded\n"
            f"Authorization: Bearer {issuer.token()}\nContent-Length: 50")
    with _raw(bounded.base, head) as connection:
        status, outcome = _answer(connection)
    assert status == 408, outcome


# ------------------------------------------------------------------ export kick-offs

def test_concurrent_kick_offs_beyond_the_export_limit_get_429(bounded, issuer):
    """Twenty at once by one client, five allowed: exactly five are accepted."""
    token = issuer.token(subject="001085099999")

    def kick_off(_: int) -> httpx.Response:
        with fhir_client(bounded.base, token) as client:
            return client.get("/$export", headers={"Prefer": "respond-async"})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(kick_off, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * MAX_EXPORTS + [429] * (20 - MAX_EXPORTS), statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) > 0
    with fhir_client(bounded.base, token) as client:
        for response in responses:
            if response.status_code == 202:
                assert client.delete(response.headers["content-location"]).status_code == 202
        # Cancelled jobs no longer count: the client may export again.
        again = client.get("/$export", headers={"Prefer": "respond-async"})
        assert again.status_code == 202, again.text
        client.delete(again.headers["content-location"])
