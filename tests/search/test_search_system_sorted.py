"""A search of several types with `_sort` (search-system and `Patient/123/*`) gives its
matches in one order across the types, as HAPI and Firely do, not one type after another:
`GET [base]?_type=...&_sort=-_lastUpdated` lists the latest changes of every type first.
Pages neither repeat nor skip, ties of the sort keys (one transaction's resources share
their `lastUpdated`; the same id in two types) included.

Data set: a tag of this module's own on Patients, Practitioners and Observations, created
one request at a time in an order that mixes the types, and two resources of one id."""

import uuid

import pytest
from api.helpers import FHIR_HEADERS, next_link
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TAG_SYSTEM = "http://benhvien-bachmai.vn/fhir/tag"
TYPES = "Patient,Practitioner,Observation"


@pytest.fixture(scope="module")
def tag() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
def created(client, tag) -> list[tuple[str, str, str]]:
    """(type, id, lastUpdated) of each resource, in the order they were written."""
    meta = {"tag": [{"system": TAG_SYSTEM, "code": tag}]}
    patient = {"resourceType": "Patient", "meta": meta, "name": [{"family": "Trần"}]}
    practitioner = {"resourceType": "Practitioner", "meta": meta, "name": [{"family": "Lê"}]}
    written = []
    for resource in (patient, practitioner, patient, practitioner, patient):
        response = client.post(f"/{resource['resourceType']}", json=resource,
                               headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text
        written.append(response.json())
    observation = {"resourceType": "Observation", "meta": meta, "status": "final",
                   "code": {"text": "mạch"},
                   "subject": {"reference": f"Patient/{written[0]['id']}"}}
    response = client.post("/Observation", json=observation, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    written.append(response.json())
    # One id in two types, written in one transaction: the same lastUpdated.
    shared = f"cung-{tag[:12]}"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {**resource, "id": shared},
         "request": {"method": "PUT", "url": f"{resource['resourceType']}/{shared}"}}
        for resource in (practitioner, patient)]}
    response = client.post("", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    for entry in response.json()["entry"]:
        assert entry["response"]["status"].startswith("201"), entry
    for kind in ("Practitioner", "Patient"):
        written.append(client.get(f"/{kind}/{shared}").json())
    return [(r["resourceType"], r["id"], r["meta"]["lastUpdated"]) for r in written]


def _matches(bundle: dict) -> list[tuple[str, str]]:
    return [(e["resource"]["resourceType"], e["resource"]["id"])
            for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _walk(client, path: str, params: dict) -> tuple[list[tuple[str, str]], list[dict]]:
    """The matches of every page, following `next` links, and the pages."""
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    pages = [response.json()]
    while (url := next_link(pages[-1])) is not None:
        assert len(pages) < 50, "the pages do not end"
        response = client.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return [match for page in pages for match in _matches(page)], pages


def _expected(created: list[tuple[str, str, str]], sort: str) -> list[tuple[str, str]]:
    """The order a `_sort` of `_lastUpdated` or `_id` gives (ties by id, then type)."""
    descending = sort.startswith("-")
    field = 2 if sort.lstrip("-") == "_lastUpdated" else 1
    rows = sorted(created, key=lambda row: (row[1], row[0]))
    rows = sorted(rows, key=lambda row: row[field], reverse=descending)
    return [(kind, resource_id) for kind, resource_id, _ in rows]


def test_latest_changes_of_every_type_first(client, tag, created):
    found, pages = _walk(client, "", {"_type": TYPES, "_tag": f"{TAG_SYSTEM}|{tag}",
                                      "_sort": "-_lastUpdated"})
    assert found == _expected(created, "-_lastUpdated")
    assert len(pages) == 1 and pages[0]["total"] == len(created)
    kinds = [kind for kind, _ in found]
    assert kinds != sorted(kinds), "not grouped by type"


def test_stu3_sort_modifier_in_one_order_too(client, tag, created):
    """`_sort:desc=_lastUpdated` (STU3's form) is R4's `_sort=-_lastUpdated`, across types
    as well (it was grouped by type, each type sorted on its own)."""
    found, _ = _walk(client, "", {"_type": TYPES, "_tag": f"{TAG_SYSTEM}|{tag}",
                                  "_sort:desc": "_lastUpdated"})
    assert found == _expected(created, "-_lastUpdated")


@settings(max_examples=20, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(sort=st.sampled_from(["_lastUpdated", "-_lastUpdated", "_id", "-_id"]),
       count=st.integers(1, 4))
def test_pages_in_one_order_neither_repeat_nor_skip(client, tag, created, sort, count):
    """Every page size gives the order of one page, ties across types included."""
    found, pages = _walk(client, "", {"_type": TYPES, "_tag": f"{TAG_SYSTEM}|{tag}",
                                      "_sort": sort, "_count": str(count)})
    assert found == _expected(created, sort), (sort, count)
    assert [len(_matches(page)) for page in pages[:-1]] == [count] * (len(pages) - 1)
    assert "total" not in pages[0] or pages[0]["total"] == len(created)


def test_compartment_of_every_type_in_one_order(client, created):
    """`Patient/123/*`: its Observation, then itself and the Provenance of its creation (of
    the same time, or later)."""
    patient = created[0][1]
    found, pages = _walk(client, f"/Patient/{patient}/*", {"_sort": "-_lastUpdated"})
    observation = next(row[1] for row in created if row[0] == "Observation")
    assert found[0] == ("Observation", observation)
    assert sorted(kind for kind, _ in found[1:]) == ["Patient", "Provenance"], found
    assert ("Patient", patient) in found
    updated = [e["resource"]["meta"]["lastUpdated"] for page in pages for e in page["entry"]]
    assert updated == sorted(updated, reverse=True)


def test_includes_of_each_type_once(client, tag, created):
    response = client.get("", params={
        "_type": "Observation,Patient", "_tag": f"{TAG_SYSTEM}|{tag}", "_sort": "_lastUpdated",
        "_include": "Observation:subject", "_revinclude": "Observation:subject"})
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    keys = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in entries]
    assert len(keys) == len(set(keys)), "each resource once"
    expected = [(kind, rid) for kind, rid in _expected(created, "_lastUpdated")
                if kind in ("Observation", "Patient")]
    assert _matches(response.json()) == expected


def test_a_cursor_of_another_search_is_refused(client, tag, created):
    params = {"_type": TYPES, "_tag": f"{TAG_SYSTEM}|{tag}", "_count": "1"}
    grouped = client.get("", params=params).json()
    sorted_page = client.get("", params={**params, "_sort": "_id"}).json()
    for page, other in ((grouped, {"_sort": "_id"}), (sorted_page, {"_sort": "-_id"})):
        cursor = next_link(page).split("_cursor=")[1].split("&")[0]
        response = client.get("", params={**params, **other, "_cursor": cursor})
        assert response.status_code == 400, response.text
        assert response.json()["resourceType"] == "OperationOutcome"


def test_a_sort_some_type_lacks_is_refused(client, tag):
    response = client.get("", params={"_type": TYPES, "_sort": "date"})
    assert response.status_code == 400, response.text
    assert "date" in response.text


@pytest.mark.parametrize("bundle_type", ["batch", "transaction"])
def test_as_a_bundle_entry(client, tag, created, bundle_type):
    """A GET entry of a batch, or of a transaction (read in its MongoDB transaction)."""
    url = f"?_type={TYPES}&_tag={TAG_SYSTEM}|{tag}&_sort=-_lastUpdated"
    bundle = {"resourceType": "Bundle", "type": bundle_type,
              "entry": [{"request": {"method": "GET", "url": url}}]}
    response = client.post("", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    [entry] = response.json()["entry"]
    assert entry["response"]["status"].startswith("200"), entry
    assert _matches(entry["resource"]) == _expected(created, "-_lastUpdated")
