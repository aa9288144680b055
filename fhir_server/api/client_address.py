"""The address of the client behind a request: the direct peer, or, when that peer is one
of FHIR_TRUSTED_PROXIES, what those proxies wrote into X-Forwarded-For. A header from any
other peer is the client's own claim and is ignored (audit trail, rate limits)."""

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies)


def trusted_networks(proxies: Iterable[str]) -> tuple[Network, ...]:
    """The configured proxies as networks, parsed once (Settings refused any entry that is
    no IP address or network before the server started)."""
    return _networks(tuple(proxies))


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through a dual-stack socket is still that IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_address(request: HTTPConnection) -> str | None:
    """The direct peer; or, if the peer is a trusted proxy, the right-most X-Forwarded-For
    entry that is not itself a trusted proxy (each proxy appends the address it saw, so
    everything left of that entry was written by the client and can be forged). A header
    with an entry that is no IP address is ignored as a whole."""
    peer = request.client.host if request.client else None
    if peer is None:
        return None
    networks = trusted_networks(request.app.state.settings.trusted_proxies)
    if not networks:  # no proxy is trusted: the peer is the client
        return peer
    peer_address = _address(peer)
    if peer_address is None or not _trusted(peer_address, networks):
        return peer
    entries = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
    chain: list[Address] = []
    for entry in entries:
        if entry.strip():
            address = _address(entry)
            if address is None:
                return peer
            chain.append(address)
    if not chain:
        return peer
    for address in reversed(chain):
        if not _trusted(address, networks):
            return str(address)
    # Every hop is a trusted proxy: the farthest one is the nearest thing to a client.
    return str(chain[0])
