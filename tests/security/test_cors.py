"""CORS (http.html#security: "servers SHOULD implement CORS") for the origins FHIR_CORS_ORIGINS
names: a browser app's preflight is answered without a token, its requests get the headers
it needs to read FHIR's own (ETag, Location), and the CapabilityStatement says so. Other
origins, and a server without the setting, get no CORS header."""

from collections.abc import Iterator

import pytest
from api.helpers import FHIR_HEADERS, new_patient

from security.helpers import fhir_client, own_server

APP = "https://ehr.benhvien-bachmai.vn"


@pytest.fixture(scope="module")
def shared(mongo_uri, request, tmp_path_factory, issuer) -> Iterator:
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    cors_origins=[APP]) as running:
        yield running


def test_a_preflight_of_an_allowed_origin_is_answered_without_a_token(shared):
    anonymous = fhir_client(shared.base, None)
    preflight = anonymous.options("/Patient", headers={
        "Origin": APP, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type, if-match, prefer"})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == APP
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "if-match", "prefer"} <= {h.strip() for h in allowed.split(",")}


def test_responses_expose_what_a_fhir_client_reads(shared, issuer):
    http = fhir_client(shared.base, issuer.token(scope="user/*.cruds"))
    response = http.post("/Patient", json=new_patient(),
                         headers={**FHIR_HEADERS, "Origin": APP})
    assert response.status_code == 201, response.text
    assert response.headers["access-control-allow-origin"] == APP
    exposed = response.headers["access-control-expose-headers"].lower()
    assert {"etag", "location", "x-request-id"} <= {h.strip() for h in exposed.split(",")}
    statement = http.get("/metadata").json()
    assert statement["rest"][0]["security"]["cors"] is True


def test_a_raw_binary_with_its_security_context_passes_a_preflight_and_is_read_back(
        shared, issuer):
    """binary.html#rest: a Binary sent and read as its own content carries its security
    context in X-Security-Context; a browser app sends it only when the preflight allows it,
    and reads it only when the response exposes it."""
    preflight = fhir_client(shared.base, None).options("/Binary", headers={
        "Origin": APP, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-security-context"})
    assert preflight.status_code == 200, preflight.text
    http = fhir_client(shared.base, issuer.token(scope="user/*.cruds"))
    patient = http.post("/Patient", json=new_patient(), headers=FHIR_HEADERS).json()
    context = f"Patient/{patient['id']}"
    created = http.post("/Binary", content=b"%PDF-1.4", headers={
        "Content-Type": "application/pdf", "X-Security-Context": context, "Origin": APP})
    assert created.status_code == 201, created.text
    read = http.get(created.headers["location"].split("/_history")[0],
                    headers={"Accept": "application/pdf", "Origin": APP})
    assert read.headers["x-security-context"] == context
    exposed = {h.strip() for h in read.headers["access-control-expose-headers"].split(",")}
    assert "X-Security-Context" in exposed


@pytest.mark.parametrize("path", ["/.well-known/smart-configuration", "/metadata",
                                  "/auth/jwks"])
def test_any_origin_reads_the_discovery_documents(shared, path):
    """SMART App Launch, CORS support: "For requests from any origin, CORS configuration
    permits access to the public discovery endpoints (.well-known/smart-configuration and
    metadata)" (probe DM: only FHIR_CORS_ORIGINS could read them, so an app of another
    origin could not learn where to get a token; Inferno's SMART suite checks it)."""
    anonymous = fhir_client(shared.base, None)
    other = "https://app.phongkham-khac.vn"
    read = anonymous.get(path, headers={"Origin": other})
    assert read.status_code == 200, read.text
    assert read.headers["access-control-allow-origin"] == "*"
    preflight = anonymous.options(path, headers={
        "Origin": other, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "accept, x-request-id"})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == "*"
    # Not the API: another origin still gets no CORS header there.
    refused = anonymous.options("/Patient", headers={
        "Origin": other, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in refused.headers


def test_another_origin_gets_no_cors_header(shared, client):
    anonymous = fhir_client(shared.base, None)
    preflight = anonymous.options("/Patient", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers
    # The module's server has no FHIR_CORS_ORIGINS: no CORS at all, as its statement says.
    read = client.get("/metadata", headers={"Origin": APP})
    assert "access-control-allow-origin" not in read.headers
    assert read.json()["rest"][0]["security"]["cors"] is False
