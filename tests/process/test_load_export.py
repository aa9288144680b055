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


def _exported(client, directory: Path, *created: dict, prefer: str = "respond-async",
              **params: str) -> dict:
    """Download an export of these resources and their Provenance, with its manifest, into
    `directory` as a Bulk Data client does (each file under the name its URL ends with);
    the manifest."""
    kinds = sorted({r["resourceType"] for r in created})
    filters = [("_typeFilter", f"{kind}?_id=" + ",".join(
        r["id"] for r in created if r["resourceType"] == kind)) for kind in kinds]
    body = export(client, params=[("_type", ",".join(kinds)), *filters, *params.items(),
                                  ("includeAssociatedData", "LatestProvenanceResources")],
                  Prefer=prefer)
    directory.mkdir()
    for section in ("output", "deleted", "error"):
        for item in body.get(section, []):
            found = resources(client, {"output": [item]})[item["type"]]
            (directory / item["url"].rsplit("/", 1)[1]).write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in found),
                encoding="utf-8")
    (directory / "manifest.json").write_text(json.dumps(body), encoding="utf-8")
    return body


def _loaded_and_served(cli, spawn, mongods, data: Path, *paths: Path):
    """A server on `data` once `fhir-server load` has loaded `paths` into it."""
    loaded = cli("load", "--data-dir", data, *paths)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert mongods(data) == []
    server = spawn(data)
    server.wait_ready()
    return server


def _get(server, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.base}/{path}", headers=FHIR_JSON, params=params, timeout=30)


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
    lines = [path.read_text(encoding="utf-8")
             for path in (tmp_path / "export").glob("*.DocumentReference.ndjson")]
    assert f'"{base}/{local}"' in "".join(lines)

    server = _loaded_and_served(cli, spawn, mongods, tmp_path / "data", tmp_path / "export")
    stored = _get(server, f"DocumentReference/{document['id']}")
    assert stored.status_code == 200, stored.text
    assert [c["attachment"]["url"] for c in stored.json()["content"]] == [local, elsewhere]
    stored = _get(server, f"DocumentReference/{both['id']}")
    assert [c["attachment"]["url"] for c in stored.json()["content"]] == [local,
                                                                          f"{base}/{local}"]
    signed = _get(server, "Provenance",
                  target=f"DocumentReference/{document['id']}/_history/1")
    assert signed.status_code == 200, signed.text
    exported = [json.loads(line)["id"] for path in (tmp_path / "export").glob("*.Provenance.ndjson")
                for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(exported) == 3  # of the Binary and of the DocumentReferences
    # The exported one, and the one of the load's own write.
    ids = {entry["resource"]["id"] for entry in signed.json().get("entry", [])}
    assert len(ids & set(exported)) == 1, signed.text
    assert server.stop() in TERMINATED


def test_the_deletions_of_a_since_export_are_run_not_stored(client, cli, spawn, mongods,
                                                            tmp_path):
    """A `_since` export lists what was deleted since in `deleted` files, each line a
    transaction Bundle of DELETE entries (export.html#bulk-data-output-file-request) for the
    client to apply: a connector keeping a copy loads each export in turn. They were stored
    as Bundle resources, and what they delete stayed."""
    observation = _created(client, {"resourceType": "Observation", "status": "final",
                                    "code": {"text": "Đường huyết lúc đói"},
                                    "valueQuantity": {"value": 5.60, "unit": "mmol/L"}})
    since = client.get(f"/Observation/{observation['id']}").json()["meta"]["lastUpdated"]
    kept = _created(client, {"resourceType": "Observation", "status": "final",
                             "code": {"text": "HbA1c"}})
    assert client.delete(f"/Observation/{observation['id']}").status_code in (200, 204)
    body = _exported(client, tmp_path / "since", observation, kept, _since=since)
    assert [item["type"] for item in body["deleted"]] == ["Bundle"], body
    (deleted,) = [json.loads(line) for name in (tmp_path / "since").glob("*.ndjson")
                  for line in name.read_text(encoding="utf-8").splitlines()
                  if json.loads(line)["resourceType"] == "Bundle"]

    # The copy as an earlier export left it, loaded in the same command: first.
    data, before = tmp_path / "data", tmp_path / "before.ndjson"
    before.write_text(json.dumps(observation, ensure_ascii=False) + "\n", encoding="utf-8")
    server = _loaded_and_served(cli, spawn, mongods, data, before, tmp_path / "since")
    gone = _get(server, f"Observation/{observation['id']}")
    assert gone.status_code == 410, gone.text
    there = _get(server, f"Observation/{kept['id']}")
    assert there.status_code == 200, there.text
    stored = _get(server, f"Bundle/{deleted['id']}")
    assert stored.status_code == 404, stored.text
    assert server.stop() in TERMINATED


def test_the_error_files_of_an_export_are_no_data(client, cli, mongods, tmp_path):
    """The manifest's `error` files hold OperationOutcomes about the export (here the warning
    that a parameter was ignored): the load skips them, saying so. It stored each as an
    OperationOutcome resource of the copy."""
    hospital = _created(client, {"resourceType": "Organization", "name": "Bệnh viện Bạch Mai"})
    body = _exported(client, tmp_path / "export", hospital, khong_biet="1",
                     prefer="respond-async, handling=lenient")
    assert [item["type"] for item in body["error"]] == ["OperationOutcome"], body
    data = tmp_path / "data"
    loaded = cli("load", "--data-dir", data, tmp_path / "export")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert mongods(data) == []
    table = loaded.stdout.split("resource type", 1)[1]
    assert "\nOrganization " in table and "\nOperationOutcome " not in table, loaded.stdout
    assert "the errors and warnings of a Bulk Data export" in table, loaded.stdout


def test_provenances_of_versions_the_copy_renumbers_are_skipped_not_failed(client, cli,
                                                                          tmp_path):
    """An export holds current versions alone, stored in the copy as version 1: the
    Provenance of a patient's version 2 (or of version 1 of a patient updated since) cannot
    verify there, and the load failed with exit 1, as for a forged signature. It is skipped
    with a warning now; that of a patient never updated loads."""
    kept = _created(client, {"resourceType": "Patient", "name": [{"family": "Đỗ"}]})
    updated = _created(client, {"resourceType": "Patient", "name": [{"family": "Hồ"}]})
    updated["name"] = [{"family": "Hồ", "given": ["Xuân", "Hương"]}]
    response = client.put(f"/Patient/{updated['id']}", json=updated, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    _exported(client, tmp_path / "export", kept, updated)
    loaded = cli("load", "--data-dir", tmp_path / "data", tmp_path / "export")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "Provenance (1×): not loaded: it signs a version" in loaded.stdout, loaded.stdout
    rows = dict(line.split(None, 1) for line in loaded.stdout.splitlines()
                if line.startswith(("Patient ", "Provenance ")))
    assert rows["Patient"].split() == ["2", "0", "0"], loaded.stdout
    assert rows["Provenance"].split() == ["1", "0", "1"], loaded.stdout
