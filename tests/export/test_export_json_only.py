"""The Bulk Data answers are JSON whatever the request's `Accept` or `_format` (IG v2
export.html: the kick-off's `Accept` "Currently, only application/fhir+json is supported";
an error's body "SHALL be a FHIR OperationOutcome resource in JSON format"; the status
request's `Accept` is `application/json`), while the rest of the API still answers XML."""

import httpx
import pytest
from bulk_helpers import KICK_OFF, create, patient, started, wait

FHIR_JSON = "application/fhir+json"
XML_ASKED = [{"headers": {"Accept": "application/fhir+xml"}},
             {"headers": {"Accept": "application/xml"}},
             {"params": {"_format": "xml"}}]


@pytest.fixture(scope="module")
def data(client) -> dict:
    return {"patient": create(client, patient())}


def json_outcome(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == FHIR_JSON
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


@pytest.mark.parametrize("asked", XML_ASKED)
def test_a_kick_off_asking_for_xml_is_refused_in_json(client, data, asked):
    params = {"_type": "Patient", **asked.get("params", {})}
    headers = {**KICK_OFF, **asked.get("headers", {})}
    status = 400 if "headers" in asked else 202
    json_outcome(client.get("/$export", params=params, headers=headers), status)


@pytest.mark.parametrize("path", ["$export", "Patient/$export"])
def test_a_kick_off_error_is_json_with_format_xml(client, data, path):
    response = client.get(f"/{path}", params={"_type": "NoSuchType", "_format": "xml"},
                          headers=KICK_OFF)
    json_outcome(response, 400)


@pytest.mark.parametrize("asked", XML_ASKED)
def test_status_cancel_and_the_404_after_it_are_json(client, data, asked):
    status = started(client, params={"_type": "Patient"})
    headers, params = asked.get("headers", {}), asked.get("params", {})
    response = client.get(status, headers=headers, params=params)
    if response.status_code == 202:  # still running
        json_outcome(response, 202)
    wait(client, status)
    done = client.get(status, headers=headers, params=params)
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("application/json")
    json_outcome(client.delete(status, headers=headers, params=params), 202)
    json_outcome(client.get(status, headers=headers, params=params), 404)
    json_outcome(client.delete(status, headers=headers, params=params), 404)


def test_an_unknown_file_is_a_json_404(client, data):
    response = client.get("/$export-file/nojob/0001.Patient.ndjson",
                          headers={"Accept": "application/fhir+xml"})
    json_outcome(response, 404)


def test_other_interactions_still_answer_xml(client, data):
    response = client.get(f"/Patient/{data['patient']['id']}",
                          headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+xml")


@pytest.mark.parametrize("accept", ["application/fhir+json;q=0", "*/*;q=0",
                                    "application/fhir+json;q=0, */*",
                                    "application/fhir+json; fhirVersion=3.0"])
def test_an_accept_that_refuses_fhir_json_is_refused(client, data, accept):
    """RFC 9110 §12.4.2: `q=0` means "not acceptable", also when a wider range beside it
    would take the type; a `fhirVersion` other than R4's is another format."""
    response = client.get("/$export", params={"_type": "Patient"},
                          headers={"Accept": accept, "Prefer": "respond-async"})
    assert "Accept" in json_outcome(response, 400)["issue"][0]["diagnostics"]


@pytest.mark.parametrize("accept", ["application/fhir+json;q=0.1", "text/html;q=0, */*"])
def test_an_accept_weighing_fhir_json_above_0_is_taken(client, data, accept):
    response = client.get("/$export", params={"_type": "Patient"},
                          headers={"Accept": accept, "Prefer": "respond-async"})
    json_outcome(response, 202)


def test_json_asked_as_application_json_is_answered_so(client, data):
    """bdt cancels, then cancels again with `Accept: application/json` and reads the 404's
    body as JSON only when its type is that one."""
    status = started(client, params={"_type": "Patient"})
    asked = {"Accept": "application/json"}
    for expected in (202, 404):
        response = client.delete(status, headers=asked)
        assert response.status_code == expected, response.text
        assert response.headers["content-type"].split(";")[0] == "application/json"
        assert response.json()["resourceType"] == "OperationOutcome"
