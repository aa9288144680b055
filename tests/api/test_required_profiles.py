"""FHIR_REQUIRED_PROFILES: a hospital requires that every Patient conforms to VN Core; a
write that does not is a 422 with the issues and stores nothing, in a transaction nothing
at all; `meta.profile` claims of known profiles are checked on every write."""

import httpx
import pytest
from api.bundle_helpers import batch, post_entry, submit, transaction
from api.helpers import FHIR_HEADERS, create, new_patient
from api.vn_core import VN_CORE_PATIENT, vn_core_patient, without_name_text
from conftest import RunningServer, database_name
from conftest import test_settings as settings_for

from fhir_server.services.conformance_policy import ConformancePolicy, ProfileConfigurationError


@pytest.fixture(scope="module")
def strict_server(mongo_uri, request, tmp_path_factory, issuer, signing_service):
    settings = settings_for(mongo_uri, database_name(request), tmp_path_factory.mktemp("data"),
                             issuer, signing_service,
                             required_profiles={"Patient": [VN_CORE_PATIENT]})
    with RunningServer(settings) as running:
        yield running


@pytest.fixture(scope="module")
def strict(strict_server, issuer):
    headers = {"Accept": "application/fhir+json", "Authorization": f"Bearer {issuer.token()}"}
    with httpx.Client(base_url=strict_server.base, timeout=60, headers=headers) as http:
        yield http


def _total(client, query: str) -> int:
    return client.get(f"/Patient?{query}&_summary=count").json()["total"]


def test_a_conforming_patient_is_stored(strict):
    response = create(strict, vn_core_patient())
    assert response.status_code == 201, response.text


def test_a_non_conforming_patient_is_422_with_the_profile_issue(strict):
    patient = without_name_text(vn_core_patient())
    response = create(strict, patient)
    assert response.status_code == 422, response.text
    issues = response.json()["issue"]
    error = next(i for i in issues if i["severity"] == "error")
    assert error["expression"] == ["Patient.name[0].text"]
    assert VN_CORE_PATIENT in error["diagnostics"]
    value = patient["identifier"][0]["value"]
    assert _total(strict, f"identifier={value}") == 0


def test_an_update_that_breaks_the_profile_keeps_the_stored_version(strict):
    stored = create(strict, vn_core_patient()).json()
    response = strict.put(f"/Patient/{stored['id']}", json=without_name_text(stored),
                          headers=FHIR_HEADERS)
    assert response.status_code == 422
    assert strict.get(f"/Patient/{stored['id']}").json()["meta"]["versionId"] == "1"


def test_a_transaction_with_one_non_conforming_patient_stores_nothing(strict):
    good, bad = vn_core_patient(), without_name_text(vn_core_patient())
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "Mạch"}}
    response = submit(strict, transaction(post_entry(good), post_entry(observation),
                                          post_entry(bad)))
    assert response.status_code == 422, response.text
    assert _total(strict, f"identifier={good['identifier'][0]['value']}") == 0
    assert strict.get("/Observation?_summary=count").json()["total"] == 0


def test_a_batch_refuses_only_the_non_conforming_entry(strict):
    good, bad = vn_core_patient(), without_name_text(vn_core_patient())
    entries = submit(strict, batch(post_entry(good), post_entry(bad))).json()["entry"]
    assert entries[0]["response"]["status"].startswith("201")
    assert entries[1]["response"]["status"].startswith("422")


def test_other_types_are_not_held_to_the_patient_profile(strict):
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "Mạch"}}
    assert create(strict, observation).status_code == 201


def test_a_declared_known_profile_is_checked_on_an_ordinary_server(client):
    claimed = without_name_text(vn_core_patient(meta={"profile": [VN_CORE_PATIENT]}))
    assert create(client, claimed).status_code == 422
    assert create(client, vn_core_patient(meta={"profile": [VN_CORE_PATIENT]})).status_code == 201
    assert create(client, without_name_text(vn_core_patient())).status_code == 201


@pytest.mark.parametrize(("required", "named"), [
    ({"Patient": ["http://example.org/no-such"]}, "http://example.org/no-such"),
    ({"Observation": [VN_CORE_PATIENT]}, "constrains Patient, not Observation"),
    # Installed, but its base (IPS 1.0.0's Observation-results-uv-ips) is not: required,
    # it would refuse every Observation.
    ({"Observation": ["http://fhir.ehealth.gov.vn/core/StructureDefinition/"
                      "vn-core-observation-lab-code"]},
     "vn-core-observation-lab-code \\(for Observation\\) cannot be used: .*Observation-results"),
])
def test_a_required_profile_the_server_cannot_check_is_a_start_up_error(required, named):
    with pytest.raises(ProfileConfigurationError, match=named):
        ConformancePolicy.configured(required)


def test_the_plain_server_still_takes_any_patient(client):
    assert create(client, new_patient()).status_code == 201


def test_batch_entry_outcomes_follow_accept_language(strict):
    bad = without_name_text(vn_core_patient())
    english = submit(strict, batch(post_entry(bad))).json()["entry"][0]["response"]["outcome"]
    vietnamese = submit(strict, batch(post_entry(bad)), **{"Accept-Language": "vi"}).json()
    outcome = vietnamese["entry"][0]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == english["issue"][0]["expression"]
    assert outcome["issue"][0]["diagnostics"] != english["issue"][0]["diagnostics"]


def test_the_capability_statement_names_the_required_profile(strict, client):
    """R4 `CapabilityStatement.rest.resource.profile`: "the base system profile for all uses
    of resource" — the one every Patient must conform to here; the base definition on a
    server that requires none. A profile the server cannot use is not offered as supported."""
    def entry(http, kind: str) -> dict:
        statement = http.get("/metadata").json()
        (found,) = [r for r in statement["rest"][0]["resource"] if r["type"] == kind]
        return found

    assert entry(strict, "Patient")["profile"] == VN_CORE_PATIENT
    assert entry(client, "Patient")["profile"] == "http://hl7.org/fhir/StructureDefinition/Patient"
    supported = entry(client, "Observation")["supportedProfile"]
    assert not [url for url in supported if url.endswith("vn-core-observation-lab-code")]
    assert VN_CORE_PATIENT in entry(client, "Patient")["supportedProfile"]
