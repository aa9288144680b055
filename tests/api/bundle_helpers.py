"""Builders and checks for batch/transaction Bundles (http://hl7.org/fhir/R4/http.html#transaction)."""

import base64
import json
import re
import uuid

import httpx
from helpers import CCCD, FHIR_HEADERS, all_pages, parse_instant

LOCATION = re.compile(r"^(?P<base>.+)/(?P<type>[A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
                      r"/_history/(?P<vid>\d+)$")


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def bundle(kind: str, *entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def transaction(*entries: dict) -> dict:
    return bundle("transaction", *entries)


def batch(*entries: dict) -> dict:
    return bundle("batch", *entries)


def post_entry(resource: dict, full_url: str | None = None,
               if_none_exist: str | None = None) -> dict:
    entry = {"resource": resource,
             "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    if if_none_exist:
        entry["request"]["ifNoneExist"] = if_none_exist
    return entry


def put_entry(resource: dict, url: str | None = None, if_match: str | None = None,
              full_url: str | None = None) -> dict:
    url = url or f"{resource['resourceType']}/{resource['id']}"
    entry = {"resource": resource, "request": {"method": "PUT", "url": url}}
    if if_match:
        entry["request"]["ifMatch"] = if_match
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def delete_entry(url: str, if_match: str | None = None) -> dict:
    entry = {"request": {"method": "DELETE", "url": url}}
    if if_match:
        entry["request"]["ifMatch"] = if_match
    return entry


def get_entry(url: str) -> dict:
    return {"request": {"method": "GET", "url": url}}


def patch_entry(url: str, operations: list, if_match: str | None = None,
                content_type: str = "application/json-patch+json") -> dict:
    """A PATCH entry: the JSON Patch travels as a Binary resource (http.html#patch)."""
    data = base64.b64encode(json.dumps(operations).encode()).decode()
    entry = {"resource": {"resourceType": "Binary", "contentType": content_type, "data": data},
             "request": {"method": "PATCH", "url": url}}
    if if_match:
        entry["request"]["ifMatch"] = if_match
    return entry


def submit(client: httpx.Client, body: object, **headers: str) -> httpx.Response:
    """POST [base] with a batch or transaction Bundle."""
    return client.post("", json=body, headers={**FHIR_HEADERS, **headers})


def response_bundle(response: httpx.Response, kind: str, size: int) -> list[dict]:
    """Check a 200 batch-/transaction-response with `size` entries and return the entries."""
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["resourceType"] == "Bundle", result
    assert result["type"] == kind, result
    assert len(result["entry"]) == size, result
    return result["entry"]


def check_written(entry: dict, base: str, resource_type: str, status: str,
                  vid: int = 1, with_resource: bool = True) -> str:
    """A create/update response entry (http.html#transaction-response); returns the id."""
    response = entry["response"]
    assert response["status"] == status, entry
    match = LOCATION.match(response["location"])
    assert match, response
    assert match["base"] == base, response
    assert match["type"] == resource_type, response
    assert match["vid"] == str(vid), response
    assert response["etag"] == f'W/"{vid}"', response
    parse_instant(response["lastModified"])
    if with_resource:
        resource = entry["resource"]
        assert resource["resourceType"] == resource_type
        assert resource["id"] == match["id"]
        assert resource["meta"]["versionId"] == str(vid)
        last_updated = parse_instant(resource["meta"]["lastUpdated"])
        assert last_updated == parse_instant(response["lastModified"]), entry
    else:
        assert "resource" not in entry, entry
    return match["id"]


def outcome_names_entry(outcome: dict, index: int) -> None:
    """The OperationOutcome places the failure in `Bundle.entry[index]`."""
    assert outcome["resourceType"] == "OperationOutcome", outcome
    where = f"Bundle.entry[{index}]"
    texts = [i.get("diagnostics", "") for i in outcome["issue"]]
    texts += [e for i in outcome["issue"] for e in i.get("expression", [])]
    assert any(where in text for text in texts), outcome


def identifier_query(value: str, system: str = CCCD) -> str:
    return f"identifier={system}|{value}"


def history_snapshot(client: httpx.Client) -> list[tuple[str, str]]:
    """Every version of every resource on the server (system history)."""
    entries, _ = all_pages(client, "/_history", {"_count": "1000"})
    return sorted((e["fullUrl"], e["response"]["etag"]) for e in entries)


def encounter(subject: str, **extra) -> dict:
    resource = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "AMB", "display": "ambulatory"},
        "subject": {"reference": subject, "display": "Nguyễn Văn An"},
        "period": {"start": "2024-05-02T08:30:00+07:00", "end": "2024-05-02T09:10:00+07:00"},
        "serviceProvider": {"display": "Bệnh viện Bạch Mai"},
    }
    resource.update(extra)
    return resource


def document_reference(subject: str, encounter_ref: str) -> dict:
    text = "Tóm tắt ra viện: bệnh nhân ổn định."
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "18842-5",
                             "display": "Discharge summary"}]},
        "subject": {"reference": subject},
        "date": "2024-05-02T10:00:00+07:00",
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                    "data": base64.b64encode(text.encode()).decode(),
                                    "title": "Giấy ra viện"}}],
        "context": {"encounter": [{"reference": encounter_ref}]},
    }
