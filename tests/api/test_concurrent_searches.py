"""Searches answered at the same time share MongoDB queries (storage/coalesced_finds.py):
each client must still get exactly the page it gets when it searches alone, whatever the
others ask (other types, filters, sorts, includes, chains, pages of `next` links)."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from helpers import created, new_patient, unique_system
from prometheus_client import REGISTRY


@pytest.fixture(scope="module")
def records(client) -> str:
    """Patients of one family (a system of their own) with encounters of two classes."""
    system = unique_system()
    for n in range(6):
        patient = created(client, new_patient(
            meta={"tag": [{"system": system, "code": "t"}]},
            name=[{"family": f"Trần{n}", "given": ["Thị", "Lan"]}],
            identifier=[{"system": system, "value": f"v{n}"}], birthDate=f"19{60 + n}-0{1 + n}-15"))
        for visit in range(n % 3 + 1):
            created(client, {
                "resourceType": "Encounter", "status": "finished",
                "meta": {"tag": [{"system": system, "code": "t"}]},
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                          "code": "AMB" if visit % 2 else "IMP"},
                "identifier": [{"system": system, "value": f"e{n}-{visit}"}],
                "subject": {"reference": f"Patient/{patient['id']}"},
                "period": {"start": f"202{visit}-0{1 + n}-0{1 + visit}"}})
    return system


def _searches(system: str) -> list[str]:
    """Narrowed by an equality (a tag, an identifier), as the searches that share queries."""
    return [
        f"Patient?identifier={system}|v{n}" for n in range(6)] + [
        f"Patient?_tag={system}|t&_sort=-birthdate&_count=4",
        f"Patient?_tag={system}|t&_sort=family&_count=2",
        f"Encounter?_tag={system}|t&_sort=date,-_id",
        f"Encounter?_tag={system}|t&class=AMB&_include=Encounter:subject",
        f"Patient?identifier={system}|v2&_revinclude=Encounter:subject",
        f"Encounter?subject:Patient.identifier={system}|v5&_sort=-date",
        f"Encounter?_tag={system}|t&_count=3",
        f"Patient?_tag={system}|t&_summary=count",
        f"Patient?_tag={system}|t&_elements=birthDate&_sort=birthdate",
        f"Encounter?_tag={system}|t&identifier={system}|nobody",
    ]


def _page(http: httpx.Client, url: str) -> tuple:
    """What the page holds, then the pages its `next` links lead to."""
    pages = []
    while url:
        response = http.get(url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        pages.append((bundle.get("total"),
                       [(entry["fullUrl"], entry["search"]["mode"], entry["resource"])
                        for entry in bundle.get("entry", [])]))
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), "")
    return tuple(pages)


def _sent() -> tuple[float, float]:
    """The find and aggregate commands sent so far (this process's servers)."""
    return tuple(REGISTRY.get_sample_value("fhir_mongodb_commands_total", {"command": name})
                 or 0 for name in ("find", "aggregate"))


def test_searches_at_the_same_time_answer_as_each_alone(client, records):
    searches = _searches(records) * 4
    before = _sent()
    alone = {url: _page(client, url) for url in dict.fromkeys(searches)}
    middle = _sent()
    assert [len(alone[url][0][1]) for url in searches[:6]] == [1] * 6
    assert sum(len(page[1]) for page in alone[searches[12]]) == 12  # all encounters, 3 a page
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda url: _page(client, url), searches))
    assert together == [alone[url] for url in searches]
    # Four times the searches, not four times the commands: some went in unions (aggregates,
    # beside the counts of `_summary=count`).
    (finds, aggregates), after = (m - b for m, b in zip(middle, before, strict=True)), _sent()
    assert after[1] - middle[1] > 4 * aggregates
    assert sum(after) - sum(middle) < 4 * (finds + aggregates)
