"""What the audit trail leaves out and whom it names as its source: the public discovery
document is not audited (README "Audit": load balancers poll it), and the observer is this
server as configured, never what a client's `Host` header says."""

from urllib.parse import urlsplit

from security.helpers import fhir_client, personal_id, wait_until

POLL_SECONDS = 10


def _event_of(client, response) -> dict | None:
    """The AuditEvent of a request (its id is the request's X-Request-Id), once stored."""
    request_id = response.headers["x-request-id"]

    def stored() -> dict | None:
        found = client.get(f"/AuditEvent/{request_id}")
        return found.json() if found.status_code == 200 else None

    return wait_until(stored, POLL_SECONDS)


def test_the_capability_statement_is_not_audited(server, issuer, client):
    """Each `/metadata` left an AuditEvent (subtype capabilities) since it was counted in
    the metrics as `capabilities`."""
    with fhir_client(server.base, issuer.token(subject=personal_id(1990))) as person, \
            fhir_client(server.base, None) as anonymous:
        polls = [person.get("/metadata"), anonymous.get("/metadata"),
                 person.get("/metadata", params={"mode": "terminology"})]
        assert [poll.status_code for poll in polls] == [200, 200, 200]
        # Spooled after the polls, so stored once they would have been.
        assert _event_of(client, person.get("/Patient", params={"_count": "1"}))
    for poll in polls:
        assert client.get(f"/AuditEvent/{poll.headers['x-request-id']}").status_code == 404


def test_the_observer_is_this_server_whatever_the_host_header_says(server, client):
    """A client wrote the trail's source: `Host: evil.example:444` was stored as the
    observer."""
    response = client.get("/Patient", params={"_count": "1"},
                          headers={"Host": "evil.example:444"})
    assert response.status_code == 200, response.text
    event = _event_of(client, response)
    assert event, "the search was not audited"
    configured = urlsplit(server.base)
    assert event["source"]["observer"] == {
        "display": f"{configured.scheme}://{configured.netloc}"}, event["source"]
