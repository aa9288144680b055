"""Which Provenances of a reloaded export sign a version the copy numbers otherwise
(services/export/source_versions.py): the load skips them with a warning, whatever the order
of the files (a Provenance read before the resource it signs is judged at the end)."""

from fhir_server.services.export.source_versions import SourceVersions


def _provenance(*targets: str) -> dict:
    return {"resourceType": "Provenance", "target": [{"reference": t} for t in targets]}


def test_a_version_other_than_1_is_renumbered():
    versions = SourceVersions()
    assert versions.renumbered(_provenance("Patient/a/_history/2"))
    assert not versions.renumbered(_provenance("Patient/a/_history/1"))


def test_version_1_of_a_resource_updated_at_the_source_is_renumbered_once_seen():
    versions = SourceVersions()
    versions.note({"resourceType": "Patient", "id": "a", "meta": {"versionId": "3"}})
    versions.note({"resourceType": "Patient", "id": "b", "meta": {"versionId": "1"}})
    assert versions.renumbered(_provenance("Patient/b/_history/1", "Patient/a/_history/1"))
    assert not versions.renumbered(_provenance("Patient/b/_history/1"))


def test_only_provenances_and_version_specific_targets_count():
    versions = SourceVersions()
    assert not versions.renumbered({"resourceType": "AuditEvent",
                                    "target": [{"reference": "Patient/a/_history/2"}]})
    assert not versions.renumbered(_provenance("Patient/a"))
    assert not versions.renumbered({"resourceType": "Provenance", "target": "Patient/a"})
