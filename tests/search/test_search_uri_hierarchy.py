"""`:below` and `:above` on uri parameters (http://hl7.org/fhir/R4/search.html#uri): "the
:above and :below modifiers only apply to URLs, and not URNs such as OIDs", so a URN with
either is 400 (`urn:oid:1.2.3` is no parent of `urn:oid:1.2.34`, which a left match took for
its child); on a URL, `:below` "will return any value sets that have a URL that starts with"
the value (#modifiers: "the search term left-matches the value").
"""

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from search.helpers import assert_bad_parameter, expected, found, load

TAG = uuid.uuid4().hex
ROOT = "http://acme.org/fhir"
URLS = {
    "root": ROOT,
    "value_sets": f"{ROOT}/ValueSet",
    "vs123": f"{ROOT}/ValueSet/123",
    "vs1234": f"{ROOT}/ValueSet/1234",
    "other_host": "http://acme.org.vn/fhir/ValueSet",
    "oid": "urn:oid:1.2.3",
    "longer_oid": "urn:oid:1.2.34",
}


def _value_set(url: str) -> dict:
    return {"resourceType": "ValueSet", "status": "draft", "url": url,
            "meta": {"tag": [{"system": "urn:test", "code": TAG}]}}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, {key: _value_set(url) for key, url in URLS.items()})


def _search(client, modifier: str, value: str) -> set[str]:
    return found(client, "/ValueSet", {f"url:{modifier}": value, "_tag": f"urn:test|{TAG}"})


_URLS = sorted(url for url in URLS.values() if not url.startswith("urn:"))


@settings(max_examples=30, deadline=None)
@given(value=st.one_of(
    st.sampled_from(_URLS),
    st.builds(lambda url, cut: url[:cut], st.sampled_from(_URLS),
              st.integers(min_value=8, max_value=40)),
    st.builds(lambda url, tail: url + tail, st.sampled_from(_URLS),
              st.sampled_from(["/", "X", "/1", "3"]))))
def test_below_a_url_is_what_starts_with_it(client, ids, value):
    assert _search(client, "below", value) == expected(
        ids, {key for key, url in URLS.items() if url.startswith(value)})


@pytest.mark.parametrize("modifier", ["below", "above"])
@pytest.mark.parametrize("value", ["urn:oid:1.2.3", "URN:OID:1.2.3.4", "urn:uuid:0f1e"])
def test_a_urn_has_no_hierarchy_to_search(client, ids, modifier, value):
    response = client.get("/ValueSet", params={f"url:{modifier}": value})
    assert_bad_parameter(response, f"url:{modifier}")


def test_a_urn_is_searched_as_itself(client, ids):
    assert _search(client, "missing", "false") == expected(ids, set(URLS))
    assert found(client, "/ValueSet", {"url": "urn:oid:1.2.3", "_tag": f"urn:test|{TAG}"}) == (
        expected(ids, {"oid"}))
