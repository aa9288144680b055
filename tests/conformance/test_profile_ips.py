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
    for issue in issues:  # the base definition's warnings (a code system version) have none
        assert issue.profile is None or issue.profile in profiles or issue.profile.startswith(
            "http://hl7.org/fhir/")


def test_an_ips_bundle_with_a_wrong_entry_is_refused_at_that_entry():
    bundle = json.loads(json.dumps(EXAMPLES["package/example/Bundle-bundle-minimal.json"]))
    entry = next(entry for entry in bundle["entry"]
                 if entry["resource"]["resourceType"] == "Patient")
    del entry["resource"]["name"]  # IPS Patient.name is 1..*
    bundle["entry"] = [e for e in bundle["entry"] if e is not entry] + [entry]  # last
    errors = [i for i in validation_issues(bundle, bundle["meta"]["profile"])
              if i.severity == "error"]
    # The slice it missed, and why: what an integrator can act on.
    last = len(bundle["entry"]) - 1
    assert [(i.element_id, i.profile.rsplit("/", 1)[1], i.expression) for i in errors] == [
        ("Bundle.entry:patient", "Bundle-uv-ips", ("Bundle.entry",)),
        ("Patient.name", "Patient-uv-ips", (f"Bundle.entry[{last}].resource.name",))]


def test_a_urn_reference_of_a_document_names_one_of_its_entries():
    """bundle.html#references: a urn:uuid: reference resolves only within its Bundle, and a
    document holds what it refers to."""
    bundle = json.loads(json.dumps(EXAMPLES["package/example/Bundle-bundle-minimal.json"]))
    index, composition = next((i, e["resource"]) for i, e in enumerate(bundle["entry"])
                              if e["resource"]["resourceType"] == "Composition")
    composition["subject"]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    errors = [i for i in validation_issues(bundle, []) if i.severity == "error"]
    assert [(i.code, i.expression) for i in errors] == [
        ("not-found", (f"Bundle.entry[{index}].resource.subject.reference",))]


@pytest.mark.parametrize(("effective", "refused"), [
    ("2020", True), ("2020-03", True), ("2020-03-04", False), ("2020-03-04T10:00:00Z", False)])
def test_a_choice_element_invariant_sees_the_type_of_its_value(effective, refused):
    """ips-1 on `Observation.effective[x]` (`$this.ofType(dateTime)` ... at least a day):
    evaluated on the untyped "2020", ofType() was empty and the year passed."""
    observation = json.loads(json.dumps(
        EXAMPLES["package/example/Observation-ips-example-imaging-1.json"]))
    observation.pop("effectivePeriod", None)
    observation["effectiveDateTime"] = effective
    errors = [i for i in validation_issues(observation, observation["meta"]["profile"])
              if i.severity == "error"]
    assert [("ips-1" in i.diagnostics, i.expression) for i in errors] == (
        [(True, ("Observation.effectiveDateTime",))] if refused else [])
