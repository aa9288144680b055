"""Header fields HTTP does not allow are refused before anything reads them: an HTTP/1.1
request without `Host`, or with two (RFC 9112 §3.2: 400), creates nothing; an HTTP/1.0
request may leave it out."""

import gzip
import json
import socket

import pytest

from security.helpers import patient_resource, raw_response


def _send(server, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(head.encode("latin-1") + b"\r\n" + body)
        return raw_response(connection)


def _post(server, issuer, version: str, hosts: list[str]) -> tuple[int, dict, bytes]:
    body = json.dumps(patient_resource()).encode()
    lines = [f"POST /fhir/Patient HTTP/{version}", *(f"Host: {host}" for host in hosts),
             f"Authorization: Bearer {issuer.token()}",
             "Content-Type: application/fhir+json", f"Content-Length: {len(body)}",
             "Connection: close"]
    return _send(server, "\r\n".join(lines) + "\r\n", body)


@pytest.mark.parametrize("hosts", [[], ["127.0.0.1", "evil.example"]])
def test_an_http_1_1_request_without_one_host_is_400_and_creates_nothing(
        server, client, issuer, hosts):
    before = client.get("/Patient", params={"_summary": "count"}).json()["total"]
    status, headers, body = _post(server, issuer, "1.1", hosts)
    assert status == 400, body
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    assert f"{len(hosts)} Host headers" in outcome["issue"][0]["diagnostics"]
    assert client.get("/Patient", params={"_summary": "count"}).json()["total"] == before


@pytest.mark.parametrize("host", ["a b", "user@127.0.0.1", "127.0.0.1/fhir", "x:80a"])
def test_a_host_that_is_no_host_and_port_is_400(server, issuer, host):
    """RFC 9112 §3.2: a Host field with an invalid value MUST be 400."""
    status, _, body = _post(server, issuer, "1.1", [host])
    assert status == 400, body
    assert "is no host and port" in json.loads(body)["issue"][0]["diagnostics"]


@pytest.mark.parametrize("host", ["", "[::1]:8080", "fhir.benhvien.vn", "xn--bnh-vin-6xa.vn:443"])
def test_a_host_of_any_valid_form_is_served(server, issuer, host):
    assert _post(server, issuer, "1.1", [host])[0] == 201


def test_an_http_1_0_request_may_leave_host_out_but_not_repeat_it(server, issuer):
    assert _post(server, issuer, "1.0", [])[0] == 201
    assert _post(server, issuer, "1.0", ["a", "b"])[0] == 400
    assert _post(server, issuer, "1.1", ["127.0.0.1"])[0] == 201


@pytest.mark.parametrize("field, values", [
    ("Content-Type", ["application/fhir+json", "text/plain"]),
    ("Content-Type", ["application/fhir+xml", "application/fhir+json"]),
    ("If-None-Exist", ["identifier=urn:x|1", "identifier=urn:x|2"]),
])
def test_a_field_that_is_no_list_sent_twice_is_400_and_creates_nothing(
        server, client, issuer, field, values):
    body = json.dumps(patient_resource()).encode()
    fields = {"Content-Type": ["application/fhir+json"], field: values}
    lines = ["POST /fhir/Patient HTTP/1.1", "Host: 127.0.0.1", "Accept: application/fhir+json",
             f"Authorization: Bearer {issuer.token()}", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, given in fields.items() for value in given)]
    before = client.get("/Patient", params={"_summary": "count"}).json()["total"]
    status, _, answer = _send(server, "\r\n".join(lines) + "\r\n", body)
    assert status == 400, answer
    assert f"2 {field} headers" in json.loads(answer)["issue"][0]["diagnostics"]
    assert client.get("/Patient", params={"_summary": "count"}).json()["total"] == before


@pytest.mark.parametrize("codings", ["gzip, chunked", "deflate,chunked"])
def test_a_body_in_a_transfer_coding_not_implemented_is_501_and_creates_nothing(
        server, client, issuer, codings):
    """RFC 9112 §6.1: a transfer coding the server does not understand SHOULD be 501; the
    chunks were taken out and the gzipped bytes read as the body."""
    body = gzip.compress(json.dumps(patient_resource()).encode())
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    lines = ["POST /fhir/Patient HTTP/1.1", "Host: 127.0.0.1", "Accept: application/fhir+json",
             f"Authorization: Bearer {issuer.token()}", "Content-Type: application/fhir+json",
             f"Transfer-Encoding: {codings}"]
    before = client.get("/Patient", params={"_summary": "count"}).json()["total"]
    status, headers, answer = _send(server, "\r\n".join(lines) + "\r\n", chunked)
    assert status == 501, answer
    assert "is not implemented" in json.loads(answer)["issue"][0]["diagnostics"]
    assert client.get("/Patient", params={"_summary": "count"}).json()["total"] == before


def test_an_http_1_0_request_with_a_transfer_coding_is_400_and_creates_nothing(
        server, client, issuer):
    """RFC 9112 §6.1: framing by Transfer-Encoding in an HTTP/1.0 message MUST be taken as
    faulty, and the connection closed; the chunked body was read and stored."""
    body = json.dumps(patient_resource()).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    lines = ["POST /fhir/Patient HTTP/1.0", "Host: 127.0.0.1", "Accept: application/fhir+json",
             f"Authorization: Bearer {issuer.token()}", "Content-Type: application/fhir+json",
             "Transfer-Encoding: chunked"]
    before = client.get("/Patient", params={"_summary": "count"}).json()["total"]
    status, headers, answer = _send(server, "\r\n".join(lines) + "\r\n", chunked)
    assert status == 400, answer
    assert headers["connection"] == "close"
    assert "HTTP/1.0" in json.loads(answer)["issue"][0]["diagnostics"]
    assert client.get("/Patient", params={"_summary": "count"}).json()["total"] == before
