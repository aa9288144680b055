"""What HTTP asks of a request's header fields before anything reads them: an HTTP/1.1
request names its `Host` exactly once, as a host and port (RFC 9112 §3.2: a server MUST
answer 400 to one without it, with more than one, or with an invalid value; llhttp, which
serves, checks none of them, h11 the first two), and a
field that is no list comes once (RFC 9110 §5.3): of two `Content-Type`s, or two
`If-None-Exist` criteria, the first was read and the other ignored, a guess at what the
client meant. A body in a transfer coding other than chunked is 501 (RFC 9112 §6.1):
llhttp takes the chunks out and leaves the rest coded, so `gzip, chunked` was read as if
it were not compressed; an HTTP/1.0 request with any transfer coding is 400 (ibid.)."""

import re
from collections import Counter

from starlette.types import Scope

from fhir_server.errors import BadRequest, NotImplementedFeature

# Singleton fields a FHIR request's meaning turns on (Authorization: api/security.py).
_SINGLETONS = {b"content-type": "Content-Type", b"if-none-exist": "If-None-Exist",
               b"if-modified-since": "If-Modified-Since",
               b"if-unmodified-since": "If-Unmodified-Since"}


# Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP literal in brackets
# or a reg-name (an IPv4 address is one too), possibly empty.
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[\w.~!$&'()*+,;=:-]+\]"
                   rb"|[\w.~!$&'()*+,;=%-]*)(?::[0-9]*)?", re.ASCII)


def check_request_head(scope: Scope) -> None:
    """400 for a request whose header fields HTTP does not allow."""
    counts = Counter(name for name, _ in scope["headers"])
    hosts = counts[b"host"]
    if hosts > 1 or (hosts == 0 and scope.get("http_version") == "1.1"):
        raise BadRequest(f"The request has {hosts} Host headers; an HTTP/1.1 request names "
                         "its Host exactly once (RFC 9112 §3.2)")
    host = next((value for name, value in scope["headers"] if name == b"host"), b"")
    if not _HOST.fullmatch(host):
        raise BadRequest(f"The Host header '{host.decode('latin-1')}' is no host and port "
                         "(RFC 9112 §3.2: 400)")
    codings = [coding.split(";")[0].strip().lower()
               for name, value in scope["headers"] if name == b"transfer-encoding"
               for coding in value.decode("latin-1").split(",") if coding.strip()]
    if codings and scope.get("http_version") == "1.0":
        # RFC 9112 §6.1: HTTP/1.0 has no transfer codings; such framing MUST be taken as
        # faulty (a proxy of 1.0 would read the body otherwise: request smuggling).
        raise BadRequest("An HTTP/1.0 request cannot be sent with Transfer-Encoding; send "
                         "a Content-Length", headers={"Connection": "close"})
    if unknown := [coding for coding in codings if coding != "chunked"]:
        raise NotImplementedFeature(
            f"Transfer-Encoding {', '.join(unknown)} is not implemented; send the body "
            "chunked or with a Content-Length (a gzipped one with Content-Encoding: gzip)",
            headers={"Connection": "close"})
    for name, field in _SINGLETONS.items():
        if counts[name] > 1:
            raise BadRequest(f"The request has {counts[name]} {field} headers; send one "
                             "(RFC 9110 §5.3: the field is no list)")
