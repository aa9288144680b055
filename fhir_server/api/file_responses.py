"""File downloads that resume and compress (RFC 9110): one byte range of the identity
representation (§14, https://www.rfc-editor.org/rfc/rfc9110#section-14) under `If-Range`
(§13.1.5), or the whole file in the gzip content coding when `Accept-Encoding` allows it
(§12.5.3). Bodies are streamed in chunks: a file is never held whole in memory."""

import hashlib
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from fhir_server.api.media import FhirResponse, field_list
from fhir_server.services.versions import named_by

# (start, length) → those bytes of the file, in chunks.
Reader = Callable[[int, int], Iterator[bytes]]

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)
_HUGE = 10**18  # beyond any file; keeps int() off thousands of digits


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as Content-Range says it

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(ValueError):
    """The range starts past the end of the file (or is an empty suffix)."""


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _HUGE


def byte_range(header: str, total: int) -> ByteRange | None:
    """The range a `Range` header asks for in a file of `total` bytes (RFC 9110 §14.1.2);
    None when the whole file is sent instead: other units, malformed, or several ranges
    (answered with the whole file rather than multipart/byteranges)."""
    match = _RANGE.fullmatch(header)
    if match is None:
        return None
    first, last = match.groups()
    if first:
        start = _number(first)
        end = _number(last) if last else total - 1
        if end < start and last:
            return None  # invalid: ignored, as §14.2 allows
        if start >= total:
            raise RangeNotSatisfiable(header)
        return ByteRange(start, min(end, total - 1))
    if not last:
        return None
    suffix = _number(last)
    if suffix == 0 or total == 0:
        raise RangeNotSatisfiable(header)
    return ByteRange(max(total - suffix, 0), total - 1)


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0  # unreadable weight: do not rely on the coding
    return 1.0


def accepts_gzip(header: str | None) -> bool:
    """Whether `Accept-Encoding` lets the gzip coding be used (RFC 9110 §12.5.3): `gzip`
    (or `x-gzip`, else `*`) listed with a non-zero weight."""
    weights: dict[str, float] = {}
    for member in (header or "").split(","):
        coding, _, parameters = member.partition(";")
        weights.setdefault(coding.strip().lower(), _quality(parameters))
    for coding in ("gzip", "x-gzip", "*"):
        if coding in weights:
            return weights[coding] > 0
    return False


def entity_tag(*identity: str) -> str:
    """A strong ETag for content that never changes once named by `identity`."""
    return '"' + hashlib.sha256("\0".join(identity).encode()).hexdigest()[:32] + '"'


def gzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The gzip coding of a stream, compressed chunk by chunk."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        if packed := compressor.compress(chunk):
            yield packed
    yield compressor.flush()


def _send(request: Request, body: Iterator[bytes], status: int, media_type: str,
          headers: dict[str, str]) -> Response:
    if request.method == "HEAD":  # the headers GET would send, no body
        response = Response(None, status, headers, media_type)
        if "Content-Length" not in headers:
            del response.headers["content-length"]
        return response
    return StreamingResponse(body, status, headers, media_type)


def file_response(request: Request, read: Reader, total: int, media_type: str, etag: str,
                  headers: dict[str, str]) -> Response:
    """A file of `total` bytes as the request asks: one range of its plain bytes (206, or
    416 outside it), even when gzip is also accepted; else whole, gzipped if accepted."""
    common = {**headers, "Accept-Ranges": "bytes", "ETag": etag, "Vary": "Accept-Encoding"}
    if named_by(field_list(request, "if-none-match"), etag.strip('"')):
        return Response(None, 304, common)  # RFC 9110 §13.1.2: the client has it
    asked = request.headers.get("range")
    validator = request.headers.get("if-range")
    if asked is not None and (validator is None or validator.strip() == etag):
        try:
            part = byte_range(asked, total)
        except RangeNotSatisfiable:
            outcome = {"resourceType": "OperationOutcome", "issue": [{
                "severity": "error", "code": "invalid",
                "diagnostics": f"Range {asked!r} is outside the file's {total} bytes"}]}
            return FhirResponse(request, outcome, 416,
                                {**common, "Content-Range": f"bytes */{total}"})
        if part is not None:
            content_range = f"bytes {part.start}-{part.end}/{total}"
            return _send(request, read(part.start, part.length), 206, media_type,
                         {**common, "Content-Range": content_range,
                          "Content-Length": str(part.length)})
    if accepts_gzip(field_list(request, "accept-encoding")):
        return _send(request, gzipped(read(0, total)), 200, media_type,
                     {**common, "Content-Encoding": "gzip"})
    return _send(request, read(0, total), 200, media_type,
                 {**common, "Content-Length": str(total)})
