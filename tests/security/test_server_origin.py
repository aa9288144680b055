"""The server's own origin, which links, Locations and AuditEvent sources are built on, is
what Starlette's `base_url` gives for any Host header, scheme, socket and root path (it is
computed once per combination instead of once per request)."""

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from fhir_server.api.dependencies import server_origin

_HOSTS = st.one_of(
    st.none(),
    st.sampled_from([b"fhir.example.vn", b"fhir.example.vn:8443", b"[2001:db8::1]:80",
                     b"127.0.0.1:8080", b"", b"bad host", b"h:notaport"]),
    st.binary(max_size=40),
)
_SERVERS = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["127.0.0.1", "::1", "10.0.0.5", "fhir.local"]),
              st.sampled_from([80, 443, 8080])),
)


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=_HOSTS,
    server=_SERVERS,
    root_path=st.sampled_from(["", "/", "/api", "/api/", "/ứng-dụng"]),
)
def test_origin_is_starlettes_base_url(scheme, host, server, root_path):
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": scheme,
        "server": server,
        "root_path": root_path,
        "path": f"{root_path.rstrip('/')}/fhir/Patient",
        "query_string": b"_count=1",
        "headers": [] if host is None else [(b"host", host)],
    }
    expected = str(Request(scope).base_url).rstrip("/")
    assert server_origin(Request(scope)) == expected
    assert server_origin(Request(scope)) == expected  # and again, from the cache
