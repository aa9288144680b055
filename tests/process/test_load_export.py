"""`fhir-server load` of a Bulk Data export of this server into a fresh data directory, as a
national connector reloads one: every resource as the exporting server stores it, and the
Provenances signing them stored too."""

import json
from pathlib import Path

import httpx
from export.bulk_helpers import export, resources
from test_cli import FHIR_JSON, TERMINATED

FHIR_HEADERS = {"Content-Type": "application/fhir+json"}


def _created(client, resource: dict) -> dict:
    response = client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


def _exported(client, directory: Path, *created: dict) -> dict:
    """Download an export of these resources and their Provenance, with its manifest, into
    `directory` as a Bulk Data client does; the manifest."""
    kinds = sorted({r["resourceType"] for r in created})
    filters = [("_typeFilter", f"{kind}?_id=" + ",".join(
        r["id"] for r in created if r["resourceType"] == kind)) for kind in kinds]
    body = export(client, params=[("_type", ",".join(kinds)), *filters,
                                  ("includeAssociatedData", "LatestProvenanceResources")])
    directory.mkdir()
    for kind, found in resources(client, body).items():
        (directory / f"{kind}.ndjson").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in found), encoding="utf-8")
    (directory / "manifest.json").write_text(json.dumps(body), encoding="utf-8")
    return body


def test_attachment_urls_an_export_made_absolute_load_as_stored(client, cli, spawn, mongods,
                                                                tmp_path):
    """The export wrote `Binary/1` as `[base]/Binary/1` (the IG asks for absolute URLs); the
    load makes it relative again: the version is the one exported, and its signature, which
    covers it as stored, verifies, so its Provenance loads. An URL of another server stays."""
    binary = _created(client, {"resourceType": "Binary", "contentType": "text/plain",
                               "data": "R2hpIGNow7ogbMOibSBzw6BuZw=="})
    local, elsewhere = f"Binary/{binary['id']}", "https://kho.example.vn/fhir/Binary/7"
    document = _created(client, {
        "resourceType": "DocumentReference", "status": "current",
        "description": "Giấy ra viện",
        "content": [{"attachment": {"contentType": "text/plain", "url": local}},
                    {"attachment": {"contentType": "application/pdf", "url": elsewhere}}]})
    base = str(client.base_url).rstrip("/")
    # Exported as stored (export/attachments.py): made absolute, `Binary/1` would read as
    # the URL beside it. A relative one tells the load so.
    both = _created(client, {"resourceType": "DocumentReference", "status": "current",
                             "content": [{"attachment": {"url": local}},
                                         {"attachment": {"url": f"{base}/{local}"}}]})
    _exported(client, tmp_path / "export", binary, document, both)
    line = (tmp_path / "export" / "DocumentReference.ndjson").read_text(encoding="utf-8")
    assert f'"{base}/{local}"' in line

    data = tmp_path / "data"
    loaded = cli("load", "--data-dir", data, tmp_path / "export")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert mongods(data) == []

    server = spawn(data)
    server.wait_ready()
    stored = httpx.get(f"{server.base}/DocumentReference/{document['id']}", headers=FHIR_JSON,
                       timeout=30)
    assert stored.status_code == 200, stored.text
    assert [c["attachment"]["url"] for c in stored.json()["content"]] == [local, elsewhere]
    stored = httpx.get(f"{server.base}/DocumentReference/{both['id']}", headers=FHIR_JSON,
                       timeout=30)
    assert [c["attachment"]["url"] for c in stored.json()["content"]] == [local,
                                                                          f"{base}/{local}"]
    signed = httpx.get(f"{server.base}/Provenance", headers=FHIR_JSON, timeout=30, params={
        "target": f"DocumentReference/{document['id']}/_history/1"})
    assert signed.status_code == 200, signed.text
    exported = [json.loads(line)["id"] for line in (tmp_path / "export" / "Provenance.ndjson")
                .read_text(encoding="utf-8").splitlines()]
    assert len(exported) == 3  # of the Binary and of the DocumentReferences
    # The exported one, and the one of the load's own write.
    ids = {entry["resource"]["id"] for entry in signed.json().get("entry", [])}
    assert len(ids & set(exported)) == 1, signed.text
    assert server.stop() in TERMINATED
