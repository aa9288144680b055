"""Snapshots generated from differentials (http://hl7.org/fhir/R4/profiling.html#snapshot):
the IPS profiles regenerated and compared with their published snapshots, one hand-made
differential per rule, and profiles whose differential cannot be applied."""

import json

import pytest

from fhir_server.conformance.definitions import CORE, build_registry, registry
from fhir_server.conformance.packages import package_resources, read_package, shipped_directory
from fhir_server.conformance.snapshot_checks import SnapshotError
from fhir_server.conformance.snapshots import ProfileError, generate_snapshot
from profiles.build_packages import tgz_bytes

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
EXAMPLE = "http://example.org/fhir/StructureDefinition/"
VN_CORE = "http://fhir.ehealth.gov.vn/core/StructureDefinition/"


def generated(base: str, *differential: dict) -> dict[str, dict]:
    """id → element of the snapshot of a profile of `base` with this differential."""
    definition = {"resourceType": "StructureDefinition", "derivation": "constraint",
                  "baseDefinition": CORE + base, "differential": {"element": list(differential)}}
    return {e["id"]: e for e in generate_snapshot(definition, registry().snapshot)}


def profile(name: str, base: str, *differential: dict) -> dict:
    return {"resourceType": "StructureDefinition", "id": name, "url": EXAMPLE + name,
            "version": "0.1.0", "name": name, "status": "draft", "kind": "resource",
            "abstract": False, "type": base.rsplit("/", 1)[-1].split("-")[0],
            "baseDefinition": base, "derivation": "constraint",
            "differential": {"element": list(differential)}}


def registry_with(tmp_path, *definitions: dict):
    manifest = {"name": "example.profiles", "version": "0.1.0",
                "dependencies": {"hl7.fhir.r4.core": "4.0.1"}}
    files = {"package/package.json": json.dumps(manifest).encode()}
    files |= {f"package/StructureDefinition-{d['id']}.json": json.dumps(d).encode()
              for d in definitions}
    (tmp_path / "p.tgz").write_bytes(tgz_bytes(files))
    return build_registry([read_package(tmp_path / "p.tgz")])


# --- The IPS profiles, regenerated from their differentials --------------------------------

def _facets(element: dict) -> dict:
    """What is compared; the core's canonicals without the `|4.0.1` the IPS publisher adds."""
    binding = element.get("binding", {})
    facets = {
        "min": element.get("min"), "max": element.get("max"),
        "type": [[t["code"], t.get("profile", []), t.get("targetProfile", [])]
                 for t in element.get("type", ())],
        "binding": [binding.get("strength"), binding.get("valueSet")],
        "slicing": {k: v for k, v in element.get("slicing", {}).items() if k != "description"},
        "values": {k: v for k, v in element.items() if k.startswith(("fixed", "pattern"))},
    }
    return json.loads(json.dumps(facets).replace("|4.0.1", ""))


def test_ips_snapshots_regenerated_from_their_differentials_match_the_published_ones():
    """Every element id in the published order; of min, max, types, bindings, slicing and
    fixed/pattern values, all but the types of two slices: the IPS publisher starts a slice
    from the base's element, we from the sliced element as constrained by the profile
    (Observation.category's CodeableConcept-uv-ips profile reaches its `laboratory` and
    `radiology` slices)."""
    ips = package_resources(shipped_directory() / "hl7.fhir.uv.ips-2.0.0.tgz")
    profiles = [r for r in ips if r["resourceType"] == "StructureDefinition"
                and r["derivation"] == "constraint"]
    assert len(profiles) == 29
    differences, compared = [], 0
    for definition in profiles:
        ours = generate_snapshot(definition, registry().snapshot)
        published = definition["snapshot"]["element"]
        assert [e["id"] for e in ours] == [e["id"] for e in published], definition["id"]
        for mine, theirs in zip(ours, published, strict=True):
            a, b = _facets(mine), _facets(theirs)
            compared += len(a)
            differences += [(mine["id"], key) for key in a if a[key] != b[key]]
    assert compared > 16000
    assert differences == [("Observation.category:laboratory", "type"),
                           ("Observation.category:radiology", "type")]


# --- One rule at a time ---------------------------------------------------------------------

def test_a_differential_element_merges_onto_its_snapshot_element():
    """Constraints add to the base's, other properties replace (binding merges)."""
    rule = {"key": "pat-x", "severity": "error", "human": "a name", "expression": "name.exists()"}
    snapshot = generated("Patient", {"id": "Patient", "path": "Patient", "constraint": [rule]},
                         {"id": "Patient.gender", "path": "Patient.gender", "min": 1,
                          "binding": {"strength": "required"}, "mustSupport": True})
    keys = [c["key"] for c in snapshot["Patient"]["constraint"]]
    assert keys[-1] == "pat-x" and "dom-2" in keys
    gender = snapshot["Patient.gender"]
    assert (gender["min"], gender["max"], gender["mustSupport"]) == (1, "1", True)
    assert gender["binding"]["valueSet"].startswith(
        "http://hl7.org/fhir/ValueSet/administrative-gender")


def test_a_value_of_another_type_replaces_the_base_value_of_that_property():
    """`pattern[x]` holds one value: a profile's patternRatio replaces its base's
    patternQuantity, and leaves the base's fixed value alone."""
    before = {"patternQuantity": {"value": 1}, "fixedString": "kept"}

    def base_snapshot(url: str) -> list[dict]:
        return [e | before if e["id"] == "Observation.value[x]" else e
                for e in registry().snapshot(url)]

    definition = {"baseDefinition": CORE + "Observation", "derivation": "constraint",
                  "differential": {"element": [{"id": "Observation.value[x]",
                                                "path": "Observation.value[x]",
                                                "patternRatio": {"numerator": {"value": 1}}}]}}
    elements = generate_snapshot(definition, base_snapshot)
    value = next(e for e in elements if e["id"] == "Observation.value[x]")
    assert value["patternRatio"] == {"numerator": {"value": 1}}
    assert "patternQuantity" not in value and value["fixedString"] == "kept"


def test_paths_into_a_data_type_unfold_its_elements_in_place():
    snapshot = generated("Patient", {"id": "Patient.identifier.system",
                                     "path": "Patient.identifier.system", "min": 1})
    ids = list(snapshot)
    start = ids.index("Patient.identifier")
    assert ids[start:start + 9] == [
        "Patient.identifier", "Patient.identifier.id", "Patient.identifier.extension",
        "Patient.identifier.use", "Patient.identifier.type", "Patient.identifier.system",
        "Patient.identifier.value", "Patient.identifier.period", "Patient.identifier.assigner",
    ]
    assert ids[start + 9] == "Patient.active"
    system = snapshot["Patient.identifier.system"]
    assert (system["path"], system["min"], system["base"]["path"]) == (
        "Patient.identifier.system", 1, "Identifier.system")


def test_slices_start_from_the_sliced_element_and_follow_its_existing_slices():
    snapshot = generated(
        "Patient",
        {"id": "Patient.identifier", "path": "Patient.identifier", "min": 1,
         "slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "open"}},
        {"id": "Patient.identifier:cccd", "path": "Patient.identifier", "sliceName": "cccd",
         "max": "1"},
        {"id": "Patient.identifier:cccd.system", "path": "Patient.identifier.system",
         "fixedUri": CCCD},
        {"id": "Patient.identifier:bhyt", "path": "Patient.identifier", "sliceName": "bhyt"},
        {"id": "Patient.identifier:bhyt.system", "path": "Patient.identifier.system",
         "fixedUri": "http://example.org/bhyt"},
        {"id": "Patient.identifier:cccd/old", "path": "Patient.identifier",
         "sliceName": "cccd/old"},
        {"id": "Patient.identifier:cccd/old.period", "path": "Patient.identifier.period",
         "min": 1},
    )
    ids = list(snapshot)
    slices = [i for i in ids if i.startswith("Patient.identifier:") and "." not in i[19:]]
    assert slices == ["Patient.identifier:cccd", "Patient.identifier:cccd/old",
                      "Patient.identifier:bhyt"]
    cccd = snapshot["Patient.identifier:cccd"]
    assert (cccd["sliceName"], cccd["min"], cccd["max"], cccd["type"]) == (
        "cccd", 0, "1", [{"code": "Identifier"}])  # optional, as the differential says no min
    assert "slicing" not in cccd
    assert snapshot["Patient.identifier:cccd.system"]["fixedUri"] == CCCD
    assert snapshot["Patient.identifier:cccd/old"]["max"] == "1"  # from its slice
    assert snapshot["Patient.identifier:cccd/old.period"]["min"] == 1
    # Each slice's children right after it, and the element after the slicing is unmoved.
    assert ids.index("Patient.identifier:cccd.value") < ids.index("Patient.identifier:cccd/old")
    assert ids[ids.index("Patient.identifier:bhyt.assigner") + 1] == "Patient.active"


def test_elements_without_ids_belong_to_the_slice_last_named_on_their_path():
    """As HL7's profile-slicing-missing-profile1 writes its differential: paths only."""
    snapshot = generated(
        "Observation",
        {"path": "Observation.category", "slicing": {"rules": "open"}},
        {"path": "Observation.category", "sliceName": "a"},
        {"path": "Observation.category.text", "min": 1},
        {"path": "Observation.category", "sliceName": "b"},
        {"path": "Observation.category.coding", "min": 1},
        {"path": "Observation.code", "short": "after"},
    )
    assert snapshot["Observation.category:a.text"]["min"] == 1
    assert snapshot["Observation.category:b.coding"]["min"] == 1
    assert snapshot["Observation.category:b.text"]["min"] == 0
    assert "Observation.category.text" not in snapshot  # not the sliced element's
    assert snapshot["Observation.code"]["short"] == "after"


def test_a_new_slice_may_allow_more_than_its_sliced_element_not_than_its_base():
    """HL7's profile-parameters-complex: `part` 3..5 with a slice of it 1..10 (the sliced
    element's max still bounds its values together)."""
    snapshot = generated(
        "Parameters",
        {"id": "Parameters.parameter", "path": "Parameters.parameter", "max": "5"},
        {"id": "Parameters.parameter:a", "path": "Parameters.parameter", "sliceName": "a",
         "max": "10"},
    )
    assert (snapshot["Parameters.parameter"]["max"], snapshot["Parameters.parameter:a"]["max"]
            ) == ("5", "10")
    with pytest.raises(SnapshotError, match="max 2 widens the base's max 1"):
        generated("Patient", {"id": "Patient.gender:a", "path": "Patient.gender",
                              "sliceName": "a", "max": "2"})


def test_a_type_slice_of_a_choice_and_its_children():
    snapshot = generated(
        "Observation",
        {"id": "Observation.value[x]", "path": "Observation.value[x]",
         "slicing": {"discriminator": [{"type": "type", "path": "$this"}], "rules": "closed"}},
        {"id": "Observation.value[x]:valueQuantity", "path": "Observation.value[x]",
         "sliceName": "valueQuantity", "type": [{"code": "Quantity"}]},
        {"id": "Observation.value[x]:valueQuantity.system",
         "path": "Observation.value[x].system", "fixedUri": "http://unitsofmeasure.org"},
    )
    assert snapshot["Observation.value[x]:valueQuantity"]["type"] == [{"code": "Quantity"}]
    system = snapshot["Observation.value[x]:valueQuantity.system"]
    assert (system["path"], system["fixedUri"]) == (
        "Observation.value[x].system", "http://unitsofmeasure.org")


def test_a_choice_renamed_in_the_differential_constrains_its_type():
    snapshot = generated(
        "Observation",
        {"id": "Observation.valueQuantity", "path": "Observation.valueQuantity", "min": 1},
        {"id": "Observation.valueQuantity.code", "path": "Observation.valueQuantity.code",
         "min": 1},
    )
    value = snapshot["Observation.value[x]"]
    assert (value["min"], [t["code"] for t in value["type"]]) == (1, ["Quantity"])
    assert snapshot["Observation.value[x].code"]["min"] == 1
    assert not any(i.startswith("Observation.valueQuantity") for i in snapshot)


def test_a_content_reference_unfolds_the_elements_it_refers_to():
    snapshot = generated("Questionnaire", {"id": "Questionnaire.item.item.linkId",
                                           "path": "Questionnaire.item.item.linkId",
                                           "maxLength": 10})
    nested = snapshot["Questionnaire.item.item"]
    assert "contentReference" not in nested
    assert nested["type"] == [{"code": "BackboneElement"}]
    assert snapshot["Questionnaire.item.item.linkId"]["maxLength"] == 10
    assert snapshot["Questionnaire.item.item.linkId"]["path"] == "Questionnaire.item.item.linkId"
    assert "Questionnaire.item.item.item" in snapshot  # its own contentReference, kept


def test_children_of_an_element_with_a_profile_come_from_the_profile(tmp_path):
    """And profiles are generated recursively: the base and the profile named first."""
    address = profile("vn-address", CORE + "Address",
                      {"id": "Address.city", "path": "Address.city", "min": 1})
    patient = profile("vn-patient", CORE + "Patient",
                      {"id": "Patient.address", "path": "Patient.address",
                       "type": [{"code": "Address", "profile": [EXAMPLE + "vn-address"]}]},
                      {"id": "Patient.address.line", "path": "Patient.address.line",
                       "max": "2"})
    strict = profile("vn-patient-strict", EXAMPLE + "vn-patient",
                     {"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1})
    built = registry_with(tmp_path, address, patient, strict)
    snapshot = {e["id"]: e for e in built.snapshot(EXAMPLE + "vn-patient-strict")}
    assert snapshot["Patient.address.city"]["min"] == 1  # from the Address profile
    assert snapshot["Patient.address.line"]["max"] == "2"  # from vn-patient
    assert snapshot["Patient.birthDate"]["min"] == 1
    assert built.structure_definition(EXAMPLE + "vn-patient")["snapshot"]["element"]
    assert built.profile_errors == {}


# --- Differentials that cannot be applied ---------------------------------------------------

@pytest.mark.parametrize(("differential", "message"), [
    ({"id": "Patient.nickname", "path": "Patient.nickname"},
     "Patient.nickname is not an element of the base"),
    ({"id": "Patient.name", "path": "Patient.name", "max": "2"}, None),
    ({"id": "Patient.gender", "path": "Patient.gender", "max": "*"},
     "max \\* widens the base's max 1"),
    ({"id": "Patient.gender", "path": "Patient.gender", "type": [{"code": "Coding"}]},
     "type Coding is not one of the base's types \\(code\\)"),
    ({"id": "Patient.deceased[x].value", "path": "Patient.deceased[x].value"},
     "Patient.deceased\\[x\\] has types boolean, dateTime"),
    ({"id": "Patient.identifier:a/b", "path": "Patient.identifier", "sliceName": "a/b"},
     "re-slices Patient.identifier:a, which is not a slice"),
    ({"id": "Observation.status", "path": "Observation.status"},
     "Observation.status is not an element of Patient"),
])
def test_a_differential_that_cannot_be_applied_is_a_snapshot_error(differential, message):
    if message is None:
        generated("Patient", differential)  # narrowing is fine
        return
    with pytest.raises(SnapshotError, match=message):
        generated("Patient", differential)


def test_slices_a_value_discriminator_cannot_tell_apart_are_a_warning(tmp_path):
    """The flaw of VN Core's identifier slicing: sliced by `value` too, no slice fixes one.
    The snapshot is made (the other discriminator still tells the slices apart)."""
    sliced = profile(
        "sliced", CORE + "Patient",
        {"id": "Patient.identifier", "path": "Patient.identifier",
         "slicing": {"discriminator": [{"type": "value", "path": "system"},
                                       {"type": "value", "path": "value"}], "rules": "open"}},
        {"id": "Patient.identifier:cccd", "path": "Patient.identifier", "sliceName": "cccd"},
        {"id": "Patient.identifier:cccd.system", "path": "Patient.identifier.system",
         "fixedUri": CCCD},
        {"id": "Patient.identifier:cccd.value", "path": "Patient.identifier.value", "min": 1},
    )
    built = registry_with(tmp_path, sliced)
    assert built.snapshot(EXAMPLE + "sliced")
    assert built.profile_warnings == {EXAMPLE + "sliced": [
        "Patient.identifier is sliced by value at 'value', but its slices "
        "Patient.identifier:cccd fix no value there (fixed[x], pattern[x] or a required "
        "binding)"]}


def test_a_broken_profile_is_reported_when_used_and_so_are_profiles_built_on_it(tmp_path):
    broken = profile("broken", CORE + "Patient",
                     {"id": "Patient.nickname", "path": "Patient.nickname"})
    child = profile("child", EXAMPLE + "broken",
                    {"id": "Patient.active", "path": "Patient.active", "min": 1})
    orphan = profile("orphan", "http://example.org/missing",
                     {"id": "Patient.active", "path": "Patient.active", "min": 1})
    built = registry_with(tmp_path, broken, child, orphan)
    assert "snapshot" not in built.structure_definition(EXAMPLE + "broken")
    with pytest.raises(ProfileError, match="Profile http://example.org/fhir/StructureDefinition"
                                           "/broken cannot be used: Patient.nickname: "):
        built.snapshot(EXAMPLE + "broken")
    with pytest.raises(ProfileError, match="child cannot be used: Profile .*broken cannot be "
                                           "used"):
        built.snapshot(EXAMPLE + "child")
    with pytest.raises(ProfileError, match="base or type http://example.org/missing is not "
                                           "known"):
        built.snapshot(EXAMPLE + "orphan")
    assert set(built.profile_errors) == {EXAMPLE + "broken", EXAMPLE + "child",
                                         EXAMPLE + "orphan"}
    with pytest.raises(KeyError):
        built.snapshot(EXAMPLE + "unknown")


def test_profiles_based_on_each_other_and_malformed_ones_are_errors_not_crashes(tmp_path):
    one = profile("one", EXAMPLE + "two", {"id": "Patient.active", "path": "Patient.active"})
    two = profile("two", EXAMPLE + "one", {"id": "Patient.active", "path": "Patient.active"})
    malformed = profile("malformed", CORE + "Patient", "Patient.gender")  # not an element
    built = registry_with(tmp_path, one, two, malformed)
    with pytest.raises(ProfileError, match="one cannot be used: .*depends on itself"):
        built.snapshot(EXAMPLE + "one")
    with pytest.raises(ProfileError, match="its differential is malformed"):
        built.snapshot(EXAMPLE + "malformed")


def test_every_vn_core_profile_gets_a_snapshot_or_a_recorded_error():
    vn_core = [d for d in registry().all("StructureDefinition")
               if registry().package_of(d) == "hl7.fhir.vn.core#1.0.0"]
    assert len(vn_core) == 65
    for definition in vn_core:
        found = registry().structure_definition(definition["url"])
        assert "snapshot" in found or definition["url"] in registry().profile_errors
    errors = {url.removeprefix(VN_CORE): str(error)
              for url, error in registry().profile_errors.items() if url.startswith(VN_CORE)}
    assert errors["vn-core-obervation-result-base"] == (  # an IPS 1.0.0 profile, gone in 2.0.0
        "base or type http://hl7.org/fhir/uv/ips/StructureDefinition/Observation-results-uv-ips"
        " is not known")
    assert "snapshot" in registry().structure_definition(VN_CORE + "vn-core-encounter")
    assert len(errors) < 20
    # The README's two flaws: warnings, the Patient profile stays usable.
    assert "snapshot" in registry().structure_definition(VN_CORE + "vn-core-patient")
    patient = registry().profile_warnings[VN_CORE + "vn-core-patient"]
    assert patient[0] == (
        "Patient.identifier:BangLaiXe.system fixes the identifier system "
        "http://fhir.ehealth.gov.vn/core/sid/driver_license_number, but the NamingSystem "
        "spells it http://fhir.ehealth.gov.vn/core/sid/driver-license-number")
    assert patient[1].startswith("Patient.identifier is sliced by value at 'value', but its "
                                 "slices Patient.identifier:SoCMT, ")
