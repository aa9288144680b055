"""Bulk Data kick-off (IG v2 "Bulk Data Kick-off Request"): the headers, every parameter
and its errors, GET and POST, the three levels, authorisation, and the CapabilityStatement."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bulk_helpers import (
    FHIR_JSON,
    KICK_OFF,
    create,
    encounter,
    export,
    kick_off,
    patient,
    resources,
    started,
    wait,
)
from pymongo import MongoClient

BULK = "http://hl7.org/fhir/uv/bulkdata"


def outcome_400(response: httpx.Response, parameter: str | None = None) -> dict:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].split(";")[0] in (FHIR_JSON, "application/json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    if parameter:
        expressions = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
        assert parameter in expressions, outcome
    return outcome


def warnings(http: httpx.Client, body: dict) -> list[str]:
    """The diagnostics of the warnings in the manifest's error files."""
    outcomes = resources(http, body, "error").get("OperationOutcome", [])
    return [issue["diagnostics"] for outcome in outcomes for issue in outcome["issue"]
            if issue["severity"] == "warning"]


def token_client(server, issuer, scope: str, subject: str = "001085012345",
                 **claims: str) -> httpx.Client:
    token = issuer.token(scope=scope, subject=subject, **claims)
    return httpx.Client(base_url=server.base, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def data(client) -> dict:
    someone = create(client, patient())
    visit = create(client, encounter(someone["id"]))
    group = create(client, {"resourceType": "Group", "type": "person", "actual": True,
                            "member": [{"entity": {"reference": f"Patient/{someone['id']}"}}]})
    return {"patient": someone, "encounter": visit, "group": group}


def test_kick_off_answers_202_with_the_status_url(client, server, data):
    response = kick_off(client)
    assert response.status_code == 202, response.text
    location = response.headers["content-location"]
    assert location.startswith(f"{server.base}/$export-status/")
    assert response.json()["resourceType"] == "OperationOutcome"
    assert wait(client, location).status_code == 200


@pytest.mark.parametrize("headers", [{"Prefer": ""}, {"Prefer": "return=minimal"},
                                     {"Accept": ""}, {"Accept": "application/json"},
                                     {"Accept": "text/html"}])
def test_kick_off_needs_prefer_respond_async_and_accept_fhir_json(client, data, headers):
    response = client.get("/$export", headers={**KICK_OFF, **headers})
    outcome_400(response)


@pytest.mark.parametrize("accept", ["*/*", "application/*", "application/fhir+json; q=0.9",
                                    "text/html, application/fhir+json",
                                    "application/json;q=0.9, */*;q=0.8"])
def test_kick_off_takes_accept_ranges_that_hold_fhir_json(client, data, accept):
    response = client.get("/$export", params={"_type": "Patient"},
                          headers={"Accept": accept, "Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_kick_off_needs_a_token(server, data):
    response = httpx.get(f"{server.base}/$export", headers=KICK_OFF)
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("output_format", ["application/fhir+ndjson", "application/ndjson",
                                           "ndjson", "Application/FHIR+NDJSON"])
def test_the_three_ndjson_output_formats_are_accepted(client, data, output_format):
    status = started(client, params={"_outputFormat": output_format, "_type": "Patient"})
    assert client.delete(status).status_code == 202


def test_an_unencoded_plus_in_the_output_format_is_understood(client, data):
    """`?_outputFormat=application/fhir+ndjson` as typed: the `+` arrives as a space."""
    response = client.get("/$export?_outputFormat=application/fhir+ndjson&_type=Patient",
                          headers=KICK_OFF)
    assert response.status_code == 202, response.text
    assert client.delete(response.headers["content-location"]).status_code == 202


BAD_PARAMETERS = [
    ({"_outputFormat": "text/csv"}, "_outputFormat"),
    ({"_type": "Observationx"}, "_type"),
    ({"_since": "yesterday"}, "_since"),
    ({"_since": "2024-03-01T08:00:00"}, "_since"),  # a time needs a timezone
    ({"_until": "2024-13-45"}, "_until"),
    ({"includeAssociatedData": "_everything"}, "includeAssociatedData"),
    ({"_typeFilter": "Encounter?status=finished&_sort=date"}, "_typeFilter"),
    ({"_typeFilter": "Encounter?colour=blue"}, "_typeFilter"),
    ({"_typeFilter": "Encounter?date=notadate"}, "_typeFilter"),
    ({"_typeFilter": "Encounter?status:not"}, "_typeFilter"),  # no `=`: no value
    ({"_typeFilter": "Encounter?class="}, "_typeFilter"),
    ({"_typeFilter": "status=finished"}, "_typeFilter"),
    ({"_typeFilter": "Patient?gender=male", "_type": "Encounter"}, "_typeFilter"),
    ({"_elements": "Patient.name.given"}, "_elements"),
    ({"_elements": "Patient.nmae"}, "_elements"),  # no such element: ids only, silently
    ({"_elements": "colour", "_type": "Patient,Encounter"}, "_elements"),
    ({"patient": "Patient/123"}, "patient"),  # system level
    ({"organizeOutputBy": "Patient"}, "organizeOutputBy"),
    ({"_colour": "blue"}, "_colour"),
    ({"_since": "2024-03-01T08:00Z"}, "_since"),  # an instant has seconds
]
LENIENT = "respond-async, handling=lenient"


@pytest.fixture
def no_job_queued(server):
    """Fails the test if it stored an export job."""
    with MongoClient(server.settings.mongodb_uri) as mongo:
        jobs = mongo[server.settings.database]["export_jobs"]
        before = jobs.count_documents({})
        yield
        assert jobs.count_documents({}) == before


@pytest.mark.parametrize("prefer", ["respond-async", "respond-async, handling=strict"])
@pytest.mark.parametrize(("params", "parameter"), BAD_PARAMETERS)
def test_unsupported_values_are_refused_by_default(client, data, no_job_queued, params,
                                                   parameter, prefer):
    """IG v2: strict handling is the default; `handling=strict` says so explicitly."""
    outcome = outcome_400(kick_off(client, params=params, Prefer=prefer), parameter)
    assert params[parameter] in outcome["issue"][0]["diagnostics"], outcome


@pytest.mark.parametrize(("params", "parameter"), BAD_PARAMETERS)
def test_unsupported_values_are_ignored_with_a_warning_with_handling_lenient(
        client, data, params, parameter):
    # Two types rather than all of them, to keep the exports quick.
    body = export(client, params={"_type": "Patient,Encounter", **params}, Prefer=LENIENT)
    found = warnings(client, body)
    assert any(parameter in message for message in found), found
    assert body["error"] and all(item["type"] == "OperationOutcome" for item in body["error"])


def test_a_refused_post_names_the_parameter_and_value(client, data, no_job_queued):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "_type", "valueString": "Patient"},
        {"name": "_outputFormat", "valueString": "application/fhir+json"}]}
    outcome = outcome_400(kick_off(client, body=body), "_outputFormat")
    assert "application/fhir+json" in outcome["issue"][0]["diagnostics"]


def test_another_output_format_is_ndjson_with_handling_lenient(client, data):
    body = export(client, params={"_outputFormat": "text/csv", "_type": "Patient"},
                  Prefer=LENIENT)
    assert data["patient"]["id"] in [p["id"] for p in resources(client, body)["Patient"]]


def test_handling_lenient_needs_respond_async_too(client, data, no_job_queued):
    outcome_400(kick_off(client, params={"_type": "Patient"}, Prefer="handling=lenient"))


def test_types_outside_the_compartment_beside_others_are_left_out_with_a_warning(
        client, data):
    """IG v2: an error only when the client "asks for only resource types that are outside
    the Patient Compartment"."""
    outcome_400(client.get("Patient/$export", params={"_type": "Organization"},
                           headers=KICK_OFF), "_type")
    body = export(client, path="Patient/$export", params={"_type": "Patient,Organization"})
    assert {item["type"] for item in body["output"]} <= {"Patient"}
    assert any("Organization" in message for message in warnings(client, body))


def test_prefer_on_two_lines_and_with_preference_parameters(client, data):
    """RFC 7240: every Prefer line counts; `respond-async; wait=10` is respond-async."""
    two_lines = client.get("/$export", params={"_type": "Patient", "_colour": "blue"},
                           headers=[("Accept", FHIR_JSON), ("Prefer", "respond-async"),
                                    ("Prefer", "handling=lenient")])
    assert two_lines.status_code == 202, two_lines.text
    waited = client.get("/$export", params={"_type": "Patient"},
                        headers={"Accept": FHIR_JSON, "Prefer": "respond-async; wait=10"})
    assert waited.status_code == 202, waited.text


def test_a_since_in_the_future_is_refused_unless_lenient(client, data):
    """Nothing can have changed after a time yet to come: the client's clock is wrong
    (bdt and Inferno's bulk data tests expect 400); leniently it stands and exports nothing.
    A few seconds ahead is clock skew, not an error."""
    params = {"_since": "2057-01-01T00:00:00+05:00", "_type": "Patient,Encounter"}
    refused = outcome_400(kick_off(client, "$export", params=params), "_since")
    # Named as sent, not converted to UTC as Python renders it (2056-12-31T19:00:00+00:00).
    assert "'2057-01-01T00:00:00+05:00' is in the future" in refused["issue"][0]["diagnostics"]
    body = export(client, params=params, Prefer=LENIENT)
    assert body["output"] == [] and body["error"] != [] and body["deleted"] == []
    assert any("in the future" in message for message in warnings(client, body))
    soon = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    started_soon = kick_off(client, "$export", params={"_since": soon, "_type": "Patient"})
    assert started_soon.status_code == 202, started_soon.text
    assert client.delete(started_soon.headers["content-location"]).status_code == 202


def test_since_with_a_timezone_offset_sent_unencoded(client, data):
    # `+07:00` unencoded in a query string arrives as ` 07:00`.
    response = client.get("/$export?_since=2020-01-01T00:00:00+07:00&_type=Patient",
                          headers=KICK_OFF)
    assert response.status_code == 202, response.text


def test_repeated_and_comma_separated_types_are_one_list(client, data):
    body = export(client, params=[("_type", "Patient"), ("_type", "Encounter,Group")])
    assert {item["type"] for item in body["output"]} == {"Patient", "Encounter", "Group"}


def test_post_with_a_parameters_body(client, data):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "_type", "valueString": "Patient"},
        {"name": "_type", "valueString": "Encounter"},
        {"name": "_since", "valueInstant": "2000-01-01T00:00:00Z"},
        {"name": "_outputFormat", "valueString": "application/fhir+ndjson"},
        {"name": "includeAssociatedData", "valueCode": "RelevantProvenanceResources"},
        {"name": "_typeFilter", "valueString": "Encounter?status=finished"},
        {"name": "patient", "valueReference": {"reference": f"Patient/{data['patient']['id']}"}},
    ]}
    response = kick_off(client, "Patient/$export", body=body)
    assert response.status_code == 202, response.text
    manifest = wait(client, response.headers["content-location"]).json()
    assert manifest["request"].endswith("/Patient/$export")  # no parameters for a POST
    assert {item["type"] for item in manifest["output"]} >= {"Patient", "Encounter"}
    assert manifest["deleted"] == []


def test_a_post_with_a_query_string_keeps_it_in_the_manifest_request(client, server, data):
    body = {"resourceType": "Parameters",
            "parameter": [{"name": "_type", "valueString": "Encounter"}]}
    manifest = export(client, "$export", params={"_type": "Patient"}, body=body)
    assert manifest["request"] == f"{server.base}/$export?_type=Patient"
    assert {item["type"] for item in manifest["output"]} == {"Patient", "Encounter"}


@pytest.mark.parametrize(("body", "content_type", "status"), [
    ({"resourceType": "Patient"}, FHIR_JSON, 400),
    ({"resourceType": "Parameters", "parameter": [{"name": "_type"}]}, FHIR_JSON, 400),
    ({"resourceType": "Parameters"}, "text/plain", 415),
])
def test_post_bodies_that_are_refused(client, data, body, content_type, status):
    response = client.post("/$export", json=body,
                           headers={**KICK_OFF, "Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_group_level_needs_a_known_group(client, data):
    response = kick_off(client, f"Group/{uuid.uuid4()}/$export")
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("prefer", [{}, {"Prefer": LENIENT}])
def test_patient_not_in_the_group_is_left_out_with_a_warning(client, data, prefer):
    """Not a parameter the server cannot honour but data it does not hold: the kick-off
    succeeds, strict or not (bdt's "Can start an export with patient parameter"), and the
    manifest's error file says which patient was left out."""
    other = create(client, patient())
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {"reference": f"Patient/{other['id']}"}}]}
    path = f"Group/{data['group']['id']}/$export"
    manifest = export(client, path, body=body, **prefer)
    # The one patient asked for is not a member: nothing of a patient; the Group exported
    # (with the Provenance of its version, as of every resource of a Group export).
    found = resources(client, manifest)
    assert set(found) == {"Group", "Provenance"}, set(found)
    assert [group["id"] for group in found["Group"]] == [data["group"]["id"]]
    assert any(f"Patient/{other['id']} is not a member" in message
               for message in warnings(client, manifest))


@pytest.mark.parametrize("prefer", [{}, {"Prefer": LENIENT}])
def test_unknown_patients_are_left_out_with_a_warning(client, data, prefer):
    """bdt kicks off with ids 123 and 456, which exist nowhere, and expects a 202."""
    unknown = [str(uuid.uuid4()), str(uuid.uuid4())]
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {"reference": f"Patient/{id_}"}}
        for id_ in unknown]}
    manifest = export(client, "Patient/$export", body=body, **prefer)
    assert manifest["output"] == []
    messages = warnings(client, manifest)
    for id_ in unknown:
        assert any(f"Patient/{id_} is not known" in message for message in messages), messages


def test_a_token_that_may_not_read_patients_learns_not_whether_one_exists(server, issuer,
                                                                        data):
    """With Observation scope only, an unknown `patient` id and a real one are both
    accepted alike (the export holds nothing of the unknown one), with no warning naming
    the unknown one: that would tell which Patient ids exist."""
    with token_client(server, issuer, "user/Observation.rs") as observations_only:
        for patient_id in (data["patient"]["id"], str(uuid.uuid4())):
            body = {"resourceType": "Parameters", "parameter": [
                {"name": "patient", "valueReference": {"reference": f"Patient/{patient_id}"}}]}
            manifest = export(observations_only, "Patient/$export", body=body)
            assert not any("not known" in message
                           for message in warnings(observations_only, manifest))


def test_types_outside_the_patient_compartment_at_patient_level(client, data):
    params = {"_type": "Organization"}
    outcome_400(kick_off(client, "Patient/$export", params=params), "_type")


def test_read_scopes_decide_what_is_exported(server, issuer, data):
    with token_client(server, issuer, "system/Patient.rs") as http:
        body = export(http)  # no _type: what the token may read
        assert {item["type"] for item in body["output"]} == {"Patient"}
        response = kick_off(http, params={"_type": "Patient,Encounter"})
        assert response.status_code == 403, response.text
        assert kick_off(http, f"Group/{data['group']['id']}/$export").status_code == 403
    with token_client(server, issuer, "system/Patient.s") as http:  # search is not read
        assert kick_off(http).status_code == 403


def test_an_export_takes_search_as_well_as_read(server, issuer, data):
    """An export is a bulk search: a token that may read Encounters by id only (`.r`)
    exports none, as `GET Encounter?...` gives it none (403)."""
    with token_client(server, issuer,
                      "system/Patient.rs system/Encounter.r system/Provenance.r") as http:
        assert http.get("/Encounter").status_code == 403
        body = export(http)
        assert {item["type"] for item in body["output"]} == {"Patient"}
        assert kick_off(http, params={"_type": "Encounter"}).status_code == 403
        assert kick_off(http, params={"_type": "Patient", "includeAssociatedData":
                                      "LatestProvenanceResources"}).status_code == 403


def test_granular_scopes_export_what_their_search_matches(client, server, issuer, data):
    """SMART v2 `system/Encounter.rs?status=finished`: the export holds the Encounters
    that search matches; its files stay the export's: a token whose search is another
    does not fetch them, nor one with the type's search only fetch those of a whole export."""
    someone = data["patient"]["id"]
    ongoing = create(client, encounter(someone, status="in-progress"))
    granular = "system/Encounter.rs?status=finished"
    with token_client(server, issuer, granular) as http:
        body = export(http, params={"_type": "Encounter"})
        exported = resources(http, body)["Encounter"]
        assert {found["status"] for found in exported} == {"finished"}
        assert data["encounter"]["id"] in {found["id"] for found in exported}
        assert ongoing["id"] not in {found["id"] for found in exported}
        # Provenance associated with what is exported is not searched: it needs the whole.
        assert kick_off(http, params={"_type": "Encounter", "includeAssociatedData":
                                      "LatestProvenanceResources"}).status_code == 403
    with token_client(server, issuer, "system/Encounter.rs?status=in-progress") as http:
        assert http.get(body["output"][0]["url"]).status_code == 403
    with token_client(server, issuer, "system/Encounter.rs") as http:
        whole = export(http, params={"_type": "Encounter"})
        assert ongoing["id"] in {found["id"] for found in resources(http, whole)["Encounter"]}
    with token_client(server, issuer, granular) as http:
        assert http.get(whole["output"][0]["url"]).status_code == 403
    # On every type, the types with no such search are left out, or 403 when named.
    with token_client(server, issuer, "system/*.rs?status=finished") as http:
        assert kick_off(http, params={"_type": "Patient"}).status_code == 403
        for path in ("$export", "Patient/$export"):
            body = export(http, path)
            assert "Encounter" in {item["type"] for item in body["output"]}, path
            # Patient has no status; Provenance at Patient level is found by what it signs.
            assert not {"Patient", "Provenance"} & {item["type"] for item in body["output"]}
        refused = kick_off(http, "Patient/$export", params={"_type": "Encounter,Provenance"})
        assert refused.status_code == 403
        assert "Provenance" in refused.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("patient_scope", ["patient/Encounter.rs", "patient/*.rs"])
def test_granular_scopes_kept_to_a_compartment_export_nothing(server, issuer, data,
                                                               patient_scope):
    """A patient/ scope keeps a user/ scope's search on the type to the launch patient's
    compartment, which an export is not: the type is not exported, as with the patient/
    scope alone (a direct search of another patient's Encounters finds none)."""
    scope = f"{patient_scope} user/Encounter.rs?status=finished"
    with token_client(server, issuer, scope, patient=data["patient"]["id"]) as http:
        for path in ("$export", "Patient/$export"):
            refused = kick_off(http, path, params={"_type": "Encounter"})
            assert refused.status_code == 403, refused.text


def test_capability_statement_declares_the_export_operations(server):
    statement = httpx.get(f"{server.base}/metadata").json()
    assert f"{BULK}/CapabilityStatement/bulk-data" in statement["instantiates"]
    rest = statement["rest"][0]
    assert {"name": "export", "definition": f"{BULK}/OperationDefinition/export"} in (
        rest["operation"])
    by_type = {r["type"]: r.get("operation", []) for r in rest["resource"]}
    assert {"name": "export", "definition": f"{BULK}/OperationDefinition/patient-export"} in (
        by_type["Patient"])
    assert {"name": "export", "definition": f"{BULK}/OperationDefinition/group-export"} in (
        by_type["Group"])


@pytest.mark.parametrize("reference", ["http://other.example.org/fhir/Patient/{id}",
                                       "MyPatient/{id}", "urn:uuid:Patient/{id}"])
def test_a_patient_of_another_server_is_no_patient_here(client, data, reference):
    """Only `Patient/<id>` (or this server's absolute URL of it) names a Patient here: any
    string ending in `Patient/<id>` was taken for the local one."""
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {
            "reference": reference.format(id=data["patient"]["id"])}}]}
    outcome_400(kick_off(client, "Patient/$export", body=body), "patient")


def test_a_group_defined_by_characteristics_is_refused(client, data):
    """Its members would be computed from characteristics this server does not evaluate: an
    empty export read as 'no such patients'."""
    group = create(client, {"resourceType": "Group", "type": "person", "actual": False,
                            "characteristic": [{"code": {"text": "gender"}, "exclude": False,
                                                "valueBoolean": True}]})
    outcome_400(kick_off(client, f"Group/{group['id']}/$export"), "group")


@pytest.mark.parametrize(("params", "parameter"), [
    # max 1: the export depended on the order of the two
    ([("_since", "2024-01-01T00:00:00Z"), ("_since", "2020-01-01T00:00:00Z")], "_since"),
    ([("_type", "")], "_type"),  # exported every type
])
def test_a_repeated_since_or_an_empty_type_is_refused(client, data, no_job_queued, params,
                                                       parameter):
    outcome_400(kick_off(client, params=params), parameter)


@pytest.mark.parametrize("path", ["/$export", "/Patient/$export"])
def test_head_starts_no_export(client, data, no_job_queued, path):
    """A kick-off by GET starts a job; HEAD is a safe method (RFC 9110 §9.2.1), so a monitor
    probing the URL must not export the database: 405, naming the methods that kick off."""
    response = client.head(path, headers=KICK_OFF)
    assert response.status_code == 405, response.status_code
    assert response.headers["allow"] == "GET, POST"
