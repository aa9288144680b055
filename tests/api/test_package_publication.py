"""The installed packages' definitions are readable and searchable like any resource once
the server has stored them in the background after start-up."""

import time

import httpx
import pytest
from api.vn_core import VN_CORE_PATIENT
from conftest import RunningServer, database_name
from conftest import test_settings as settings_for


@pytest.fixture(scope="module")
def publishing(mongo_uri, request, tmp_path_factory, issuer, signing_service):
    settings = settings_for(mongo_uri, database_name(request), tmp_path_factory.mktemp("data"),
                            issuer, signing_service, publish_packages=True)
    headers = {"Accept": "application/fhir+json", "Authorization": f"Bearer {issuer.token()}"}
    with RunningServer(settings) as running, httpx.Client(
        base_url=running.base, timeout=60, headers=headers
    ) as http:
        yield http


def _wait_for(client: httpx.Client, path: str, params: dict) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        bundle = client.get(path, params=params).json()
        if bundle.get("entry"):
            return bundle
        time.sleep(1)
    raise AssertionError(f"{path}?{params} found nothing within 180 s")


def test_a_vn_core_profile_is_found_by_url_and_read_by_id(publishing):
    bundle = _wait_for(publishing, "/StructureDefinition", {"url": VN_CORE_PATIENT})
    [entry] = bundle["entry"]
    profile = entry["resource"]
    assert profile["url"] == VN_CORE_PATIENT and profile["type"] == "Patient"
    assert publishing.get(f"/StructureDefinition/{profile['id']}").json()["url"] == VN_CORE_PATIENT


def test_vn_core_code_systems_are_searchable_by_name_and_status(publishing):
    bundle = _wait_for(publishing, "/CodeSystem",
                       {"url": "http://fhir.ehealth.gov.vn/core/CodeSystem/vn-core-ethic"})
    system = bundle["entry"][0]["resource"]
    by_name = publishing.get("/CodeSystem", params={"name": system["name"],
                                                    "status": system["status"]}).json()
    assert system["id"] in {e["resource"]["id"] for e in by_name.get("entry", [])}


def test_an_ips_profile_with_many_warnings_is_published(publishing):
    """Bundle-uv-ips draws 130 warnings (extensions placed on ElementDefinition.type, where
    R4 defines them for type.code): warnings, however many, do not keep it out."""
    url = "http://hl7.org/fhir/uv/ips/StructureDefinition/Bundle-uv-ips"
    bundle = _wait_for(publishing, "/StructureDefinition", {"url": url})
    assert [entry["resource"]["type"] for entry in bundle["entry"]] == ["Bundle"]


@pytest.mark.parametrize("definition", ["Provenance-verify", "verify-signature", "reindex"])
def test_the_operations_of_the_capability_statement_have_readable_definitions(publishing,
                                                                               definition):
    """The server's own operations are defined by OperationDefinitions it stores like a
    package's: found by the canonical the CapabilityStatement names, and read by id."""
    declared = {operation["definition"]
                for rest in publishing.get("/metadata").json()["rest"]
                for kind in [rest, *rest["resource"]] for operation in kind.get("operation", [])}
    url = f"urn:fhir-exchange-server:OperationDefinition/{definition}"
    assert url in declared
    [entry] = _wait_for(publishing, "/OperationDefinition", {"url": url})["entry"]
    operation = publishing.get(f"/OperationDefinition/{definition}").json()
    assert operation == entry["resource"] and operation["url"] == url
    assert f"${operation['code']}" in {"$verify", "$verify-signature", "$reindex"}


def test_the_core_operations_of_the_capability_statement_resolve_here(publishing):
    """Every R4 operation the CapabilityStatement names ($everything, $expand, $validate,
    ...) has its OperationDefinition stored: found by that canonical, read by its R4 id."""
    declared = sorted({operation["definition"]
                       for rest in publishing.get("/metadata").json()["rest"]
                       for kind in [rest, *rest["resource"]]
                       for operation in kind.get("operation", [])
                       if operation["definition"].startswith("http://hl7.org/fhir/Operation")})
    assert "http://hl7.org/fhir/OperationDefinition/Patient-everything" in declared
    for url in declared:
        [entry] = _wait_for(publishing, "/OperationDefinition", {"url": url})["entry"]
        definition = entry["resource"]
        assert definition["url"] == url and url.endswith(f"/{definition['id']}")
        assert publishing.get(f"/OperationDefinition/{definition['id']}").json() == definition


def test_the_compartments_of_the_capability_statement_resolve_here(publishing):
    """`rest.compartment` names R4's five CompartmentDefinitions: found by that canonical
    and read by their R4 id, as the core OperationDefinitions are (none was stored)."""
    [rest] = publishing.get("/metadata").json()["rest"]
    assert len(rest["compartment"]) == 5
    for url in rest["compartment"]:
        [entry] = _wait_for(publishing, "/CompartmentDefinition", {"url": url})["entry"]
        definition = entry["resource"]
        assert definition["url"] == url and url.endswith(f"/{definition['id']}")
        assert publishing.get(f"/CompartmentDefinition/{definition['id']}").json() == definition


def test_an_implementation_guides_operation_definition_is_published(publishing):
    url = "http://hl7.org/fhir/uv/ips/OperationDefinition/summary"
    [entry] = _wait_for(publishing, "/OperationDefinition", {"url": url})["entry"]
    assert entry["resource"]["code"] == "summary"


def test_definitions_of_one_id_in_two_packages_are_both_found_by_url(publishing):
    """HL7's terminology and extensions packages both have a CodeSystem/certainty-rating, of
    two canonical URLs: each is stored (one under an id of its own) and found by its URL;
    before, each package's publication replaced the other's."""
    for url in ("http://terminology.hl7.org/CodeSystem/certainty-rating",
                "http://hl7.org/fhir/certainty-rating"):
        [entry] = _wait_for(publishing, "/CodeSystem", {"url": url})["entry"]
        assert entry["resource"]["url"] == url
        assert entry["resource"]["id"].startswith("certainty-rating")


def test_the_administrative_units_of_2025_are_readable(publishing):
    """The server's own code systems of the 2025 reform (VN Core publishes a stub without
    codes) and the ConceptMap its errors about a pre-reform province name."""
    url = "http://fhir.ehealth.gov.vn/core/CodeSystem/vn-core-administrative-address"
    bundle = _wait_for(publishing, "/CodeSystem", {"url": url, "version": "2025-07-01"})
    [system] = [entry["resource"] for entry in bundle["entry"]]
    assert system["content"] == "complete"
    assert {"code": "01", "display": "Thành phố Hà Nội"}.items() <= next(
        c for c in system["concept"] if c["code"] == "01").items()
    concept_map = "urn:fhir-exchange-server:ConceptMap/vn-administrative-units-2025"
    assert _wait_for(publishing, "/ConceptMap", {"url": concept_map})["entry"]
