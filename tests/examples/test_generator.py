"""The synthetic-data generator: deterministic, valid FHIR R4, consistent Vietnamese identifiers,
self-contained Bundles, and the committed demo data set up to date."""

import base64
import json
import re
from datetime import date

import pytest
from fhir.resources.R4B import get_fhir_model_class

from examples.generator import (
    BHYT_SYSTEM,
    CCCD_SYSTEM,
    DEMO_PATH,
    MRN_SYSTEM,
    Generator,
    demo_bundle,
    main,
)
from fhir_server.conformance.validation import validate_resource
from fhir_server.search.types.reference import references_in


@pytest.fixture(scope="module")
def demo() -> dict:
    return demo_bundle()


@pytest.fixture(scope="module")
def patient_bundles() -> list[dict]:
    generator = Generator(11)
    return [generator.patient_bundle() for _ in range(50)]


def resources(bundle: dict) -> list[dict]:
    return [entry["resource"] for entry in bundle["entry"]]


def identifier_value(resource: dict, system: str) -> str:
    return next(i["value"] for i in resource["identifier"] if i["system"] == system)


def test_same_seed_same_output_and_different_seeds_differ():
    assert Generator(7).patient_bundle() == Generator(7).patient_bundle()
    assert Generator(7).demo_bundle(3) == Generator(7).demo_bundle(3)
    assert Generator(7).patient_bundle() != Generator(8).patient_bundle()


def test_every_resource_is_valid_r4(demo, patient_bundles):
    for bundle in [demo, *patient_bundles]:
        get_fhir_model_class("Bundle").model_validate(bundle)
        for resource in resources(bundle):
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_every_resource_passes_the_servers_validation_with_its_required_bindings(
    demo, patient_bundles
):
    for bundle in [demo, *patient_bundles]:
        for resource in resources(bundle):
            validate_resource(resource)


def test_demo_has_hospitals_practitioners_patients_and_a_group(demo):
    types = [resource["resourceType"] for resource in resources(demo)]
    assert types.count("Organization") == 3
    assert types.count("Practitioner") == 5
    assert types.count("Patient") == 20
    assert types.count("Encounter") >= 20 and types.count("DocumentReference") >= 20
    group = next(r for r in resources(demo) if r["resourceType"] == "Group")
    patient_urls = {entry["fullUrl"] for entry in demo["entry"]
                    if entry["resource"]["resourceType"] == "Patient"}
    members = {member["entity"]["reference"] for member in group["member"]}
    assert members and members <= patient_urls


@pytest.mark.parametrize("bundle_of", ["demo", "patient_bundles"])
def test_every_reference_resolves_inside_an_inline_bundle(bundle_of, request):
    found = request.getfixturevalue(bundle_of)
    for bundle in found if isinstance(found, list) else [found]:
        assert bundle["type"] == "transaction"
        full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
        assert len(set(full_urls)) == len(full_urls)
        assert all(re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", url) for url in full_urls)
        for resource in resources(bundle):
            for element in references_in(resource):
                assert element["reference"] in full_urls


def test_conditional_mode_refers_to_the_staff_by_identifier():
    generator = Generator(3, shared_refs="conditional")
    staff = {
        f"{r['resourceType']}?identifier={r['identifier'][0]['system']}|{r['identifier'][0]['value']}"
        for r in resources(generator.staff_bundle())
    }
    bundle = generator.patient_bundle()
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    references = {e["reference"] for r in resources(bundle) for e in references_in(r)}
    assert {r.split("?")[0] for r in references - full_urls} == {"Practitioner", "Organization"}
    assert references - full_urls <= staff
    assert {r["resourceType"] for r in resources(bundle)} == {
        "Patient", "Encounter", "DocumentReference"
    }


def test_conditional_creates_for_resources_with_identifiers(demo):
    for entry in demo["entry"]:
        resource, request = entry["resource"], entry["request"]
        assert request["method"] == "POST" and request["url"] == resource["resourceType"]
        if resource["resourceType"] in ("Patient", "Practitioner"):
            cccd = identifier_value(resource, CCCD_SYSTEM)
            assert request["ifNoneExist"] == f"identifier={CCCD_SYSTEM}|{cccd}"


def test_cccd_agrees_with_gender_and_birth_year():
    generator = Generator(5)
    patients = [generator.patient() for _ in range(500)]
    cccds = [identifier_value(patient, CCCD_SYSTEM) for patient in patients]
    assert len(set(cccds)) == len(cccds)
    for patient, cccd in zip(patients, cccds, strict=True):
        born = date.fromisoformat(patient["birthDate"])
        century_and_sex = (0 if born.year < 2000 else 2) + (patient["gender"] == "female")
        assert re.fullmatch(r"0(01|79|48|31|92|46)\d{9}", cccd)
        assert cccd[3] == str(century_and_sex)
        assert cccd[4:6] == f"{born.year % 100:02d}"
    assert {cccd[3] for cccd in cccds} == {"0", "1", "2", "3"}


def test_insurance_number_and_mrn_formats():
    generator = Generator(6)
    for _ in range(200):
        patient = generator.patient()
        bhyt = identifier_value(patient, BHYT_SYSTEM)
        assert re.fullmatch(r"[A-Z]{2}[1-5]\d{12}", bhyt)
        assert bhyt[3:5] == identifier_value(patient, CCCD_SYSTEM)[1:3]  # same province
        assert re.fullmatch(r"MRN-\d{8}", identifier_value(patient, MRN_SYSTEM))


def test_names_are_vietnamese_and_sex_consistent():
    generator = Generator(9)
    patients = [generator.patient() for _ in range(300)]
    names = [patient["name"][0] for patient in patients]
    with_diacritics = [name for name in names if not name["text"].isascii()]
    assert len(with_diacritics) > 0.9 * len(names)
    for patient, name in zip(patients, names, strict=True):
        middle, given = name["given"]
        assert name["text"] == f"{name['family']} {middle} {given}"
        assert (middle == "Thị") <= (patient["gender"] == "female")
        assert (middle == "Văn") <= (patient["gender"] == "male")
        assert patient["address"][0]["country"] == "VN"
        assert patient["telecom"][0]["value"].startswith("+84 ")


def test_encounters_and_notes_are_dated_in_vietnam_time(patient_bundles):
    for bundle in patient_bundles:
        patient, *rest = resources(bundle)
        for resource in rest:
            if resource["resourceType"] == "Encounter":
                assert resource["period"]["start"].endswith("+07:00")
                assert resource["period"]["start"][:10] >= patient["birthDate"]
                assert ("end" in resource["period"]) == (resource["status"] == "finished")
            elif resource["resourceType"] == "DocumentReference":
                assert resource["date"].endswith("+07:00")


def test_notes_carry_vietnamese_text_or_a_pdf(demo):
    attachments = [
        resource["content"][0]["attachment"]
        for resource in resources(demo)
        if resource["resourceType"] == "DocumentReference"
    ]
    kinds = {attachment["contentType"] for attachment in attachments}
    assert kinds == {"text/plain; charset=utf-8", "application/pdf"}
    for attachment in attachments:
        data = base64.b64decode(attachment["data"])
        assert len(data) == attachment["size"]
        if attachment["contentType"] == "application/pdf":
            assert data.startswith(b"%PDF-1.4") and data.endswith(b"%%EOF\n")
            start_xref = int(data.rsplit(b"startxref\n", 1)[1].split()[0])
            assert data[start_xref:].startswith(b"xref")
        else:
            assert "Chẩn đoán" in data.decode("utf-8")


def test_committed_demo_bundle_is_up_to_date(demo):
    committed = json.loads(DEMO_PATH.read_text(encoding="utf-8"))
    assert committed == demo, "regenerate it: python -m examples.generator demo"


def test_cli_writes_patient_bundles_and_the_staff_to_load_first(tmp_path):
    main(["bundles", "3", "--out", str(tmp_path), "--shared-refs", "conditional"])
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "00-staff.json", "patient-000001.json", "patient-000002.json", "patient-000003.json"
    ]
    bundle = json.loads((tmp_path / "patient-000001.json").read_text(encoding="utf-8"))
    assert bundle == Generator(1, shared_refs="conditional").patient_bundle()


def test_demo_and_patient_bundles_load_through_the_api(client):
    headers = {"Content-Type": "application/fhir+json"}
    for bundle in [demo_bundle(), Generator(2).patient_bundle(), Generator(2).patient_bundle()]:
        response = client.post("", json=bundle, headers=headers)
        assert response.status_code == 200, response.text
        statuses = [entry["response"]["status"] for entry in response.json()["entry"]]
        assert all(status.startswith(("200", "201")) for status in statuses)
    conditional = Generator(4, shared_refs="conditional")
    for bundle in [conditional.staff_bundle(), conditional.patient_bundle()]:
        response = client.post("", json=bundle, headers=headers)
        assert response.status_code == 200, response.text
