"""A Binary's raw content is served in its own contentType, as stored
(http://hl7.org/fhir/R4/binary.html#rest): no charset the Binary does not name."""

import pytest


@pytest.mark.parametrize("content_type", ["text/plain", "text/csv", "text/html"])
def test_a_text_binary_without_a_charset_is_served_without_one(client, content_type):
    """A text/* contentType naming no charset was served as `text/plain; charset=utf-8`, so a
    document in another charset (Vietnamese in windows-1258, here `cà` in Latin-1) read as
    UTF-8 came out garbled; the bytes are the sender's, and so is the label."""
    legacy = "cà phê".encode("latin-1")
    created = client.post("/Binary", content=legacy, headers={"Content-Type": content_type})
    assert created.status_code == 201, created.text
    assert created.json()["contentType"] == content_type
    path = f"/Binary/{created.json()['id']}"
    for method, url in (("GET", path), ("HEAD", path), ("GET", f"{path}/_history/1")):
        raw = client.request(method, url, headers={"Accept": "*/*"})
        assert raw.status_code == 200, (method, url, raw.text)
        assert raw.headers["content-type"] == content_type, (method, url)
        assert raw.content == (legacy if method == "GET" else b"")


def test_a_charset_the_binary_names_is_kept(client):
    sent = "text/plain; charset=windows-1258"
    created = client.post("/Binary", content="Cà Mau".encode("cp1258"),
                          headers={"Content-Type": sent})
    assert created.status_code == 201, created.text
    raw = client.get(f"/Binary/{created.json()['id']}", headers={"Accept": "text/plain"})
    assert raw.status_code == 200, raw.text
    assert raw.headers["content-type"] == sent
    assert raw.content == "Cà Mau".encode("cp1258")


def test_a_binary_served_as_its_content_says_accept_chose_it(client):
    """Accept chooses between a Binary's own content and the Binary as FHIR, at one URL: a
    cache that stored the PDF must not hand it to a client asking for application/fhir+json
    (RFC 9110 §12.5.5). The raw content said no Vary, though its 304 and the FHIR form did."""
    created = client.post("/Binary", content=b"%PDF-1.4",
                          headers={"Content-Type": "application/pdf"})
    assert created.status_code == 201, created.text
    path = f"/Binary/{created.json()['id']}"
    for url in (path, f"{path}/_history/1"):
        raw = client.get(url, headers={"Accept": "application/pdf"})
        assert raw.status_code == 200 and raw.content == b"%PDF-1.4", raw.text
        assert raw.headers["vary"] == "Accept", raw.headers
