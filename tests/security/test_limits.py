"""Limits and hygiene over HTTP: security headers on every response, body size (413), JSON
nesting depth (400), bundle size (413), per-caller rate limit (429 + Retry-After), and
personal IDs masked in log records."""

import json
import logging
import time
import uuid
from urllib.parse import urlencode

import httpx
import pytest
from api.helpers import CCCD, FHIR_HEADERS, FHIR_JSON, JSON_PATCH
from uvicorn.logging import AccessFormatter

from security.helpers import (
    bundle,
    fhir_client,
    own_server,
    patient_resource,
    personal_id,
    post_entry,
    wait_until,
)

MAX_BODY = 4096
MAX_DEPTH = 12
MAX_ENTRIES = 3
RATE = 5


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    where = (response.request.method, str(response.request.url), response.status_code)
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where
    assert "default-src 'none'" in headers.get("content-security-policy", ""), where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert "no-store" in headers.get("cache-control", ""), where
    assert headers.get("strict-transport-security", "").startswith("max-age="), where


def _outcome(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return outcome


# ------------------------------------------------------------------ security headers

def test_security_headers_on_every_kind_of_response(server, client, issuer):
    base = server.base
    nobody = {"Accept": FHIR_JSON}
    nurse = {"Accept": FHIR_JSON,
             "Authorization": f"Bearer {issuer.token(scope='user/Encounter.rs')}"}
    created = client.post("/Patient", json=patient_resource(), headers=FHIR_HEADERS)
    responses = {
        201: [created],
        200: [client.get("/Patient"), client.get(f"/Patient/{created.json()['id']}"),
              httpx.get(f"{base}/metadata", timeout=30),
              httpx.get(f"{base}/.well-known/smart-configuration", timeout=30),
              httpx.get(f"{base}/auth/jwks", timeout=30)],
        204: [client.delete(f"/Patient/{uuid.uuid4()}")],
        400: [client.get("/Patient", params={"birthdate": "khong-phai-ngay"}),
              httpx.post(f"{base}/auth/token", data={"grant_type": "password"}, timeout=30)],
        401: [httpx.get(f"{base}/Patient", headers=nobody, timeout=30),
              httpx.get(f"{base}/Patient", timeout=30,
                        headers={**nobody, "Authorization": "Bearer khong-phai-jwt"})],
        403: [httpx.get(f"{base}/Patient", headers=nurse, timeout=30)],
        404: [client.get(f"/Patient/{uuid.uuid4()}"), client.get("/KhongCo"),
              client.get("/Patient/a/b/c/d/e"), httpx.get(f"{server.base[:-5]}/", timeout=30)],
        405: [client.delete(f"/AuditEvent/{uuid.uuid4()}")],
        406: [client.get("/Patient", headers={"Accept": "text/turtle"})],
        415: [client.post("/Patient", content=b"Patient", headers={"Content-Type": "text/plain"})],
    }
    for status, answers in responses.items():
        for response in answers:
            assert response.status_code == status, (status, response.status_code, response.text)
            assert_security_headers(response)


# ------------------------------------------------------------------ body, depth, bundle

@pytest.fixture(scope="module")
def limited(mongo_uri, request, tmp_path_factory, issuer):
    with own_server(mongo_uri, request, tmp_path_factory, issuer, max_body_bytes=MAX_BODY,
                    max_json_depth=MAX_DEPTH, max_bundle_entries=MAX_ENTRIES) as running:
        yield running


@pytest.fixture
def limited_client(limited, issuer):
    with fhir_client(limited.base, issuer.token()) as http:
        yield http


def _patient_of_size(size: int, value: str) -> bytes:
    """A Patient whose JSON body is exactly `size` bytes (padded in its narrative)."""
    resource = patient_resource(value)
    resource["text"] = {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">"
                        "</div>"}
    filler = "x" * (size - len(json.dumps(resource).encode()))
    resource["text"]["div"] = resource["text"]["div"].replace("</div>", f"{filler}</div>")
    body = json.dumps(resource).encode()
    assert len(body) == size
    return body


def _stored(http: httpx.Client, value: str) -> int:
    response = http.get("/Patient", params={"identifier": f"{CCCD}|{value}"})
    assert response.status_code == 200, response.text
    return len(response.json().get("entry", []))


def test_body_at_the_limit_is_accepted(limited_client):
    value = personal_id()
    response = limited_client.post("/Patient", content=_patient_of_size(MAX_BODY, value),
                                   headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    assert _stored(limited_client, value) == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_is_413(limited_client, chunked):
    value = personal_id()
    body = _patient_of_size(MAX_BODY + 1, value)
    content = (body[i:i + 1000] for i in range(0, len(body), 1000)) if chunked else body
    response = limited_client.post("/Patient", content=content, headers=FHIR_HEADERS)
    _outcome(response, 413)
    assert_security_headers(response)
    assert _stored(limited_client, value) == 0


def test_update_and_bundle_bodies_over_the_limit_are_413(limited_client):
    value = personal_id()
    resource = json.loads(_patient_of_size(MAX_BODY + 200, value))
    _outcome(limited_client.put(f"/Patient/{uuid.uuid4()}", json={**resource, "id": "x"},
                                headers=FHIR_HEADERS), 413)
    _outcome(limited_client.post("", json=bundle("batch", post_entry(resource)),
                                 headers=FHIR_HEADERS), 413)
    assert _stored(limited_client, value) == 0


def test_search_form_body_over_the_limit_is_413(limited_client):
    form = urlencode([("family", f"ho{n:04d}" + "x" * 100) for n in range(MAX_BODY // 50)])
    assert len(form) > MAX_BODY
    response = limited_client.post("/Patient/_search", content=form.encode(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    _outcome(response, 413)


def test_token_endpoint_body_over_the_limit_is_an_oauth_error(limited):
    """The token endpoint needs no token: the body limit matters most there; its refusals
    are OAuth errors (RFC 6749 §5.2), so an oversized body is `invalid_request`."""
    form = {"grant_type": "client_credentials", "scope": "system/*.rs",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "x" * (MAX_BODY * 64)}
    response = httpx.post(f"{limited.base}/auth/token", data=form, timeout=30)
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.json()["error"] == "invalid_request"


def _nested_extensions(levels: int) -> list[dict]:
    inner: dict = {"url": "urn:muc", "valueString": "sâu"}
    for _ in range(levels - 1):
        inner = {"url": "urn:muc", "extension": [inner]}
    return [inner]


def test_json_within_the_depth_limit_is_accepted(limited_client):
    # root 1, extension list 2, then two levels per nesting: 4 nestings end at depth 9.
    resource = patient_resource(extension=_nested_extensions(4))
    response = limited_client.post("/Patient", json=resource, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("shape", ["resource", "transaction", "json patch"])
def test_json_deeper_than_the_limit_is_400(limited_client, shape):
    value = personal_id()
    deep = patient_resource(value, extension=_nested_extensions(8))  # depth 17
    if shape == "json patch":
        created = limited_client.post("/Patient", json=patient_resource(), headers=FHIR_HEADERS)
        assert created.status_code == 201, created.text
        response = limited_client.patch(
            f"/Patient/{created.json()['id']}", headers={"Content-Type": JSON_PATCH},
            json=[{"op": "add", "path": "/extension", "value": _nested_extensions(8)}])
    else:
        body = deep if shape == "resource" else bundle("transaction", post_entry(deep))
        response = limited_client.post("/Patient" if shape == "resource" else "", json=body,
                                       headers=FHIR_HEADERS)
    outcome = _outcome(response, 400)
    assert "nested deeper" in outcome["issue"][0]["diagnostics"], outcome
    assert _stored(limited_client, value) == 0


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_absurdly_nested_json_is_400_not_500(client, depth):
    """On the default limits (64 levels, 16 MiB): deeper than Python's recursion limit."""
    body = b"[" * depth + b"]" * depth
    outcome = _outcome(client.post("/Patient", content=body, headers=FHIR_HEADERS), 400)
    assert "nested deeper" in outcome["issue"][0]["diagnostics"], outcome


def test_resource_deeper_than_the_default_limit_is_400(client):
    value = personal_id()
    deep = patient_resource(value, extension=_nested_extensions(40))  # depth 81
    outcome = _outcome(client.post("/Patient", json=deep, headers=FHIR_HEADERS), 400)
    assert "nested deeper than 64" in outcome["issue"][0]["diagnostics"], outcome
    assert _stored(client, value) == 0


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_bundle_over_the_entry_limit_is_413(limited_client, kind):
    values = [personal_id() for _ in range(MAX_ENTRIES + 1)]
    small = [{"resourceType": "Patient", "identifier": [{"system": CCCD, "value": v}]}
             for v in values]
    response = limited_client.post("", json=bundle(kind, *map(post_entry, small)),
                                   headers=FHIR_HEADERS)
    _outcome(response, 413)
    assert all(_stored(limited_client, v) == 0 for v in values)
    at_limit = limited_client.post("", json=bundle(kind, *map(post_entry, small[:MAX_ENTRIES])),
                                   headers=FHIR_HEADERS)
    assert at_limit.status_code == 200, at_limit.text
    assert [_stored(limited_client, v) for v in values] == [1] * MAX_ENTRIES + [0]


# ------------------------------------------------------------------ rate limit

@pytest.fixture(scope="module")
def throttled(mongo_uri, request, tmp_path_factory, issuer):
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    rate_limit_per_minute=RATE) as running:
        yield running


def test_sixth_request_in_a_minute_is_429_with_retry_after(throttled, issuer):
    first, second = personal_id(), personal_id(2001, female=True)
    with fhir_client(throttled.base, issuer.token(subject=first)) as http:
        statuses = [http.get("/Patient").status_code for _ in range(RATE)]
        assert statuses == [200] * RATE
        limited = http.get("/Patient")
    outcome = _outcome(limited, 429)
    assert outcome["issue"][0]["code"] == "throttled", outcome
    retry_after = limited.headers.get("retry-after", "")
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, limited.headers
    assert_security_headers(limited)
    # The limit is per person, not per token: a fresh token of the same person is limited too.
    with fhir_client(throttled.base, issuer.token(subject=first, scope="user/*.rs")) as http:
        _outcome(http.get("/Patient"), 429)
    # Another person is not limited by the first one's requests.
    with fhir_client(throttled.base, issuer.token(subject=second)) as http:
        assert http.get("/Patient").status_code == 200
    # Public endpoints need no token and are not counted against anyone.
    assert httpx.get(f"{throttled.base}/metadata", timeout=30).status_code == 200


def test_a_limit_of_0_is_no_limit(mongo_uri, request, tmp_path_factory, issuer):
    """As FHIR_RATE_LIMIT_PER_ADDRESS_PER_MINUTE=0 says: it was a division by zero (500)."""
    with (own_server(mongo_uri, request, tmp_path_factory, issuer,
                     rate_limit_per_minute=0) as running,
          fhir_client(running.base, issuer.token()) as http):
        assert [http.get("/Patient").status_code for _ in range(RATE + 2)] == [200] * (RATE + 2)


def test_writes_count_towards_the_limit(throttled, issuer):
    someone = personal_id(1969)
    with fhir_client(throttled.base, issuer.token(subject=someone)) as http:
        statuses = [http.post("/Patient", json=patient_resource(), headers=FHIR_HEADERS)
                    .status_code for _ in range(RATE)]
        assert statuses == [201] * RATE
        value = personal_id()
        response = http.post("/Patient", json=patient_resource(value), headers=FHIR_HEADERS)
    _outcome(response, 429)
    with fhir_client(throttled.base, issuer.token(subject=personal_id(1970))) as http:
        assert _stored(http, value) == 0


def test_a_batch_counts_as_many_requests_as_it_has_entries(throttled, issuer):
    """Each entry is a request's work (a batch of 2,000 creates took 30 s of CPU); a Bundle
    larger than the burst needs a full bucket."""
    def batch(entries: int) -> dict:
        return {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Patient?_count=1"}}] * entries}

    with fhir_client(throttled.base, issuer.token(subject=personal_id(1971))) as http:
        assert http.post("", json=batch(3), headers=FHIR_HEADERS).status_code == 200
        limited = http.post("", json=batch(3), headers=FHIR_HEADERS)
        outcome = _outcome(limited, 429)
        assert "A Bundle of 3 entries counts as 3 requests" in outcome["issue"][0][
            "diagnostics"], outcome
        assert http.get("/Patient").status_code == 200  # the one token left
    with fhir_client(throttled.base, issuer.token(subject=personal_id(1972))) as http:
        assert http.post("", json=batch(4 * RATE), headers=FHIR_HEADERS).status_code == 200
        _outcome(http.get("/Patient"), 429)


def test_a_bundle_refused_for_its_size_costs_one_request(mongo_uri, request, tmp_path_factory,
                                                         issuer):
    """Refused (413) before any work, it was charged its entries first: a caller with a
    request behind them got 429 for it, and one with a full bucket lost the minute's."""
    def batch(entries: int) -> dict:
        return {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Patient?_count=1"}}] * entries}

    with (own_server(mongo_uri, request, tmp_path_factory, issuer, rate_limit_per_minute=RATE,
                     max_bundle_entries=RATE) as running,
          fhir_client(running.base, issuer.token(subject=personal_id(1973))) as http):
        assert http.get("/Patient").status_code == 200
        for _ in range(2):
            _outcome(http.post("", json=batch(RATE + 1), headers=FHIR_HEADERS), 413)
        assert http.post("", json=batch(2), headers=FHIR_HEADERS).status_code == 200


# ------------------------------------------------------------------ logs

class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_log(server):
    """uvicorn's access log (tests run it at warning level) captured at INFO, with uvicorn's
    own stdout handler set aside meanwhile."""
    logger = logging.getLogger("uvicorn.access")
    handler = Records()
    saved = logger.level, logger.handlers[:]
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.setLevel(saved[0])
        logger.handlers = saved[1]


def _request_with_a_personal_id(server, client, access_log) -> tuple[str, list[str]]:
    person = personal_id(1985)
    response = client.get("/Patient", params={"identifier": f"{CCCD}|{person}"})
    assert response.status_code == 200, response.text
    lines = wait_until(lambda: [r.getMessage() for r in access_log.records
                                if "/fhir/Patient" in r.getMessage()], 5)
    assert lines, [r.getMessage() for r in access_log.records]
    return person, lines


def test_access_log_masks_personal_ids(server, client, access_log):
    person, lines = _request_with_a_personal_id(server, client, access_log)
    assert not [line for line in lines if person in line], lines
    masked = f"{person[:3]}*******{person[-2:]}"
    assert any(masked in line for line in lines), lines


def test_access_log_records_still_format_with_uvicorns_formatter(server, client, access_log):
    """`serve` logs access lines through uvicorn's AccessFormatter, which reads the five
    values of record.args; the masking must leave records it can format."""
    _request_with_a_personal_id(server, client, access_log)
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                                use_colors=False)
    for record in access_log.records:
        line = formatter.format(record)
        assert "/fhir/Patient" in line or "/fhir" in line, line


def test_any_log_record_masks_personal_ids(server):
    logger = logging.getLogger("fhir_server.security_tests")
    handler = Records()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.warning("id %s", "001085012345")
        logger.info("cccd|%s and %s", "079203001234", "0791")
    finally:
        logger.removeHandler(handler)
    messages = [logging.Formatter("%(message)s").format(r) for r in handler.records]
    assert messages == ["id 001*******45", "cccd|079*******34 and 0791"], messages


def test_exception_text_in_log_records_is_masked(server):
    """The unexpected-error handler and the audit writer log with `log.exception`: the
    exception text (e.g. a MongoDB error quoting a document) is part of the record too."""
    logger = logging.getLogger("fhir_server.security_tests")
    handler = Records()
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("không lưu được agent 001085012345")
        except ValueError:
            logger.exception("storing AuditEvents failed")
    finally:
        logger.removeHandler(handler)
    (record,) = handler.records
    text = logging.Formatter("%(message)s").format(record)
    assert "001085012345" not in text, text
    assert "001*******45" in text, text


def test_rate_limit_waits_on_a_clock_not_a_count(throttled, issuer):
    """Retry-After is honest: after waiting that long, a request goes through again."""
    someone = personal_id(1955)
    with fhir_client(throttled.base, issuer.token(subject=someone)) as http:
        for _ in range(RATE):
            http.get("/metadata")
            http.get("/Patient")
        refused = http.get("/Patient")
        _outcome(refused, 429)
        time.sleep(int(refused.headers["retry-after"]))
        assert http.get("/Patient").status_code == 200
