"""A resource that refers to its patient by this server's absolute URL
(`http://host/fhir/Patient/1`, as a Bundle with absolute fullUrls leaves it) is in that
patient's compartment, as `Observation?patient=1` already found it (search.html#reference):
compartment search, `$everything`, `$summary` and `patient/` scopes see it. A reference to the
same id on another server is not.

Data set: patient Hạnh; one Observation about her by relative reference, one by this
server's absolute URL, one by another server's URL with her id.
"""

import pytest
from api.helpers import FHIR_HEADERS
from search.helpers import load
from security.helpers import fhir_client

LOINC = "http://loinc.org"
OTHER_SERVER = "https://benhvien-khac.vn/fhir"


def _weight(subject: str, value: float) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"code": "vital-signs", "system":
                          "http://terminology.hl7.org/CodeSystem/observation-category"}]}],
            "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
            "subject": {"reference": subject}, "effectiveDateTime": "2025-07-01",
            "valueQuantity": {"value": value, "unit": "kg"}}


@pytest.fixture(scope="module")
def ids(client, server) -> dict[str, str]:
    patient = client.post("/Patient", json={"resourceType": "Patient",
                                            "name": [{"family": "Đỗ", "given": ["Hạnh"]}]},
                          headers=FHIR_HEADERS).json()["id"]
    made = load(client, {
        "relative": _weight(f"Patient/{patient}", 51.0),
        "absolute": _weight(f"{server.base}/Patient/{patient}", 52.0),
        "elsewhere": _weight(f"{OTHER_SERVER}/Patient/{patient}", 53.0),
    })
    return made | {"patient": patient}


def _observations(bundle: dict) -> set[str]:
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])
            if entry["resource"]["resourceType"] == "Observation"}


def test_the_search_by_reference_and_the_compartment_search_agree(client, ids):
    expected = {ids["relative"], ids["absolute"]}
    by_parameter = client.get("/Observation", params={"patient": ids["patient"]})
    compartment = client.get(f"/Patient/{ids['patient']}/Observation")
    assert _observations(by_parameter.json()) == expected
    assert _observations(compartment.json()) == expected


def test_everything_and_summary_hold_the_absolute_reference(client, ids):
    everything = client.get(f"/Patient/{ids['patient']}/$everything").json()
    assert _observations(everything) == {ids["relative"], ids["absolute"]}
    summary = client.get(f"/Patient/{ids['patient']}/$summary").json()
    assert _observations(summary) == {ids["relative"], ids["absolute"]}


def test_patient_scopes_read_it_and_not_the_other_servers(server, issuer, ids):
    token = issuer.token("patient/*.rs", patient=ids["patient"])
    with fhir_client(server.base, token) as http:
        assert http.get(f"/Observation/{ids['absolute']}").status_code == 200
        assert http.get(f"/Observation/{ids['elsewhere']}").status_code == 403
        assert _observations(http.get("/Observation").json()) == {ids["relative"],
                                                                  ids["absolute"]}
