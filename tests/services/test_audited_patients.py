"""The patients an AuditEvent names for a read or write (services/audit_events.patients_of):
a Patient without links is named as itself without extracting its compartments, which must
give what the extraction gives."""

import json
from pathlib import Path

from fhir_server.search.index import resource_compartments
from fhir_server.services.audit_events import patients_of

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo" / "demo-bundle.json"


def test_a_patient_is_named_as_its_compartments_name_it():
    patients = [entry["resource"] for entry in json.loads(DEMO.read_text())["entry"]
                if entry["resource"]["resourceType"] == "Patient"]
    assert patients
    for number, patient in enumerate(patients):
        patient = {**patient, "id": patient.get("id", f"p{number}")}
        extracted = tuple(c for c in resource_compartments("Patient", patient)
                          if c.startswith("Patient/"))
        assert patients_of("Patient", patient, "") == extracted == (f"Patient/{patient['id']}",)


def test_a_linked_patient_names_the_patients_it_links_too():
    linked = {"resourceType": "Patient", "id": "a",
              "link": [{"other": {"reference": "Patient/b"}, "type": "seealso"}]}
    assert set(patients_of("Patient", linked, "")) == {"Patient/a", "Patient/b"}


def test_a_reference_by_this_servers_url_names_the_patient():
    """As the compartment search finds the resource by it; another server's patient is none
    of this server's."""
    base = "https://emr.example/fhir"
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "subject": {"reference": f"{base}/Patient/a"},
                   "performer": [{"reference": "https://other.example/fhir/Patient/b"},
                                 {"reference": "Patient/c"}]}
    assert set(patients_of("Observation", observation, base)) == {"Patient/a", "Patient/c"}
