"""A refused bearer token's OperationOutcome says which part of the token is wrong in the
token's terms (RFC 7515 §7.1, RFC 7519 §7.2), not in the words of the server's code."""

import base64

import httpx
import pytest

from security.helpers import assert_unauthorized, bearer


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


HEADER = _b64(b'{"alg": "ES256", "typ": "JWT"}')


@pytest.mark.parametrize(("token", "part"), [
    # "Invalid header string: 'utf-8' codec can't decode byte 0xb7 in position 1: ..."
    ("abc.def.ghi", "its header, the first part, is not the base64url encoding of a JSON"),
    (f"{_b64(b'not json')}.{_b64(b'{}')}.c2ln", "its header, the first part"),
    # "Invalid payload string: Expecting value: line 1 column 1 (char 0)"
    (f"{HEADER}.{_b64(b'not json')}.c2ln", "its payload, the second part, is not the base64url"),
    (f"{HEADER}.{_b64(bytes([0xff, 0xfe]))}.c2ln", "its payload, the second part"),
])
def test_a_malformed_token_is_refused_naming_its_part(server, token, part):
    response = httpx.get(f"{server.base}/Patient", headers=bearer(token), timeout=30)
    diagnostics = assert_unauthorized(response)["issue"][0]["diagnostics"]
    assert part in diagnostics, diagnostics
    for internal in ("codec", "Expecting value", "char 0", "position"):
        assert internal not in diagnostics, diagnostics
