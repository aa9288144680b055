"""What HTTP asks of a request's header fields before anything reads them: an HTTP/1.1
request names its `Host` exactly once (RFC 9112 §3.2: a server MUST answer 400 to one
without it, or with more than one; llhttp, which serves, checks neither, h11 does)."""

from starlette.types import Scope

from fhir_server.errors import BadRequest


def check_request_head(scope: Scope) -> None:
    """400 for a request whose header fields HTTP does not allow."""
    hosts = sum(1 for name, _ in scope["headers"] if name == b"host")
    if hosts > 1 or (hosts == 0 and scope.get("http_version") == "1.1"):
        raise BadRequest(f"The request has {hosts} Host headers; an HTTP/1.1 request names "
                         "its Host exactly once (RFC 9112 §3.2)")
