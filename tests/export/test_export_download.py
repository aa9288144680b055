"""Downloading export files over HTTP: gzip when the client accepts it, resumable byte
ranges (206/416, If-Range), for output and error files alike, and HEAD."""

import gzip
import uuid

import httpx
import pytest
from bulk_helpers import export, patient, transaction

PLAIN = {"Accept": "application/fhir+ndjson", "Accept-Encoding": "identity"}


@pytest.fixture(scope="module")
def export_settings() -> dict:
    return {"export_file_max_bytes": 4 * 1024 * 1024}


@pytest.fixture(scope="module")
def body(client) -> dict:
    # About 400 KB of Patients in one file: several 64 KiB chunks and storage reads.
    long_name = "Nguyễn Thị Minh Khai " * 400
    transaction(client, [patient(uuid.uuid4().hex, name=[{"text": long_name}])
                         for _ in range(45)])
    # The unreadable `_since` is ignored with a warning in an error file.
    return export(client, params={"_type": "Patient", "_since": "yesterday"},
                  Prefer="respond-async, handling=lenient")


@pytest.fixture(scope="module")
def url(body) -> str:
    [item] = body["output"]
    return item["url"]


@pytest.fixture(scope="module")
def whole(client, url) -> bytes:
    response = client.get(url, headers=PLAIN)
    assert response.status_code == 200, response.text
    assert "content-encoding" not in response.headers
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) == len(response.content) > 300_000
    return response.content


def raw(client: httpx.Client, url: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (httpx would decode gzip)."""
    with client.stream("GET", url, headers={"Accept": "application/fhir+ndjson",
                                            **headers}) as response:
        return response, b"".join(response.iter_raw())


def ranged(client: httpx.Client, url: str, spec: str, **headers: str) -> httpx.Response:
    return client.get(url, headers={**PLAIN, "Range": spec, **headers})


def test_gzip_download_decompresses_to_the_plain_bytes(client, url, whole):
    response, sent = raw(client, url, **{"Accept-Encoding": "gzip, deflate"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-type"] == "application/fhir+ndjson"
    assert len(sent) < len(whole)
    assert gzip.decompress(sent) == whole


def test_accept_encoding_on_two_lines_is_one_list(client, url, whole):
    """RFC 9110 §5.3: a field sent on several lines is one comma-separated list."""
    lines = [("Accept", "application/fhir+ndjson"), ("Accept-Encoding", "br"),
             ("Accept-Encoding", "gzip")]
    with client.stream("GET", url, headers=lines) as response:
        sent = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(sent) == whole


@pytest.mark.parametrize("accepted", ["gzip;q=0", "identity", "br, *;q=0", "deflate"])
def test_gzip_only_when_accepted(client, url, whole, accepted):
    response, sent = raw(client, url, **{"Accept-Encoding": accepted})
    assert "content-encoding" not in response.headers
    assert sent == whole


def test_a_download_resumes_where_it_stopped(client, url, whole):
    half = len(whole) // 2 + 123
    first = ranged(client, url, f"bytes=0-{half - 1}")
    assert first.status_code == 206
    assert first.headers["content-range"] == f"bytes 0-{half - 1}/{len(whole)}"
    assert first.headers["content-length"] == str(half)
    rest = ranged(client, url, f"bytes={half}-")
    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes {half}-{len(whole) - 1}/{len(whole)}"
    assert first.content + rest.content == whole


def test_ranges_of_the_plain_bytes_even_when_gzip_is_accepted(client, url, whole):
    response, sent = raw(client, url, Range="bytes=70000-300000",
                         **{"Accept-Encoding": "gzip"})
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert sent == whole[70000:300001]


@pytest.mark.parametrize(("spec", "start", "stop"), [
    ("bytes=-100", -100, None),
    ("bytes=-10000000", 0, None),
    ("bytes=5-5", 5, 6),
    ("bytes=262140-262150", 262140, 262151),
    ("bytes=1000-99999999", 1000, None),
])
def test_suffix_and_clamped_ranges(client, url, whole, spec, start, stop):
    response = ranged(client, url, spec)
    assert response.status_code == 206
    expected = whole[start:stop]
    first = len(whole) + start if start < 0 else start
    assert response.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(whole)}")
    assert response.content == expected


@pytest.mark.parametrize("spec", ["bytes=99999999-", "bytes=-0", "bytes=400000000-400000001"])
def test_a_range_outside_the_file_is_416(client, url, whole, spec):
    response = ranged(client, url, spec)
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(whole)}"
    assert response.json()["resourceType"] == "OperationOutcome"
    # What chose it: the caller's Accept-Encoding and the error's own (format, language).
    assert response.headers["vary"] == "Accept-Encoding, Accept, Accept-Language"


@pytest.mark.parametrize("spec", ["bytes=0-9,20-29", "items=0-9", "bytes=9-0", "bytes=x-"])
def test_several_or_unreadable_ranges_get_the_whole_file(client, url, whole, spec):
    response = ranged(client, url, spec)
    assert response.status_code == 200
    assert response.content == whole


def test_if_range_resumes_only_the_same_file(client, url, whole, body):
    etag = ranged(client, url, "bytes=0-0").headers["etag"]
    assert ranged(client, url, "bytes=10-19", **{"If-Range": etag}).content == whole[10:20]
    other_file = client.get(body["error"][0]["url"], headers=PLAIN).headers["etag"]
    for validator in (other_file, f"W/{etag}", "Wed, 21 Oct 2015 07:28:00 GMT"):
        response = ranged(client, url, "bytes=10-19", **{"If-Range": validator})
        assert response.status_code == 200 and response.content == whole


def test_error_files_resume_and_compress_too(client, body):
    url = body["error"][0]["url"]
    whole = client.get(url, headers=PLAIN).content
    assert b"_since" in whole
    head = ranged(client, url, "bytes=0-19")
    tail = ranged(client, url, "bytes=20-")
    assert (head.status_code, tail.status_code) == (206, 206)
    assert head.content + tail.content == whole
    assert ranged(client, url, "bytes=-5").content == whole[-5:]
    assert ranged(client, url, f"bytes={len(whole)}-").status_code == 416
    response, sent = raw(client, url, **{"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(sent) == whole


def test_head_sends_the_headers_only(client, url, whole):
    response = client.head(url, headers=PLAIN)
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(len(whole))
    assert response.headers["accept-ranges"] == "bytes"
    total = len(whole)
    partial = client.head(url, headers={**PLAIN, "Range": "bytes=-10"})
    assert partial.status_code == 206 and partial.content == b""
    assert partial.headers["content-range"] == f"bytes {total - 10}-{total - 1}/{total}"
    zipped = client.head(url, headers={**PLAIN, "Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-length" not in zipped.headers


def test_if_none_match_with_the_files_etag_is_304(client, url, whole, body):
    """A client that has the file already need not fetch it again (RFC 9110 §13.1.2)."""
    etag = client.get(url, headers=PLAIN).headers["etag"]
    for tags in (etag, f'W/{etag}, "other"', "*"):
        response = client.get(url, headers={**PLAIN, "If-None-Match": tags})
        assert response.status_code == 304 and response.content == b"", tags
        assert response.headers["etag"] == etag
    other_file = client.get(body["error"][0]["url"], headers=PLAIN).headers["etag"]
    response = client.get(url, headers={**PLAIN, "If-None-Match": other_file})
    assert response.status_code == 200 and response.content == whole
