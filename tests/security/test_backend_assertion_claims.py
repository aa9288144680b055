"""The claims of a client assertion beyond its signature, and the token request's
`client_id`: a malformed `exp` (a string of digits, which PyJWT takes) is invalid_client,
not a 500; a `client_id` naming another client than the assertion's is refused (RFC 7521
§4.2: it MUST identify the same client), one naming it is accepted; a `typ` other than JWT
is refused."""

import time
import uuid

import jwt

from security.test_backend_services import (  # noqa: F401 (fixtures)
    request_token,
    rs_client,
    token_url,
    work,
)


def _refused(response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client", response.text


def test_an_exp_that_is_no_number_is_invalid_client(server, rs_client):  # noqa: F811
    exp = str(int(time.time()) + 200)
    _refused(request_token(server, rs_client.key.assertion(rs_client.id, token_url(server),
                                                           exp=exp)))


def test_a_client_id_must_name_the_assertions_client(server, rs_client):  # noqa: F811
    assertion = rs_client.key.assertion(rs_client.id, token_url(server))
    _refused(request_token(server, assertion, client_id="khach-khac"))
    other = rs_client.key.assertion(rs_client.id, token_url(server))
    assert request_token(server, other, client_id=rs_client.id).status_code == 200


def test_the_assertion_is_a_jwt_by_its_typ(server, rs_client):  # noqa: F811
    """SMART Backend Services: the header's `typ` is "Fixed value: JWT"; one left out is
    taken as JWT (RFC 7519 §5.1 makes it optional)."""
    key = rs_client.key
    now = int(time.time())
    claims = {"iss": rs_client.id, "sub": rs_client.id, "aud": token_url(server), "iat": now,
              "exp": now + 240}
    for typ, status in (("foo", 400), ("at+jwt", 400), ("jwt", 200), (None, 200)):
        header = {"kid": key.kid, "typ": typ}  # None: no typ at all
        assertion = jwt.encode(claims | {"jti": str(uuid.uuid4())}, key.private_key,
                               algorithm=key.alg, headers=header)
        assert request_token(server, assertion).status_code == status, typ
