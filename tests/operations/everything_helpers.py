"""What the `$everything` tests share: an Observation builder and the pages of an answer."""

from api.helpers import FHIR_HEADERS, next_link
from search.helpers import LOINC, ref


def observation(subject: str, code: str, when: dict | None = None, **more) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": ref(subject),
            **(when or {}), **more}


def everything_pages(http, url: str, params=None, method: str = "GET", body: dict | None = None):
    """Every page of an $everything answer, following `next`; each checked to be a non-empty
    searchset (the only empty answer allowed is a first page with nothing at all)."""
    if method == "POST":
        response = http.post(url, json=body, headers=FHIR_HEADERS)
    else:
        response = http.get(url, params=params)
    assert response.status_code == 200, response.text
    pages = [response.json()]
    while (link := next_link(pages[-1])) is not None:
        assert len(pages) < 200, "paging does not end"
        response = http.get(link)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    for page in pages:
        assert page["resourceType"] == "Bundle" and page["type"] == "searchset", page
        assert page.get("entry") or len(pages) == 1, f"an empty page: {page}"
    return pages


def page_entries(pages: list[dict]) -> list[dict]:
    """The resources of the pages (not the notes of what was left out: mode `outcome`)."""
    return [entry for page in pages for entry in page.get("entry", [])
            if entry.get("search", {}).get("mode") != "outcome"]


def page_outcomes(pages: list[dict]) -> list[str]:
    """The diagnostics of the pages' notes (mode `outcome`)."""
    return [issue["diagnostics"] for page in pages for entry in page.get("entry", [])
            if entry.get("search", {}).get("mode") == "outcome"
            for issue in entry["resource"]["issue"]]
