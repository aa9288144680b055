"""Driving Bulk Data exports over HTTP as a client does: kick-off, polling, downloads."""

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
from api.helpers import unique_cccd

from fhir_server.services.versions import Version, stamp, storage_documents

FHIR_JSON = "application/fhir+json"
KICK_OFF = {"Accept": FHIR_JSON, "Prefer": "respond-async"}
CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
POLL_SECONDS = 30


def kick_off(http: httpx.Client, path: str = "$export", params=None, body: dict | None = None,
             **headers: str) -> httpx.Response:
    """GET (or POST with a Parameters body) a kick-off request."""
    sent = {**KICK_OFF, **headers}
    if body is not None:
        return http.post(f"/{path}", params=params, json=body,
                         headers={**sent, "Content-Type": FHIR_JSON})
    return http.get(f"/{path}", params=params, headers=sent)


def started(http: httpx.Client, path: str = "$export", params=None, body=None,
            **headers: str) -> str:
    """Kick off an export that must be accepted; returns its status URL."""
    response = kick_off(http, path, params, body, **headers)
    assert response.status_code == 202, response.text
    return response.headers["content-location"]


def wait(http: httpx.Client, status_url: str, timeout: float = POLL_SECONDS) -> httpx.Response:
    """Poll the status URL until it is no longer 202."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(status_url, headers={"Accept": "application/json"})
        if response.status_code != 202:
            return response
        assert "x-progress" in response.headers and "retry-after" in response.headers
        assert time.monotonic() < deadline, "export did not finish"
        time.sleep(0.05)


def manifest(http: httpx.Client, status_url: str) -> dict:
    response = wait(http, status_url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def export(http: httpx.Client, path: str = "$export", params=None, body=None,
           **headers: str) -> dict:
    """Kick off, wait, return the manifest."""
    return manifest(http, started(http, path, params, body, **headers))


def download(http: httpx.Client, url: str) -> list[dict]:
    response = http.get(url, headers={"Accept": "application/fhir+ndjson"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+ndjson"
    text = response.text
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def resources(http: httpx.Client, manifest_body: dict, section: str = "output") -> dict:
    """type → resources, over all files of a manifest section, checking each file's count
    and that every line is of the file's type."""
    found: dict[str, list[dict]] = {}
    for item in manifest_body.get(section, []):
        lines = download(http, item["url"])
        assert item["count"] == len(lines), item
        assert {line["resourceType"] for line in lines} <= {item["type"]}, item
        found.setdefault(item["type"], []).extend(lines)
    return found


def ids(http: httpx.Client, manifest_body: dict) -> dict[str, list[str]]:
    """type → exported ids (in file order)."""
    return {kind: [r["id"] for r in found]
            for kind, found in resources(http, manifest_body).items()}


def search_ids(http: httpx.Client, path: str, **params: str) -> list[str]:
    """The ids a search finds, over all pages."""
    found, url, query = [], f"/{path}", {"_count": "1000", **params}
    while url:
        response = http.get(url, params=query)
        assert response.status_code == 200, response.text
        bundle = response.json()
        found += [e["resource"]["id"] for e in bundle.get("entry", [])
                  if e.get("search", {}).get("mode", "match") == "match"]
        url = next((link["url"] for link in bundle.get("link", [])
                    if link["relation"] == "next"), None)
        query = None
    return found




def patient(family: str = "Nguyễn", **extra) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": CCCD, "value": unique_cccd()}],
            "name": [{"family": family, "given": ["Văn", "An"]}], "gender": "male",
            "birthDate": "1985-03-12", **extra}


def encounter(patient_id: str, status: str = "finished", **extra) -> dict:
    return {"resourceType": "Encounter", "status": status,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "subject": {"reference": f"Patient/{patient_id}"},
            "period": {"start": "2024-03-01T08:00:00+07:00"}, **extra}


def provenance(*targets: str, recorded: str = "2024-03-01T08:00:00+07:00") -> dict:
    return {"resourceType": "Provenance", "target": [{"reference": t} for t in targets],
            "recorded": recorded,
            "agent": [{"who": {"display": "Bác sĩ Trần Thị Bình"}}]}


def stored_directly(db, kind: str, resources_: list[dict]) -> None:
    """Store the resources (each with its id) as the server stores a first version, straight
    into MongoDB (`db`, pymongo's): thousands, or large ones, go in seconds, not minutes."""
    now = datetime.now(UTC).replace(microsecond=0)
    documents = [storage_documents(Version(kind, r["id"], 1, now, stamp(r, r["id"], 1, now),
                                           "POST"))
                 for r in resources_]
    db[kind].insert_many([current for current, _ in documents])
    db[f"{kind}_history"].insert_many([history for _, history in documents])


def create(http: httpx.Client, resource: dict) -> dict:
    response = http.post(f"/{resource['resourceType']}", json=resource,
                         headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 201, response.text
    return response.json()


def transaction(http: httpx.Client, resources_: list[dict]) -> list[dict]:
    """POST the resources in one transaction; returns them as created."""
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r,
                "request": {"method": "POST", "url": r["resourceType"]}} for r in resources_]
    response = http.post("/", json={"resourceType": "Bundle", "type": "transaction",
                                    "entry": entries},
                         headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"})
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json()["entry"]]
