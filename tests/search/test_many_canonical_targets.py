"""Chains and `_revinclude` reaching more than a thousand canonical resources (the shipped
packages alone store about 965 CodeSystems): the canonical references are matched per url,
not by one alternation regex, which MongoDB refused as too large past ~650 urls (a 500)."""

import pytest
from search.helpers import expected, found, load

LIBRARIES = 1100
BASE = "http://fhir.hl7.org.vn/core/Library/thu-vien"


def _url(number: int) -> str:
    return f"{BASE}-{number:04}"


def _measure(*library: str) -> dict:
    return {"resourceType": "Measure", "status": "active", "library": list(library)}


DATA = {
    **{f"library{n}": {"resourceType": "Library", "url": _url(n), "version": "1",
                       "status": "active", "type": {"coding": [{"code": "logic-library"}]}}
       for n in range(LIBRARIES)},
    "bare": _measure(_url(3)),  # no version: every version of the url
    "pinned": _measure(f"{_url(7)}|1"),
    "other_version": _measure(f"{_url(9)}|2"),  # no Library has version 2
    # The bare url counts, though another url of the Measure is pinned to another version.
    "mixed": _measure(_url(11), f"{_url(12)}|2"),
}
REFERRING = {"bare", "pinned", "mixed"}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, DATA)


def test_a_chain_reaching_more_than_a_thousand_canonical_resources(client, ids):
    assert found(client, "/Measure", {"depends-on:Library.status": "active"}) == expected(
        ids, REFERRING)


def test_a_conditional_create_on_such_a_chain_is_refused_for_its_several_matches(client, ids):
    response = client.post("/Measure", json=_measure(_url(3)),
                           headers={"If-None-Exist": "depends-on:Library.status=active"})
    assert response.status_code == 412, response.text


def test_a_revinclude_of_a_thousand_canonical_resources(client, ids):
    response = client.get("/Library", params={"_revinclude": "Measure:depends-on",
                                              "_count": 1000, "_sort": "url"})
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert sum(e["search"]["mode"] == "match" for e in entries) == 1000
    included = {e["resource"]["id"] for e in entries if e["search"]["mode"] == "include"}
    assert included == expected(ids, REFERRING)
