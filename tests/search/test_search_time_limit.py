"""The time MongoDB may spend on the queries of one search (FHIR_SEARCH_TIME_LIMIT_SECONDS):
a search whose queries take longer is stopped by mongod (`maxTimeMS`, what is left of the
time for each query) and answered 400 `too-costly`, whichever read it was (a page of matches,
a count, a search across types in one order, the inner searches of chains); a search had no
limit: thirty `:not` lists of 300 values over 3,000 Observations ran 50 s on a loaded
machine, holding a mongod thread and the request all along.

The server under test allows 50 ms, which thirty `:contains` lists of 250 values over 150
patients (1.1 million regular expressions matched, about 0.3 s) take many times over, and a
hundred chains of twenty values each (a query of a few ms each) together.
"""

import httpx
import pytest
from search.helpers import load
from security.helpers import own_server

from fhir_server.api.media import FHIR_JSON

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def hurried(mongo_uri, request, tmp_path_factory, issuer):
    # `conftest` by name may be another directory's by now (security.helpers says why).
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    search_time_limit_seconds=0.05) as running, httpx.Client(
        base_url=running.base, timeout=120,
        headers={"Authorization": f"Bearer {issuer.token()}", "Accept": FHIR_JSON},
    ) as http:
        ids = load(http, {f"p{n}": {"resourceType": "Patient", "name": [{"family": f"Trần {n}"}]}
                          for n in range(150)})
        yield http, ids


def _costly_criteria() -> str:
    """Thirty `name:contains` lists of 250 values matching no one (a form of 55 KB)."""
    lists = [",".join(f"q{r}z{i}" for i in range(250)) for r in range(30)]
    return "&".join(f"name:contains={values}" for values in lists)


def _too_costly(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text[:300]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "too-costly"
    assert "stopped after 0.05 s" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("path", [
    "Patient/_search",  # a page of matches
    "Patient/_search?_summary=count",  # a count
    "_search?_type=Patient&_sort=family",  # across types in one order
    "_search?_type=Patient,Practitioner",  # type after type
])
def test_a_search_past_the_time_limit_is_too_costly(hurried, path):
    http, _ = hurried
    _too_costly(http.post(path, content=_costly_criteria(), headers=FORM))


def test_the_limit_is_of_all_the_queries_of_a_search(hurried):
    """A hundred chains, each a cheap inner search of its own, one after the other."""
    http, _ = hurried
    chains = [",".join(f"c{r}z{i}" for i in range(20)) for r in range(100)]
    form = "&".join(f"subject:Patient.name:contains={values}" for values in chains)
    _too_costly(http.post("Observation/_search", content=form, headers=FORM))


def test_searches_within_the_limit_are_answered(hurried):
    http, ids = hurried
    found = http.get("Patient", params={"_id": ids["p7"]})
    assert found.status_code == 200, found.text[:300]
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [ids["p7"]]


def _conditional_update(value: str) -> dict:
    return {"resource": {"resourceType": "Patient", "identifier": [
                {"system": "urn:limit-test", "value": value}]},
            "request": {"method": "PUT", "url": f"Patient?identifier=urn:limit-test|{value}"}}


def test_a_long_batch_checks_each_entry_within_a_limit_of_its_own(hurried):
    """A batch's conditional writes are looked up before they run, to refuse two of one
    resource (http.html#brules); the lookups shared one store, so past the limit's time
    (300 lookups of a ms or so each) the rest failed, and two conditional updates of one
    patient at the end went unchecked: both ran, the later overwriting the earlier."""
    http, _ = hurried
    made = http.post("Patient", json=_conditional_update("twice")["resource"],
                     headers={"Content-Type": FHIR_JSON})
    assert made.status_code == 201, made.text
    entries = [*(_conditional_update(f"v{n}") for n in range(300)),
               _conditional_update("twice"), _conditional_update("twice")]
    response = http.post("", json={"resourceType": "Bundle", "type": "batch", "entry": entries},
                         headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 200, response.text[:300]
    statuses = [entry["response"]["status"] for entry in response.json()["entry"]]
    assert statuses[-2:] == ["400 Bad Request"] * 2, statuses[-2:]
    assert http.get(f"Patient/{made.json()['id']}").json()["meta"]["versionId"] == "1"
