"""Every example of the IPS 2.0.0 package (hl7.fhir.uv.ips, shipped with the server) is valid
against the IPS profiles it declares in meta.profile; what the engine cannot check there
(slices told apart by `resolve()`) is a warning, never an error."""

import io
import json
import tarfile
from pathlib import Path

import pytest

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.validation import validation_issues

PACKAGE = Path(__file__).resolve().parents[3] / "shared" / "fhir-packages" / (
    "hl7.fhir.uv.ips-2.0.0.tgz")


def _package() -> dict[str, dict]:
    with tarfile.open(PACKAGE) as archive:
        return {
            member.name: json.load(io.BytesIO(archive.extractfile(member).read()))
            for member in archive.getmembers()
            if member.name.endswith(".json") and member.name.startswith("package/")
            and member.name.count("/") <= 2 and not member.name.endswith("package.json")
            and "/openapi/" not in member.name and "/other/" not in member.name
        }


RESOURCES = _package()
EXAMPLES = {name: body for name, body in RESOURCES.items() if name.startswith("package/example/")}


@pytest.fixture(scope="module", autouse=True)
def ips_definitions():
    """The IPS profiles and value sets in the registry (shipped packages already hold them;
    added here otherwise)."""
    held = registry()
    added = [body for name, body in RESOURCES.items() if not name.startswith("package/example/")
             and body.get("resourceType") in ("StructureDefinition", "ValueSet")
             and held.resolve(body["url"]) is None]
    for body in added:
        held.add(body)
    yield
    for body in added:
        held.by_url.pop(body["url"], None)
        held.by_type[body["resourceType"]].remove(body)


def test_all_examples_are_there():
    assert len(EXAMPLES) == 44


@pytest.mark.parametrize("name", sorted(EXAMPLES), ids=lambda name: name.rsplit("/", 1)[1])
def test_ips_example_is_valid_against_its_profiles(name: str):
    example = EXAMPLES[name]
    profiles = example["meta"]["profile"]
    issues = validation_issues(example, profiles)
    assert [i.diagnostics for i in issues if i.severity == "error"] == []
    for issue in issues:
        assert issue.profile in profiles or issue.profile.startswith("http://hl7.org/fhir/")


def test_an_ips_bundle_with_a_wrong_entry_is_refused_at_that_entry():
    bundle = json.loads(json.dumps(EXAMPLES["package/example/Bundle-bundle-minimal.json"]))
    patient = next(entry["resource"] for entry in bundle["entry"]
                   if entry["resource"]["resourceType"] == "Patient")
    del patient["name"]  # IPS Patient.name is 1..*
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    bundle["entry"].append({"fullUrl": "urn:uuid:0b9e6b84-3b79-4c40-a4c4-1a0b0c7c7c7c",
                            "resource": patient})
    errors = [i for i in validation_issues(bundle, bundle["meta"]["profile"])
              if i.severity == "error"]
    assert [(i.element_id, i.profile.rsplit("/", 1)[1]) for i in errors] == [
        ("Bundle.entry:patient", "Bundle-uv-ips")]
