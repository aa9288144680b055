"""A large response goes out as the client takes it in: the request holds its search page
(and its share of the pages in flight, storage/pages_in_flight.py) until then, so clients
that never read cannot each leave a whole page in the server's send buffers beyond that
bound (150 such clients took one worker to 2.4 GB). A client that reads gets the body
whole."""

import base64
import os
import socket
import time

import pytest
from api.helpers import created, new_patient

from fhir_server.storage import pages_in_flight
from security.helpers import raw_response, wait_until

DOCUMENTS = 12
RAW_BYTES = 900_000  # 1.2 MB of base64 each: a page of about 14 MB


@pytest.fixture(scope="module")
def subject(client) -> str:
    patient = created(client, new_patient())
    for _ in range(DOCUMENTS):
        data = base64.b64encode(os.urandom(RAW_BYTES)).decode()
        created(client, {"resourceType": "DocumentReference", "status": "current",
                         "subject": {"reference": f"Patient/{patient['id']}"},
                         "content": [{"attachment": {"contentType": "text/plain",
                                                     "data": data}}]})
    return f"Patient/{patient['id']}"


def _request(server, issuer, subject: str) -> bytes:
    host = server.base.split("//")[1].split("/")[0]
    return (f"GET /fhir/DocumentReference?subject={subject}&_count=100 HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {issuer.token()}\r\n"
            "Accept: application/fhir+json\r\n\r\n").encode()


def _connect(server) -> socket.socket:
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect(("127.0.0.1", server.port))
    return connection


def test_a_page_is_held_until_its_client_takes_it_in(server, issuer, subject):
    assert pages_in_flight._held_in_all[0] == 0
    unread = _connect(server)
    try:
        unread.sendall(_request(server, issuer, subject))
        assert wait_until(lambda: pages_in_flight._held_in_all[0] > 10 * RAW_BYTES, 20)
        time.sleep(2)  # the request is still waiting for the client, holding its page
        assert pages_in_flight._held_in_all[0] > 10 * RAW_BYTES
    finally:
        unread.close()
    assert wait_until(lambda: pages_in_flight._held_in_all[0] == 0, 20)


def test_a_reading_client_gets_the_whole_body(server, issuer, subject):
    with _connect(server) as reader:
        reader.sendall(_request(server, issuer, subject))
        status, headers, body = raw_response(reader)
    assert status == 200 and len(body) == int(headers["content-length"]) > 10 * RAW_BYTES
    assert body.endswith(b"}") and body.count(b'"resourceType":"DocumentReference"') == (
        DOCUMENTS)
