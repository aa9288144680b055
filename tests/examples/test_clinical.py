"""The Synthea-style bulk data set: deterministic, valid FHIR R4, one NDJSON file per type,
every `Type/id` reference resolving inside the set, profiles the server does not know."""

import json
from collections import Counter

import pytest
from fhir.resources.R4B import get_fhir_model_class

from examples.clinical import bulk_data_set
from examples.clinical_codes import US_CORE, VN_CORE
from examples.generator import main
from examples.vietnam import BHYT_SYSTEM
from fhir_server.conformance.validation import validate_resource
from fhir_server.search.types.reference import references_in

TYPES = {"AllergyIntolerance", "CarePlan", "Condition", "Coverage", "DiagnosticReport",
         "Encounter", "Immunization", "Location", "Medication", "MedicationRequest",
         "Observation", "Organization", "Patient", "Practitioner", "Procedure"}


@pytest.fixture(scope="module")
def data_set() -> dict[str, list[dict]]:
    return bulk_data_set(seed=5, patients=30)


def _all(data_set: dict[str, list[dict]]) -> list[dict]:
    return [resource for resources in data_set.values() for resource in resources]


def _by_reference(data_set: dict[str, list[dict]]) -> dict[str, dict]:
    return {f"{r['resourceType']}/{r['id']}": r for r in _all(data_set)}


def test_same_seed_same_data_set_and_different_seeds_differ():
    assert bulk_data_set(2, 3) == bulk_data_set(2, 3)
    assert bulk_data_set(2, 3) != bulk_data_set(4, 3)


def test_every_type_and_every_resource_valid_r4(data_set):
    assert set(data_set) == TYPES
    for kind, resources in data_set.items():
        for resource in resources:
            assert resource["resourceType"] == kind
            get_fhir_model_class(kind).model_validate(resource)
            validate_resource(resource)


def test_ids_are_unique_and_every_reference_resolves(data_set):
    known = _by_reference(data_set)
    assert len(known) == len(_all(data_set))
    for resource in _all(data_set):
        for element in references_in(resource):
            assert element["reference"] in known, element


def test_profiles_name_us_core_and_vn_core(data_set):
    for resource in _all(data_set):
        assert resource["meta"]["profile"][0].startswith(US_CORE), resource
    for patient in data_set["Patient"]:
        assert patient["meta"]["profile"] == [f"{US_CORE}us-core-patient",
                                              f"{VN_CORE}vn-core-patient"]


def test_vital_signs_have_quantities_and_blood_pressure_components(data_set):
    vital = [o for o in data_set["Observation"]
             if o["category"][0]["coding"][0]["code"] == "vital-signs"]
    codes = Counter(o["code"]["coding"][0]["code"] for o in vital)
    assert set(codes) == {"85354-9", "8867-4", "8310-5", "9279-1", "59408-5", "29463-7"}
    assert len(set(codes.values())) == 1  # a full set of vital signs per encounter
    for observation in vital:
        quantities = [c["valueQuantity"] for c in observation.get("component", [])] or [
            observation["valueQuantity"]]
        for quantity in quantities:
            assert quantity["system"] == "http://unitsofmeasure.org"
            assert quantity["code"] == quantity["unit"] and quantity["value"] > 0
        if observation["code"]["coding"][0]["code"] == "85354-9":
            assert [c["code"]["coding"][0]["code"] for c in observation["component"]] == [
                "8480-6", "8462-4"]


def test_records_hang_together(data_set):
    known = _by_reference(data_set)
    for report in data_set["DiagnosticReport"]:
        for result in report["result"]:
            observation = known[result["reference"]]
            assert observation["category"][0]["coding"][0]["code"] == "laboratory"
            assert observation["subject"] == report["subject"]
            assert observation["encounter"] == report["encounter"]
    for coverage in data_set["Coverage"]:
        patient = known[coverage["beneficiary"]["reference"]]
        card = next(i for i in patient["identifier"] if i["system"] == BHYT_SYSTEM)
        assert coverage["subscriberId"] == card["value"]
    for request in data_set["MedicationRequest"]:
        assert known[request["medicationReference"]["reference"]]["resourceType"] == "Medication"
        condition = known[request["reasonReference"][0]["reference"]]
        assert condition["encounter"] == request["encounter"]
    for encounter in data_set["Encounter"]:
        assert encounter["period"]["start"][:10] >= known[
            encounter["subject"]["reference"]]["birthDate"]


def test_cli_writes_one_ndjson_file_per_type(tmp_path):
    main(["ndjson", str(tmp_path), "--patients", "2", "--seed", "9"])
    expected = bulk_data_set(9, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{kind}.ndjson" for kind in expected]
    for kind, resources in expected.items():
        lines = (tmp_path / f"{kind}.ndjson").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == resources
