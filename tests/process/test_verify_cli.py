"""`fhir-server verify PATH --trust PEM`, run for real, on an export directory written from what
the server returns (the current resources and their Provenances as NDJSON, one file per type)
and on the saved pages of `Patient/{id}/$everything?includeProvenance=true`: exit 0 only when
every resource is covered by a signature that passes."""

import json
import time
from pathlib import Path

import pytest
from api.helpers import unique_cccd
from cryptography.hazmat.primitives import serialization

from examples.clinical import bulk_data_set
from signing.dev_ca import DevCertificateAuthority

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
FHIR_HEADERS = {"Content-Type": "application/fhir+json"}


def _patient(family: str, given: list[str]) -> dict:
    return {"resourceType": "Patient",
            "identifier": [{"system": CCCD, "value": unique_cccd()}],
            "name": [{"use": "official", "family": family, "given": given}],
            "gender": "female", "birthDate": "1992-07-19",
            "address": [{"line": ["45 Nguyễn Trãi"], "city": "Hà Nội", "country": "VN"}]}


def _created(client, resource: dict) -> dict:
    response = client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


def _provenances(client, reference: str) -> list[dict]:
    response = client.get("/Provenance", params={"target": reference, "_count": "1000"})
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


@pytest.fixture(scope="module")
def export(client) -> dict[str, list[dict]]:
    """{type: resources}: two Patients (one updated to version 2), an Encounter, and every
    Provenance of them (version 1 of the updated Patient is not exported: its Provenance is
    skipped)."""
    first = _created(client, _patient("Nguyễn", ["Thị", "Hương"]))
    second = _created(client, _patient("Trần", ["Văn", "Bình"]))
    response = client.put(f"/Patient/{second['id']}", headers=FHIR_HEADERS,
                          json={**second, "gender": "male"})
    assert response.status_code == 200, response.text
    encounter = _created(client, {
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{first['id']}"}})
    current = [client.get(f"/{kind}/{item['id']}").json()
               for kind, item in (("Patient", first), ("Patient", second),
                                  ("Encounter", encounter))]
    provenances = [p for resource in current
                   for p in _provenances(client, f"{resource['resourceType']}/{resource['id']}")]
    assert len(provenances) == 4
    return {"Patient": current[:2], "Encounter": current[2:], "Provenance": provenances}


def write(directory: Path, export: dict[str, list[dict]]) -> Path:
    directory.mkdir(exist_ok=True)
    for kind, resources in export.items():
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in resources)
        (directory / f"{kind}.ndjson").write_text(lines, encoding="utf-8")
    return directory


def reference(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource['id']}/_history/{resource['meta']['versionId']}"


def test_untouched_export_verifies(cli, tmp_path, export, signing_service):
    directory = write(tmp_path / "export", export)
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("3 resources, 3 signatures checked: 3 passed"), summary
    assert "1 Provenances of versions not in the export skipped" in summary, summary


def test_an_unsigned_provenance_beside_the_export_is_ignored(cli, tmp_path, export,
                                                           signing_service):
    """Anyone allowed to write Provenance can add one without a signature: it must not make
    a signed export fail, nor cover a resource by itself."""
    encounter = reference(export["Encounter"][0])
    unsigned = {"resourceType": "Provenance", "id": "khong-chu-ky",
                "target": [{"reference": encounter}], "recorded": "2026-01-01T00:00:00Z",
                "agent": [{"who": {"display": "Ai đó"}}]}
    directory = write(tmp_path / "export",
                      export | {"Provenance": [*export["Provenance"], unsigned]})
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 without a signature ignored" in result.stdout.strip().splitlines()[-1]
    signed = [p for p in export["Provenance"]
              if [t["reference"] for t in p["target"]] != [encounter]]
    directory = write(tmp_path / "alone", export | {"Provenance": [*signed, unsigned]})
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert failures == [f"FAILED {encounter}: no signature in the export verifies it"], failures


def test_changed_meta_and_text_still_verify(cli, tmp_path, export, signing_service):
    patients = [{**p, "meta": {**p["meta"], "source": "http://benhvien.example.vn"},
                 "text": {"status": "generated",
                          "div": '<div xmlns="http://www.w3.org/1999/xhtml">Bệnh nhân</div>'}}
                for p in export["Patient"]]
    directory = write(tmp_path / "export", export | {"Patient": patients})
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_edited_resource_fails_naming_it(cli, tmp_path, export, signing_service):
    edited, untouched = (json.loads(json.dumps(p)) for p in export["Patient"])
    edited["name"][0]["family"] = "Nguyễm"
    directory = write(tmp_path / "export", export | {"Patient": [edited, untouched]})
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    assert result.returncode != 0, result.stdout
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert any(reference(edited) in line for line in failures), result.stdout
    assert any("signature:" in line for line in failures), result.stdout
    assert not any(reference(untouched) in line for line in failures), result.stdout
    assert not any(reference(export["Encounter"][0]) in line for line in failures)


def test_a_stored_bundle_is_verified_like_any_resource(cli, client, tmp_path, export,
                                                       signing_service):
    """A Bundle stored as a resource (a collection, a persisted document) is signed like any
    other: edited, it fails. Only a `_since` export's deletion Bundles are no record."""
    stored = _created(client, {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:9d1c6ad4-4c1e-4bde-9f0b-0b0e1c3a7d21",
         "resource": {"resourceType": "Basic", "code": {"text": "ghi chú"}}}]})
    signed = _provenances(client, f"Bundle/{stored['id']}")
    deletion = {"resourceType": "Bundle", "id": "xoa", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Patient/da-xoa"}}]}
    data = export | {"Bundle": [stored, deletion], "Provenance": [*export["Provenance"], *signed]}
    result = cli("verify", write(tmp_path / "export", data), "--trust", signing_service.anchor_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("4 resources"), result.stdout
    edited = json.loads(json.dumps(stored))
    edited["entry"][0]["resource"]["code"]["text"] = "đã sửa"
    result = cli("verify", write(tmp_path / "edited", data | {"Bundle": [edited, deletion]}),
                 "--trust", signing_service.anchor_path)
    assert result.returncode != 0, result.stdout
    assert f"{reference(stored)}" in result.stdout, result.stdout


def test_a_manifest_and_signatures_of_versions_not_exported_are_no_failure(
        cli, tmp_path, export, signing_service):
    """The Bulk Data manifest kept beside the files is no resource; a Provenance signing the
    current version and an older one (not exported) verifies what the export holds, as a
    Provenance of the older version alone is skipped."""
    updated = export["Patient"][1]
    both = [p for p in export["Provenance"]
            if p["target"][0]["reference"].startswith(f"Patient/{updated['id']}/")]
    assert len(both) == 2
    combined = {"resourceType": "Provenance", "id": "ca-hai",
                "target": [t for p in both for t in p["target"]],
                "recorded": both[0]["recorded"], "agent": both[0]["agent"],
                "signature": [s for p in both for s in p["signature"]]}
    directory = write(tmp_path / "export",
                      export | {"Provenance": [*export["Provenance"], combined]})
    (directory / "manifest.json").write_text(json.dumps({
        "transactionTime": "2026-12-05T00:00:00Z", "request": "x", "requiresAccessToken": True,
        "output": [], "error": []}), encoding="utf-8")
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout


def test_without_trust_anchor_nothing_is_trusted(cli, tmp_path, export, signing_service):
    directory = write(tmp_path / "export", export)
    result = cli("verify", directory)
    assert result.returncode != 0, result.stdout
    assert "chain:" in result.stdout, result.stdout
    stranger = tmp_path / "other-root.pem"
    root = DevCertificateAuthority.create().root_cert
    stranger.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    result = cli("verify", directory, "--trust", stranger)
    assert result.returncode != 0, result.stdout
    assert "chain:" in result.stdout, result.stdout


def test_a_directory_that_is_not_there_or_holds_nothing_fails(cli, tmp_path, signing_service):
    result = cli("verify", tmp_path / "absent", "--trust", signing_service.anchor_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is not a file or directory" in result.stderr
    (tmp_path / "empty").mkdir()
    result = cli("verify", tmp_path / "empty", "--trust", signing_service.anchor_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no Provenance signature to check" in result.stderr


def test_missing_provenance_file_names_the_uncovered_resources(cli, tmp_path, export,
                                                               signing_service):
    directory = write(tmp_path / "export", {k: v for k, v in export.items()
                                            if k != "Provenance"})
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    assert result.returncode != 0, result.stdout
    for resource in [*export["Patient"], *export["Encounter"]]:
        assert reference(resource) in result.stdout, result.stdout


def test_a_resource_without_its_provenance_is_uncovered(cli, tmp_path, export,
                                                        signing_service):
    encounter = reference(export["Encounter"][0])
    kept = [p for p in export["Provenance"]
            if [t["reference"] for t in p["target"]] != [encounter]]
    assert len(kept) == len(export["Provenance"]) - 1
    directory = write(tmp_path / "export", export | {"Provenance": kept})
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    assert result.returncode != 0, result.stdout
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert failures == [f"FAILED {encounter}: no Provenance in the export signs it"], failures


def _bulk_export(client, **params: str) -> dict[str, list[dict]]:
    """System-level $export (Prefer: respond-async), polled to completion; {type: resources}
    of the downloaded output files."""
    response = client.get("/$export", params=params,
                          headers={"Prefer": "respond-async", "Accept": "application/fhir+json"})
    assert response.status_code == 202, response.text
    status_url = response.headers["content-location"]
    deadline = time.monotonic() + 30
    while (status := client.get(status_url)).status_code == 202:
        assert time.monotonic() < deadline, "the export did not complete in 30 s"
        time.sleep(0.2)
    assert status.status_code == 200, status.text
    assert status.json()["error"] == [], status.json()
    exported: dict[str, list[dict]] = {}
    for item in status.json()["output"]:
        body = client.get(item["url"], headers={"Accept": "application/fhir+ndjson"})
        assert body.status_code == 200, body.text
        exported.setdefault(item["type"], []).extend(
            json.loads(line) for line in body.text.splitlines() if line.strip())
    return exported


def test_bulk_export_with_provenance_verifies_offline(cli, tmp_path, client, export,
                                                      signing_service):
    exported = _bulk_export(client, _type="Patient,Encounter",
                            includeAssociatedData="RelevantProvenanceResources")
    assert {"Patient", "Encounter", "Provenance"} <= set(exported), list(exported)
    ours = {reference(r) for r in [*export["Patient"], *export["Encounter"]]}
    assert ours <= {reference(r) for k in ("Patient", "Encounter") for r in exported[k]}
    directory = write(tmp_path / "bulk", exported)
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    assert result.returncode == 0, result.stdout + result.stderr

    edited = json.loads(json.dumps(exported["Patient"][0]))
    edited["birthDate"] = "1900-01-01" if edited.get("birthDate") != "1900-01-01" else "1901-01-01"
    directory = write(tmp_path / "bulk-edited",
                      exported | {"Patient": [edited, *exported["Patient"][1:]]})
    result = cli("verify", directory, "--trust", signing_service.anchor_path)
    assert result.returncode != 0, result.stdout
    assert f"FAILED {reference(edited)}: no signature in the export verifies it" in (
        result.stdout.splitlines()), result.stdout
    assert " signature: " in result.stdout, result.stdout


@pytest.fixture(scope="module")
def everything_pages(client) -> list[dict]:
    """The pages of `$everything?includeProvenance=true` of a patient whose record (a bulk
    data set of one patient, loaded as a batch) spans many types."""
    data_set = bulk_data_set(seed=3, patients=1)
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{kind}/{r['id']}"}}
        for kind, resources in data_set.items() for r in resources]}
    response = client.post("", json=batch, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    assert {e["response"]["status"] for e in response.json()["entry"]} == {"201 Created"}
    pages, url = [], f"/Patient/{data_set['Patient'][0]['id']}/$everything"
    params = {"includeProvenance": "true", "_count": "10"}
    while url:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = next((link["url"] for link in pages[-1]["link"] if link["relation"] == "next"),
                   None)
        params = None
    assert len(pages) > 2
    return pages


def _resources(pages: list[dict]) -> list[dict]:
    return [entry["resource"] for page in pages for entry in page["entry"]
            if entry["resource"]["resourceType"] != "Provenance"]


def _save(path: Path, *pages: dict) -> Path:
    """The pages one after the other in one file, as `curl ... >> file` saves them."""
    path.write_text("\n".join(json.dumps(page, ensure_ascii=False, indent=2) for page in pages),
                    encoding="utf-8")
    return path


def test_saved_everything_pages_verify(cli, tmp_path, everything_pages, signing_service):
    count = len(_resources(everything_pages))
    directory = tmp_path / "pages"
    directory.mkdir()
    files = [_save(directory / f"page-{number:02d}.json", page)
             for number, page in enumerate(everything_pages)]
    concatenated = _save(tmp_path / "everything.json", *everything_pages)
    for paths in ([directory], files, [concatenated]):
        result = cli("verify", *paths, "--trust", signing_service.anchor_path)
        assert result.returncode == 0, result.stdout + result.stderr
        summary = result.stdout.strip().splitlines()[-1]
        assert summary.startswith(f"{count} resources, {count} signatures checked: "
                                  f"{count} passed, 0 did not"), summary


def test_an_edited_resource_in_saved_pages_fails_naming_it(cli, tmp_path, everything_pages,
                                                          signing_service):
    pages = json.loads(json.dumps(everything_pages))
    edited = next(r for r in _resources(pages) if r["resourceType"] == "Observation")
    edited["status"] = "amended"
    result = cli("verify", _save(tmp_path / "everything.json", *pages),
                 "--trust", signing_service.anchor_path)
    assert result.returncode == 1, result.stdout + result.stderr
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    # The Provenance whose signature no longer matches, and the resource left uncovered.
    assert len(failures) == 2, failures
    assert failures[0].startswith("FAILED Provenance/") and " signature: " in failures[0]
    assert failures[1] == f"FAILED {reference(edited)}: no signature in the export verifies it"


def test_a_changed_copy_of_a_version_fails(cli, tmp_path, everything_pages, signing_service):
    """Overlapping saved pages: a second, changed copy of a version is not ignored."""
    copy = json.loads(json.dumps(everything_pages[0]))
    changed = next(r for r in _resources([copy]) if r["resourceType"] != "Patient")
    changed.setdefault("extension", []).append(
        {"url": "http://example.org/edited", "valueBoolean": True})
    result = cli("verify", _save(tmp_path / "overlap.json", *everything_pages, copy),
                 "--trust", signing_service.anchor_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAILED {reference(changed)}: " in result.stdout, result.stdout
    assert "differs from another copy" in result.stdout, result.stdout


def test_a_provenance_naming_another_agent_fails(cli, tmp_path, export, signing_service):
    """The signature binds the signer, not the agent the Provenance names as the one who
    acted: swapped for another person, the export passed."""
    swapped = [json.loads(json.dumps(p)) for p in export["Provenance"]]
    swapped[0]["agent"][0]["who"] = {"identifier": {"system": CCCD, "value": unique_cccd()},
                                     "display": "Người khác"}
    result = cli("verify", write(tmp_path / "export", export | {"Provenance": swapped}),
                 "--trust", signing_service.anchor_path)
    assert result.returncode != 0, result.stdout
    assert "claims" in result.stdout and "agents" in result.stdout, result.stdout


def test_a_deletion_shown_as_an_empty_resource_fails(cli, client, tmp_path, signing_service):
    """A deletion signs the resource type alone, which is also an empty resource's content:
    its Provenance beside an empty version of the deleted one passed, bringing it back."""
    patient = _created(client, _patient("Lê", ["Văn", "Tám"]))
    assert client.delete(f"/Patient/{patient['id']}").status_code in (200, 204)
    [deletion] = [p for p in _provenances(client, f"Patient/{patient['id']}")
                  if p["activity"]["coding"][0]["code"] == "DELETE"]
    empty = {"resourceType": "Patient", "id": patient["id"], "meta": {"versionId": "2"}}
    result = cli("verify", write(tmp_path / "export", {"Patient": [empty],
                                                       "Provenance": [deletion]}),
                 "--trust", signing_service.anchor_path)
    assert result.returncode != 0, result.stdout
    assert "the activity is DELETE" in result.stdout, result.stdout


def test_a_deletion_the_files_do_not_show_is_skipped_not_passed(cli, client, tmp_path,
                                                                signing_service):
    """A deletion's signature covers an empty resource and its header, as a creation of an
    empty resource does, and the activity is not signed: relabelled DELETE, the creation's
    Provenance passed offline as a deletion ($verify-signature: INDETERMINATE). A deletion
    the files do not show is skipped, as a version they do not hold is."""
    empty = _created(client, {"resourceType": "Patient"})
    [creation] = _provenances(client, f"Patient/{empty['id']}")
    relabelled = json.loads(json.dumps(creation))
    relabelled["activity"]["coding"][0].update(code="DELETE", display="delete")
    deleted = _created(client, _patient("Đỗ", ["Văn", "Xoá"]))
    assert client.delete(f"/Patient/{deleted['id']}").status_code in (200, 204)
    [deletion] = [p for p in _provenances(client, f"Patient/{deleted['id']}")
                  if p["activity"]["coding"][0]["code"] == "DELETE"]
    kept = _created(client, _patient("Phạm", ["Thị", "Còn"]))
    provenances = [relabelled, deletion, *_provenances(client, f"Patient/{kept['id']}")]
    result = cli("verify", write(tmp_path / "export", {"Patient": [kept],
                                                       "Provenance": provenances}),
                 "--trust", signing_service.anchor_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("1 resources, 1 signatures checked: 1 passed, 0 did not; "
            "2 Provenances of versions not in the export skipped") in result.stdout, result.stdout
