"""Small builders and assertions shared by the HTTP API tests."""

import copy
import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from fhir_server.conformance.identifier_formats import PROVINCE_CODES

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
BHYT = "http://fhir.hl7.org.vn/core/sid/bhyt"
FHIR_HEADERS = {"Content-Type": FHIR_JSON}


# Every province code a CCCD number may begin with.
_PROVINCES = tuple(PROVINCE_CODES)


def unique_cccd(male: bool | None = None) -> str:
    """A well-formed 12-digit citizen identity number (province, century/sex digit, birth
    year, serial) that no other test uses; a man's (born 1900-1999) with `male`."""
    number = uuid.uuid4().int
    number, province = divmod(number, len(_PROVINCES))
    number, century = divmod(number, 2)  # born 1900-1999, male or female
    number, year = divmod(number, 100)
    serial = number % 10**6
    return f"{_PROVINCES[province]}{0 if male else century}{year:02d}{serial:06d}"


def unique_system() -> str:
    """An identifier system owned by one test (e.g. one hospital's MRNs)."""
    return f"http://benhvien-{uuid.uuid4().hex[:12]}.vn/fhir/sid/mrn"


def new_patient(value: str | None = None, system: str = CCCD, **extra) -> dict:
    """A realistic Vietnamese Patient with one identifier: a man, with a CCCD number of the
    birth year it gives (the server warns of a number that disagrees with the Patient)."""
    value = value or unique_cccd(male=True)
    born = 1985
    if system == CCCD and len(value) == 12 and value.isdigit():
        born = 1900 + 100 * (int(value[3]) // 2) + int(value[4:6])
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": system, "value": value}],
        "active": True,
        "name": [{"use": "official", "family": "Nguyễn", "given": ["Văn", "An"]}],
        "gender": "male",
        "birthDate": f"{born}-03-12",
        "address": [
            {"line": ["12 Phố Huế"], "district": "Hai Bà Trưng", "city": "Hà Nội",
             "country": "VN"}
        ],
    }
    patient.update(extra)
    return patient


def new_organization(name: str = "Bệnh viện Bạch Mai") -> dict:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": "http://fhir.hl7.org.vn/core/sid/bhyt-facility",
                        "value": unique_cccd()[:5]}],
        "active": True,
        "name": name,
    }


def create(client: httpx.Client, resource: dict, **headers: str) -> httpx.Response:
    return client.post(f"/{resource['resourceType']}", json=resource,
                       headers={**FHIR_HEADERS, **headers})


def created(client: httpx.Client, resource: dict) -> dict:
    """Create a resource, check the 201, and return the server's copy."""
    response = create(client, resource)
    assert response.status_code == 201, response.text
    return response.json()


def put(client: httpx.Client, resource: dict, **headers: str) -> httpx.Response:
    return client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource,
                      headers={**FHIR_HEADERS, **headers})


def patch(client: httpx.Client, path: str, operations: list, **headers: str) -> httpx.Response:
    return client.patch(path, json=operations, headers={"Content-Type": JSON_PATCH, **headers})


def assert_unchanged(client: httpx.Client, original: dict) -> None:
    """The Patient is still `original`, its first version."""
    read = client.get(f"/Patient/{original['id']}")
    assert read.status_code == 200
    assert read.json() == original
    assert read.headers["etag"] == 'W/"1"'


def without_meta(resource: dict) -> dict:
    """The resource minus the server-assigned id and meta.versionId/lastUpdated."""
    stripped = copy.deepcopy(resource)
    stripped.pop("id", None)
    meta = stripped.pop("meta", {})
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    if meta:
        stripped["meta"] = meta
    return stripped


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip()


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def http_date(response: httpx.Response) -> datetime:
    """The Last-Modified header, checked to be an RFC 1123 date in GMT."""
    value = response.headers["last-modified"]
    assert value.endswith(" GMT"), value
    moment = parsedate_to_datetime(value)
    assert moment.tzinfo is not None
    return moment.astimezone(UTC)


def assert_outcome(response: httpx.Response, status: int, code: str | None = None,
                   expression: str | None = None) -> dict:
    """A 4xx error answered with an error OperationOutcome (and no stack trace)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert "Traceback" not in response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    issue = outcome["issue"][0]
    assert issue["severity"] in ("error", "fatal"), outcome
    assert issue.get("diagnostics"), outcome
    if code is not None:
        assert issue["code"] == code, outcome
    if expression is not None:
        expressions = [e for i in outcome["issue"] for e in i.get("expression", [])]
        assert any(expression in e for e in expressions), outcome
    return outcome


def next_link(bundle: dict) -> str | None:
    links = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
    assert len(links) <= 1, bundle["link"]
    return links[0] if links else None


def all_pages(client: httpx.Client, url: str, params: dict | None = None,
              max_pages: int = 200) -> tuple[list[dict], int]:
    """Every entry reached by following `next` links, and the number of pages."""
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    entries, pages = [], 1
    bundle = response.json()
    entries += bundle.get("entry", [])
    while (link := next_link(bundle)) is not None:
        assert pages < max_pages, "paging does not end"
        response = client.get(link)
        assert response.status_code == 200, response.text
        bundle = response.json()
        entries += bundle.get("entry", [])
        pages += 1
    return entries, pages


def search_ids(client: httpx.Client, resource_type: str, **params: str) -> list[str]:
    response = client.get(f"/{resource_type}", params=params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def type_snapshot(client: httpx.Client, resource_type: str) -> list[tuple[str, str]]:
    """Every version of every resource of a type, as (fullUrl, etag): what a change alters."""
    entries, _ = all_pages(client, f"/{resource_type}/_history", {"_count": "1000"})
    return [(entry["fullUrl"], entry["response"]["etag"]) for entry in entries]
