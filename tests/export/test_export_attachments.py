"""Exported Attachment URLs are absolute (Bulk Data IG 2.0 export.html#attachments: "When
populated, the url element SHALL be an absolute url that can be de-referenced to the
attachment's content"), and `fhir-server verify` still verifies the signatures over the
versions as stored."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bulk_helpers import create, export, resources

EXTENSION = "http://example.org/fhir/StructureDefinition/scan"


@pytest.fixture(scope="module")
def base(client) -> str:
    return str(client.base_url).rstrip("/")


@pytest.fixture(scope="module")
def binary(client) -> dict:
    return create(client, {"resourceType": "Binary", "contentType": "text/plain",
                           "data": "R2hpIGNow7o="})


def _document(*urls: str, **extra) -> dict:
    return {"resourceType": "DocumentReference", "status": "current",
            "content": [{"attachment": {"contentType": "text/plain", "url": url}}
                        for url in urls], **extra}


def _exported(client, *resources_: dict, **params: str) -> tuple[dict, dict[str, dict]]:
    """The manifest of an export of these resources, and each exported resource by id."""
    kinds = sorted({r["resourceType"] for r in resources_})
    filters = [("_typeFilter", f"{kind}?_id=" + ",".join(
        r["id"] for r in resources_ if r["resourceType"] == kind)) for kind in kinds]
    body = export(client, params=[("_type", ",".join(kinds)), *filters, *params.items()])
    return body, {r["id"]: r for found in resources(client, body).values() for r in found}


def _urls(resource: dict) -> list[str]:
    return [content["attachment"]["url"] for content in resource["content"]]


def test_relative_attachment_urls_are_exported_under_the_base(client, base, binary):
    """Wherever the StructureDefinitions put an Attachment: an element of the type, one of a
    contained resource, an extension's valueAttachment; a version's URL too. Another
    server's URL, and what names no resource type, are exported as stored."""
    local = f"Binary/{binary['id']}"
    document = create(client, _document(local, "https://kho.example.vn/tai-lieu/1.pdf",
                                        "Khong/hop-le", extension=[
        {"url": EXTENSION, "valueAttachment": {"url": f"{local}/_history/1"}}]))
    person = create(client, {
        "resourceType": "Patient", "photo": [{"contentType": "image/jpeg", "url": local}],
        "contained": [{"resourceType": "Practitioner", "id": "bs",
                       "photo": [{"contentType": "image/jpeg", "url": local}]}],
        "generalPractitioner": [{"reference": "#bs"}]})
    _, exported = _exported(client, document, person)
    assert _urls(exported[document["id"]]) == [
        f"{base}/{local}", "https://kho.example.vn/tai-lieu/1.pdf", "Khong/hop-le"]
    assert exported[document["id"]]["extension"][0]["valueAttachment"]["url"] == (
        f"{base}/{local}/_history/1")
    assert exported[person["id"]]["photo"][0]["url"] == f"{base}/{local}"
    assert exported[person["id"]]["contained"][0]["photo"][0]["url"] == f"{base}/{local}"
    assert _urls(client.get(f"/DocumentReference/{document['id']}").json())[0] == local


def test_a_resource_holding_an_url_under_the_base_already_is_exported_as_stored(
        client, base, binary):
    """Made absolute, `Binary/1` would read as the `[base]/Binary/1` beside it, and the
    version the signature covers could not be told back (attachments.py)."""
    local = f"Binary/{binary['id']}"
    both = create(client, _document(local, f"{base}/{local}"))
    _, exported = _exported(client, both)
    assert _urls(exported[both["id"]]) == [local, f"{base}/{local}"]


def _verify(directory: Path, anchor: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "fhir-server"), "verify", str(directory),
         "--trust", str(anchor)], capture_output=True, text=True, timeout=120)


def test_an_export_with_absolute_attachment_urls_verifies_offline(
        client, base, binary, signing_service, tmp_path):
    """The signatures cover the versions as stored (`Binary/1`): `fhir-server verify` reads
    the export's base from the manifest beside the files and checks each version also with
    the URLs under it relative again; an URL pointed elsewhere fails."""
    local = f"Binary/{binary['id']}"
    documents = [create(client, _document(local)),
                 create(client, _document(f"{base}/{local}")),
                 create(client, _document("https://kho.example.vn/tai-lieu/2.pdf"))]
    body, exported = _exported(client, *documents,
                               includeAssociatedData="LatestProvenanceResources")
    assert _urls(exported[documents[0]["id"]]) == [f"{base}/{local}"]
    files = {item["url"].rsplit("/", 1)[1]: client.get(item["url"]).text
             for item in body["output"]}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "manifest.json").write_text(json.dumps(body))
    verified = _verify(tmp_path, signing_service.anchor_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "3 passed" in verified.stdout.splitlines()[-1], verified.stdout

    first = f'"id":"{documents[0]["id"]}"'
    for name, text in files.items():
        (tmp_path / name).write_text("".join(
            line.replace(f'"{base}/{local}"', f'"https://kho.example.vn/{local}"')
            if first in line else line for line in text.splitlines(keepends=True)))
    tampered = _verify(tmp_path, signing_service.anchor_path)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert f"DocumentReference/{documents[0]['id']}/_history/1: no signature" in tampered.stdout
    assert f"DocumentReference/{documents[1]['id']}" not in tampered.stdout

