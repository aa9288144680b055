"""The client address: X-Forwarded-For counts only when the direct peer is a trusted proxy,
and then only its right-most entry that is not itself a trusted proxy."""

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from fhir_server.api.client_address import client_address
from fhir_server.settings import Settings

PROXIES = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]


def _request(peer: str | None, *forwarded: str, proxies: list[str] = PROXIES) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(settings=Settings(trusted_proxies=proxies)))
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/fhir/metadata",
        "headers": headers,
        "client": (peer, 50000) if peer is not None else None,
        "app": app,
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # No proxy configured in front: the header is the client's own claim.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        # One trusted proxy: what it saw.
        ("10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        # The client forged an entry; the proxy appended the real one.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        # Two trusted hops (one by network, one by address), in two header lines.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1", "192.0.2.7"], "198.51.100.1"),
        ("10.1.2.3", ["2001:db8::1, 2001:db9::5"], "2001:db9::5"),
        # Nothing usable: the peer.
        ("10.1.2.3", [], "10.1.2.3"),
        ("10.1.2.3", [" , "], "10.1.2.3"),
        ("10.1.2.3", ["198.51.100.1, not-an-address"], "10.1.2.3"),
        ("10.1.2.3", ["unknown"], "10.1.2.3"),
        # Only trusted hops: the farthest of them.
        ("10.1.2.3", ["10.9.9.9, 192.0.2.7"], "10.9.9.9"),
        # An IPv4 peer on a dual-stack socket is that IPv4 address.
        ("::ffff:10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        ("testclient", ["198.51.100.1"], "testclient"),
        (None, ["198.51.100.1"], None),
    ],
)
def test_forwarded_for_counts_only_behind_trusted_proxies(peer, forwarded, expected):
    assert client_address(_request(peer, *forwarded)) == expected


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_address(_request("127.0.0.1", "198.51.100.1", proxies=[])) == "127.0.0.1"


_LATIN1 = st.text(st.characters(max_codepoint=255), max_size=200)
_IPV4 = st.ip_addresses(v=4).map(str)
_UNTRUSTED_PEER = _IPV4.filter(lambda ip: not ip.startswith("10.") and ip != "192.0.2.7")


@given(peer=st.one_of(_IPV4, st.ip_addresses(v=6).map(str), _LATIN1), header=_LATIN1)
def test_any_header_never_raises(peer, header):
    assert isinstance(client_address(_request(peer, header)), str)


@given(peer=_UNTRUSTED_PEER, headers=st.lists(_LATIN1, max_size=3))
def test_an_untrusted_peer_is_the_client_whatever_it_sends(peer, headers):
    assert client_address(_request(peer, *headers)) == peer


@given(client=_UNTRUSTED_PEER, forged=st.lists(_IPV4, max_size=4))
def test_forged_entries_left_of_the_proxy_never_win(client, forged):
    header = ", ".join([*forged, client])
    assert client_address(_request("10.0.0.1", header)) == client
