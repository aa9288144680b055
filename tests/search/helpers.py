"""Builders and checks shared by the HTTP search tests (http://hl7.org/fhir/R4/search.html).

Imported as `search.helpers` (and the API helpers as `api.helpers`): the tests directory is
on `sys.path`, and a bare `helpers` would be whichever of tests/api or tests/search came first.
"""

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qsl, urlsplit

import httpx
from api.helpers import FHIR_HEADERS, next_link
from hypothesis import strategies as st

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
GENDER = "http://hl7.org/fhir/administrative-gender"
SUBSETTED = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")
NAMESPACE = uuid.UUID("6f1c1d52-4d7e-4e43-9a53-5e1f0c2b7a10")
_LOCATION = re.compile(r"(?P<type>[A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})/_history/\d+$")

Params = Mapping[str, str] | Sequence[tuple[str, str]] | None
# A decimal digit of a script other than ASCII (Arabic-Indic `١`, full-width `１`, ...), which
# Python's `int`, `Decimal` and regex `\d` take and FHIR's grammars do not (datatypes.html).
OTHER_DIGITS = st.characters(categories=["Nd"]).filter(lambda digit: not digit.isascii())


def urn(key: str) -> str:
    """The transaction-local `urn:uuid:` of the resource a data set names `key`."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, key)}"


def ref(key: str, **extra: str) -> dict:
    """A Reference to the data-set resource `key`, resolved by the transaction."""
    return {"reference": urn(key), **extra}


def load(client: httpx.Client, resources: Mapping[str, dict]) -> dict[str, str]:
    """POST the resources in one transaction Bundle; return key → server-assigned id."""
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": urn(key), "resource": resource,
             "request": {"method": "POST", "url": resource["resourceType"]}}
            for key, resource in resources.items()
        ],
    }
    response = client.post("", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    ids = {}
    for key, entry in zip(resources, response.json()["entry"], strict=True):
        assert entry["response"]["status"].startswith("201"), entry
        location = _LOCATION.search(entry["response"]["location"])
        assert location is not None, entry
        assert location["type"] == resources[key]["resourceType"], entry
        ids[key] = location["id"]
    return ids


def search(client: httpx.Client, path: str, params: Params = None,
           headers: Mapping[str, str] | None = None) -> dict:
    """One GET search page, checked to be a searchset Bundle."""
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, (response.status_code, response.text)
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset", bundle
    return bundle


def matches(bundle: dict) -> list[dict]:
    """The resources of the entries with search.mode = match, in order."""
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def included(bundle: dict) -> list[dict]:
    """The included resources, but for the signed Provenance the server writes with every
    write (a `_revinclude=Provenance:target` brings them along with the tests' own)."""
    return [e["resource"] for e in bundle.get("entry", [])
            if e["search"]["mode"] == "include" and not server_provenance(e["resource"])]


def server_provenance(resource: dict) -> bool:
    return resource["resourceType"] == "Provenance" and any(
        s.get("sigFormat") == "application/jose" for s in resource.get("signature", []))


def paged(client: httpx.Client, path: str, params: Params = None,
          headers: Mapping[str, str] | None = None, max_pages: int = 100) -> list[dict]:
    """Every page of a search, following `next` links until there is none."""
    pages = [search(client, path, params, headers)]
    while (link := next_link(pages[-1])) is not None:
        assert len(pages) < max_pages, "paging does not end"
        pages.append(search(client, link, headers=headers))
    return pages


def ordered_ids(client: httpx.Client, path: str, params: Params = None,
                headers: Mapping[str, str] | None = None) -> list[str]:
    """The ids of all matches over all pages, in the order the server returned them."""
    return [r["id"] for page in paged(client, path, params, headers) for r in matches(page)]


def found(client: httpx.Client, path: str, params: Params = None,
          headers: Mapping[str, str] | None = None) -> set[str]:
    """The set of matching ids over all pages; a match returned twice is an error."""
    ids = ordered_ids(client, path, params, headers)
    assert len(ids) == len(set(ids)), f"a match was returned more than once: {ids}"
    return set(ids)


def expected(ids: Mapping[str, str], keys: Iterable[str]) -> set[str]:
    """The server ids of the data-set resources named by `keys`."""
    return {ids[key] for key in keys}


def fill(template: str, ids: Mapping[str, str], **more: str) -> str:
    """A query value with `{key}` placeholders replaced by server ids (and `more`)."""
    return template.format(**ids, **more)


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def self_link(bundle: dict) -> str:
    links = [link["url"] for link in bundle.get("link", []) if link["relation"] == "self"]
    assert len(links) == 1, bundle.get("link")
    return links[0]


def has_tag(resource: dict, system: str, code: str) -> bool:
    return any(t.get("system") == system and t.get("code") == code
               for t in resource.get("meta", {}).get("tag", []))


def assert_bad_parameter(response: httpx.Response, name: str) -> dict:
    """A 400 OperationOutcome whose error issue names the parameter in its diagnostics or
    expression (http://hl7.org/fhir/R4/search.html#errors)."""
    assert response.status_code == 400, (response.status_code, response.text)
    assert "Traceback" not in response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    errors = [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
    assert errors, outcome
    assert any(name in i.get("diagnostics", "") or any(name in e for e in i.get("expression", []))
               for i in errors), outcome
    return outcome
