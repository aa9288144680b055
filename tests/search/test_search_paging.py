"""Paging while other clients write (http://hl7.org/fhir/R4/search.html#count,
DESIGN.md §3 "pages never repeat or skip under concurrent writes"): a search paged with
`_count=3` is interleaved with creates of new matching resources that sort before and after
the cursor; every resource of the original set comes back exactly once, in sort order.

Data set: per test, nine Patients with their own tag; client-assigned ids (PUT) so that new
ones can be placed before and after the page boundary in `_id` order; distinct birth dates
for the same in birthdate order.
"""

import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest
from api.helpers import next_link, put
from search.helpers import matches, search

TAGS = "http://fhir.hl7.org.vn/core/CodeSystem/tags"


def _patient(tag: str, patient_id: str, birth: str) -> dict:
    return {"resourceType": "Patient", "id": patient_id, "birthDate": birth,
            "meta": {"tag": [{"system": TAGS, "code": tag}]},
            "name": [{"family": "Phân", "given": ["Trang"]}]}


def _store(client, tag: str, prefix: str, suffix: str, birth: str) -> str:
    patient_id = f"{prefix}-{suffix}"
    response = put(client, _patient(tag, patient_id, birth))
    assert response.status_code == 201, response.text
    return patient_id


@pytest.fixture
def tagged(client):
    tag = f"paging-{uuid.uuid4().hex[:10]}"
    prefix = uuid.uuid4().hex[:6]
    original = {_store(client, tag, prefix, f"{n}0", f"19{n}0-01-01"): f"19{n}0-01-01"
                for n in range(1, 10)}
    return tag, prefix, original


def _walk(client, params: dict, between_pages) -> list[dict]:
    """All matches over the pages, calling `between_pages(page_number, seen)` after each."""
    page = search(client, "/Patient", params)
    seen = list(matches(page))
    number = 1
    while (link := next_link(page)) is not None:
        assert number < 50, "paging does not end"
        between_pages(number, seen)
        page = search(client, link)
        assert len(matches(page)) <= 3
        seen += matches(page)
        number += 1
    return seen


def _check(seen: list[dict], original: dict) -> list[str]:
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids)), f"a resource was returned twice: {ids}"
    assert sorted(set(ids) & set(original)) == sorted(original), "an original one was skipped"
    return ids


def test_id_order_under_inserts_before_and_after_the_cursor(client, tagged):
    tag, prefix, original = tagged
    inserts = {1: ["05", "25", "55", "95"], 2: ["15", "35", "65", "75"], 3: ["45", "85"]}

    def insert(number, seen):
        for suffix in inserts.get(number, []):
            _store(client, tag, prefix, suffix, "2000-01-01")

    seen = _walk(client, {"_tag": f"{TAGS}|{tag}", "_sort": "_id", "_count": "3"}, insert)
    ids = _check(seen, original)
    assert ids == sorted(ids), "pages are not in _id order"


def test_birthdate_order_under_inserts_before_and_after_the_cursor(client, tagged):
    tag, prefix, original = tagged

    def insert(number, seen):
        _store(client, tag, prefix, f"a{number}", "1900-06-01")  # before every page
        _store(client, tag, prefix, f"b{number}", "1999-06-01")  # after every page
        _store(client, tag, prefix, f"c{number}", seen[-1]["birthDate"])  # at the cursor

    seen = _walk(client, {"_tag": f"{TAGS}|{tag}", "_sort": "birthdate", "_count": "3"},
                 insert)
    _check(seen, original)
    births = [r["birthDate"] for r in seen]
    assert births == sorted(births), "pages are not in birthdate order"


def test_descending_order_under_inserts(client, tagged):
    tag, prefix, original = tagged

    def insert(number, seen):
        _store(client, tag, prefix, f"{number}5", f"19{number}5-06-01")
        _store(client, tag, prefix, f"9{number}", "1999-01-01")

    seen = _walk(client, {"_tag": f"{TAGS}|{tag}", "_sort": "-birthdate", "_count": "3"},
                 insert)
    _check(seen, original)
    births = [r["birthDate"] for r in seen]
    assert births == sorted(births, reverse=True)


def test_default_order_under_inserts(client, tagged):
    tag, prefix, original = tagged

    def insert(number, seen):
        for suffix in (f"0{number}", f"9{number}", f"x{number}"):
            _store(client, tag, prefix, suffix, "2001-01-01")

    seen = _walk(client, {"_tag": f"{TAGS}|{tag}", "_count": "3"}, insert)
    _check(seen, original)


def test_a_cursor_belongs_to_its_search(client, tagged):
    """A `next` link's cursor pasted into a search in another order, or with other criteria,
    is a 400, not a page of that search resumed at a position that means nothing to it."""
    tag = tagged[0]
    page = search(client, "/Patient", {"_tag": f"{TAGS}|{tag}", "_sort": "birthdate",
                                       "_count": "3"})
    cursor = dict(parse_qsl(urlsplit(next_link(page)).query))["_cursor"]
    assert search(client, "/Patient", {"_tag": f"{TAGS}|{tag}", "_sort": "birthdate",
                                       "_cursor": cursor})["entry"]
    for other in ({"_sort": "-birthdate"}, {"_sort": "family"}, {"gender": "male"}):
        response = client.get("/Patient", params={"_tag": f"{TAGS}|{tag}", "_sort": "birthdate",
                                                  **other, "_cursor": cursor})
        assert response.status_code == 400, (other, response.text)
        assert "another search" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("stu3, r4", [("_sort:desc", "-birthdate"), ("_sort:asc", "birthdate")])
def test_stu3_sort_modifiers_order_as_r4s_prefix(client, tagged, stu3, r4):
    """`_sort:desc=birthdate` (STU3's form, which fhir.js writes and HAPI still reads) is
    `_sort=-birthdate`, and the self link shows R4's form; strict handling named `_sort`
    an unknown parameter."""
    tag, _, original = tagged
    for handling in ("lenient", "strict"):
        response = client.get("/Patient", params={"_tag": f"{TAGS}|{tag}", stu3: "birthdate"},
                              headers={"Prefer": f"handling={handling}"})
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert [r["birthDate"] for r in matches(bundle)] == sorted(
            original.values(), reverse=r4.startswith("-"))
        self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
        assert ("_sort", r4) in parse_qsl(urlsplit(self_link).query)


@pytest.mark.parametrize("name", ["_count:exact", "_sort:text", "_summary:x", "_total:missing"])
def test_a_result_parameter_with_a_modifier_is_400_naming_the_modifier(client, name):
    """Not a filter to ignore when lenient (a page of another size or order than asked)."""
    for handling in ("lenient", "strict"):
        response = client.get("/Patient", params={name: "1"},
                              headers={"Prefer": f"handling={handling}"})
        assert response.status_code == 400, response.text
        assert response.json()["issue"][0]["diagnostics"] == f"Unknown modifier in '{name}'"
