"""What is derived from the registry is cached until it changes, and bounded: the arguments
of such caches come from requests (a search's code systems, the codings a write holds)."""

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.conformance import code_systems
from fhir_server.conformance.definitions import Registry
from fhir_server.search.fhirpath import Node
from fhir_server.search.types import token


def test_a_cached_function_holds_a_bounded_number_of_results(monkeypatch):
    monkeypatch.setattr(code_systems, "_MOST_CACHED", 100)
    calls: list[int] = []

    @code_systems.per_registry
    def doubled(number: int) -> int:
        calls.append(number)
        return 2 * number

    assert [doubled(n) for n in range(100)] == [2 * n for n in range(100)]
    assert doubled(5) == 10 and len(calls) == 100  # held
    doubled(100)  # one more than it holds: it starts over
    assert doubled(5) == 10 and len(calls) == 102


def test_a_resource_added_to_the_registry_is_seen_by_cached_functions(monkeypatch):
    """A cache keeps a result while the registry is the same: one more resource (a package
    read, a registry built again) and it is worked out anew."""
    own = Registry()
    monkeypatch.setattr(code_systems, "registry", lambda: own)
    calls: list[str] = []

    @code_systems.per_registry
    def held(url: str) -> bool:
        calls.append(url)
        return own.resolve(url) is not None

    url = "http://example.org/fhir/CodeSystem/registry-cache-test"
    assert held(url) is False and held(url) is False and len(calls) == 1
    own.add({"resourceType": "CodeSystem", "url": url, "status": "active",
             "content": "complete"}, "registry-cache-test#1.0.0")
    assert held(url) is True and len(calls) == 2


_TEXT = st.one_of(st.none(), st.text(max_size=12), st.integers())


@given(st.lists(st.fixed_dictionaries({"system": _TEXT, "code": _TEXT, "display": _TEXT}),
                max_size=4))
def test_the_keys_of_a_coding_are_those_worked_out_anew(codings):
    """A coding's token keys from the cache are those its system, code and display give
    (as a held code system writes the code too), whatever was asked before."""
    nodes = [Node(coding, "Coding") for coding in codings]
    for _ in range(2):
        assert token.index(nodes) == sorted({
            key for coding in codings for key in token._keys_of_coding(
                coding["system"], coding["code"], coding["display"])})
