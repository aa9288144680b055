"""Which Attachment URLs an export makes absolute (services/export/attachments.py), how
`fhir-server verify` undoes it, and the base it reads from a manifest; HTTP in
test_export_attachments.py."""

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.services.export.attachments import (
    absolute_attachment_urls,
    attachments,
    stored_attachment_urls,
)
from fhir_server.services.export.verification import export_bases

EXTENSION = "http://example.org/fhir/StructureDefinition/scan"
BASE = "https://emr.benhvien.vn/fhir"
URLS = st.sampled_from(["Binary/1", "Media/m/_history/2", f"{BASE}/Binary/1",
                        "https://kho.example.vn/1.pdf", "Khong/hop-le", "#anh"])
_ATTACHMENTS = st.lists(st.builds(lambda url: {"url": url}, URLS), min_size=1, max_size=4)
RESOURCES = st.builds(
    lambda documents, scans, photos: {
        "resourceType": "DocumentReference", "status": "current",
        "content": [{"attachment": a} for a in documents],
        "extension": [{"url": EXTENSION, "valueAttachment": a} for a in scans],
        "contained": [{"resourceType": "Practitioner", "id": "bs", "photo": photos}]},
    _ATTACHMENTS, st.lists(st.builds(lambda url: {"url": url}, URLS), max_size=2), _ATTACHMENTS)


@settings(deadline=None)  # the first example builds the registry
@given(RESOURCES)
def test_the_rewrite_leaves_no_local_url_and_can_be_undone(resource):
    """What `fhir-server verify` relies on: the version as stored is the exported one or
    the exported one with the URLs under the base relative again; and where it rewrote, no
    relative URL of a resource is left (the IG's SHALL)."""
    sent = copy.deepcopy(resource)
    exported = absolute_attachment_urls(resource, BASE)
    assert resource == sent  # the stored version is not changed in place
    if exported is not resource:
        assert not any(a["url"] in ("Binary/1", "Media/m/_history/2")
                       for a in attachments(exported))
    assert resource in (exported, stored_attachment_urls(exported, [BASE]))


def test_a_primitives_extension_and_a_bundles_entries_are_told_apart():
    """A primitive's `_element` holds extensions, one an Attachment; a Bundle's entries are
    other resources, their relative URLs resolved against their fullUrl: not rewritten."""
    patient = {"resourceType": "Patient", "birthDate": "1985", "_birthDate": {"extension": [
        {"url": EXTENSION, "valueAttachment": {"url": "Binary/1"}}]}}
    assert [a["url"] for a in attachments(absolute_attachment_urls(patient, BASE))] == [
        f"{BASE}/Binary/1"]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "https://other.example/fhir/DocumentReference/1",
         "resource": {"resourceType": "DocumentReference", "status": "current",
                      "content": [{"attachment": {"url": "Binary/1"}}]}}]}
    assert absolute_attachment_urls(bundle, BASE) is bundle
    assert list(attachments(bundle)) == []


@pytest.mark.parametrize("request_url", [
    f"{BASE}/$export", f"{BASE}/Patient/$export?_type=DocumentReference",
    f"{BASE}/Group/nhom-1/$export?_since=2024-01-01T00:00:00Z&_type=Patient,Observation"])
def test_the_base_is_read_from_the_manifests_request_at_every_level(request_url, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"transactionTime": "2024-06-01T00:00:00Z",
                                    "request": request_url, "output": []}))
    assert export_bases([manifest]) == [BASE]


def test_a_manifest_nested_too_deep_names_no_base(tmp_path):
    """JSON deeper than Python reads is no manifest, as other JSON that is none (a
    traceback of `fhir-server verify` or `load` before)."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text("[" * 100_000 + "]" * 100_000)
    assert export_bases([manifest]) == []
