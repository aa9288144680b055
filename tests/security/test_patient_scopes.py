"""SMART `patient/` scopes with the token's `patient` claim (the launch patient): reads, vreads
and histories by id and searches of that patient's compartment, `$everything` and `$summary`
on that patient, and nothing else. Another patient's record is 403 whether it exists or not,
searches keep to the compartment (also by POST and as a compartment search), includes and
other interactions are not granted; without the claim, `patient/` scopes grant nothing;
`user/` scopes beside them are not narrowed.

Data set: patients Thu (the token's) and Hải, one blood pressure each, Thu's encounter, and
the doctor who saw her.
"""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, created, new_patient, unique_cccd
from search.helpers import load, ref

from security.helpers import assert_unauthorized, fhir_client, read_entries

LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MOH_NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"  # the other guide's CCCD


def _pressure(patient: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "subject": ref(patient),
            "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
            "performer": [ref("doctor")]}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, {
        "doctor": {"resourceType": "Practitioner", "name": [{"family": "Trịnh"}]},
        "thu": {"resourceType": "Patient", "name": [{"family": "Lý", "given": ["Thu"]}]},
        "hai": {"resourceType": "Patient", "name": [{"family": "Lý", "given": ["Hải"]}]},
        "thu_bp": _pressure("thu"),
        "hai_bp": _pressure("hai"),
        "thu_visit": {"resourceType": "Encounter", "status": "finished", "subject": ref("thu"),
                      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                "code": "AMB"}},
    })


@pytest.fixture
def thu(server, issuer, ids):
    """A client whose token's patient is Thu, with patient/ scopes only."""
    with fhir_client(server.base, issuer.token("patient/*.rs", patient=ids["thu"])) as http:
        yield http


def _ids(response) -> set[str]:
    """The ids of the resources served (not of the outcome saying what was left out)."""
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])
            if entry["resource"]["resourceType"] != "OperationOutcome"}


def test_reads_by_id_within_the_compartment_only(thu, ids):
    for path in (f"Patient/{ids['thu']}", f"Observation/{ids['thu_bp']}",
                 f"Encounter/{ids['thu_visit']}"):
        assert thu.get(f"/{path}").status_code == 200, path
        assert thu.head(f"/{path}").status_code == 200, path
    for path in (f"Patient/{ids['hai']}", f"Observation/{ids['hai_bp']}",
                 "Observation/does-not-exist", f"Practitioner/{ids['doctor']}"):
        assert_outcome(thu.get(f"/{path}"), 403)


def test_searches_keep_to_the_compartment(thu, ids):
    assert _ids(thu.get("/Observation")) == {ids["thu_bp"]}
    assert _ids(thu.get("/Observation", params={"code": f"{LOINC}|85354-9"})) == {ids["thu_bp"]}
    assert _ids(thu.get("/Patient", params={"family": "Lý"})) == {ids["thu"]}
    assert _ids(thu.post("/Observation/_search", data={"code": "85354-9"})) == {ids["thu_bp"]}
    assert _ids(thu.get(f"/Patient/{ids['thu']}/Observation")) == {ids["thu_bp"]}
    assert_outcome(thu.get(f"/Patient/{ids['hai']}/Observation"), 403)
    included = thu.get("/Observation", params={"_include": "Observation:performer"}).json()
    assert [e["search"]["mode"] for e in included["entry"]] == ["match", "outcome"]
    [issue] = included["entry"][1]["resource"]["issue"]
    assert issue["code"] == "suppressed" and "Practitioner" in issue["diagnostics"]
    # `_revinclude=*` reads no type of the compartment either, and says so (probe CK).
    everyone = thu.get("/Patient", params={"_id": ids["thu"], "_revinclude": "*"}).json()
    assert [e["search"]["mode"] for e in everyone["entry"]] == ["match", "outcome"]
    [issue] = everyone["entry"][1]["resource"]["issue"]
    assert issue["code"] == "suppressed" and "Observation" in issue["diagnostics"]
    # A type the token reads in the compartment is left out as an include too, and the
    # outcome says why, not that the token may not read it (probe BI).
    revincluded = thu.get("/Patient", params={"_revinclude": "Observation:subject"}).json()
    [issue] = revincluded["entry"][-1]["resource"]["issue"]
    assert "Observation" in issue["diagnostics"] and "patient/ scopes" in issue["diagnostics"]
    assert "do not allow reading" not in issue["diagnostics"]


def test_a_search_of_a_type_outside_the_compartment_is_forbidden(thu):
    """As a read of one is: the token may not, which is no malformed search (400)."""
    for path in ("/Practitioner", "/Medication?_id=x"):
        response = thu.get(path)
        assert_outcome(response, 403)
        assert "not in it" in response.json()["issue"][0]["diagnostics"]


def test_vreads_and_histories_of_versions_within_the_compartment_only(client, thu, ids):
    """SMART's `r` is read, vread and instance history; a version is read as it was: an
    Observation filed under Hải and then corrected to Thu is hers from its second version
    only."""
    assert thu.get(f"/Observation/{ids['thu_bp']}/_history/1").status_code == 200
    for path in (f"Observation/{ids['hai_bp']}/_history/1", "Observation/khong-co/_history/1"):
        assert_outcome(thu.get(f"/{path}"), 403)
    misfiled = {key: value for key, value in _pressure("hai").items() if key != "performer"}
    misfiled = created(client, misfiled | {"subject": {"reference": f"Patient/{ids['hai']}"}})
    path = f"/Observation/{misfiled['id']}"
    try:
        corrected = client.put(path, headers=FHIR_HEADERS, json=misfiled | {
            "subject": {"reference": f"Patient/{ids['thu']}"}})
        assert corrected.status_code == 200, corrected.text
        assert thu.get(f"{path}/_history/2").status_code == 200
        assert_outcome(thu.get(f"{path}/_history/1"), 403)
        # Its history shows her version only, and no total that would count Hải's.
        history = thu.get(f"{path}/_history")
        assert history.status_code == 200, history.text
        assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["2"]
        assert "total" not in history.json()
    finally:  # the other tests' data set stays as it was
        client.delete(path)


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_batch_entries_are_judged_as_the_same_requests_alone(thu, ids, kind):
    """SMART: batches and transactions are judged by the requests within them."""
    urls = [f"Patient/{ids['thu']}", f"Observation/{ids['thu_bp']}/_history/1",
            "Observation", f"Observation?patient={ids['hai']}", f"Observation/{ids['hai_bp']}",
            f"Observation/{ids['thu_bp']}/_history"]
    entries = read_entries(thu, kind, urls, allowed=3)
    statuses = [entry["response"]["status"][:3] for entry in entries]
    assert statuses == ["200", "200", "200", "200", "403", "200"][:len(entries)]
    searched = {e["resource"]["id"] for e in entries[2]["resource"].get("entry", [])}
    assert searched == {ids["thu_bp"]}
    if kind == "batch":
        assert "entry" not in entries[3]["resource"]  # Hải's, narrowed to Thu's: none


def test_the_launch_patients_compartment_of_every_type_as_a_batch_entry(thu, ids):
    """`Patient/[id]/*` in a batch answers as on its own: the launch patient's compartment,
    and 403 for another patient's."""
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{ids[who]}/*"}} for who in ("thu", "hai")]}
    response = thu.post("", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    own, other = response.json()["entry"]
    direct = thu.get(f"/Patient/{ids['thu']}/*")
    assert direct.status_code == 200, direct.text
    assert _ids(direct) == {e["resource"]["id"] for e in own["resource"]["entry"]}
    assert ids["thu_bp"] in _ids(direct)
    assert thu.get(f"/Patient/{ids['hai']}/*").status_code == 403
    assert other["response"]["status"][:3] == "403"


def test_nothing_but_reads_and_searches_is_granted(thu, ids):
    observation = f"/Observation/{ids['thu_bp']}"
    for response in (
        thu.get(f"/Observation/{ids['hai_bp']}/_history"),
        thu.get("/Observation/_history"),
        thu.get(f"/Patient/{ids['hai']}/$everything"),
        thu.get(f"/Patient/{ids['hai']}/$summary"),
        thu.get(f"/Encounter/{ids['thu_visit']}/$everything"),
        thu.post("/Observation", json=_pressure("thu") | {"subject": {
            "reference": f"Patient/{ids['thu']}"}, "performer": []}, headers=FHIR_HEADERS),
        thu.delete(observation),
        thu.get("/Observation", params={"subject:Patient.family": "Lý"}),
    ):
        assert_outcome(response, 403)
    assert thu.get(observation).json()["meta"]["versionId"] == "1"
    # A chain reads beyond the compartment: the refusal says so, not that Patient may not
    # be searched at all.
    chained = thu.get("/Observation", params={"subject:Patient.family": "Lý"}).json()
    assert "not through a chain, _has or _list" in chained["issue"][0]["diagnostics"]


def test_conditional_criteria_are_no_compartment_search(server, issuer, ids):
    """A `user/` write scope beside `patient/` ones: the criteria of a conditional write (or
    reference) search the whole server, which the patient/ grant does not allow, and the
    refusal says so rather than blaming a chain."""
    token = issuer.token("patient/*.rs user/Observation.cu", patient=ids["thu"])
    body = {key: value for key, value in _pressure("thu").items() if key != "performer"}
    body["subject"] = {"reference": f"Patient/{ids['thu']}"}
    with fhir_client(server.base, token) as thu:
        for response in (
            thu.put("/Observation", params={"subject": f"Patient/{ids['hai']}"}, json=body,
                    headers=FHIR_HEADERS),
            thu.post("/Observation", json=body, headers=FHIR_HEADERS | {
                "If-None-Exist": f"subject=Patient/{ids['hai']}"}),
        ):
            outcome = assert_outcome(response, 403)
            assert "conditional write" in outcome["issue"][0]["diagnostics"], outcome


def test_everything_and_summary_of_the_launch_patient_hold_their_compartment_only(thu, ids):
    answer = thu.get(f"/Patient/{ids['thu']}/$everything")
    assert _ids(answer) == {ids["thu"], ids["thu_bp"], ids["thu_visit"]}  # not the doctor
    # Said, whether or not the record refers to any: the doctor is left out.
    [note] = [e["resource"] for e in answer.json()["entry"] if e["search"]["mode"] == "outcome"]
    assert note["issue"][0]["code"] == "suppressed"
    assert "refers to" in note["issue"][0]["diagnostics"]
    summary = thu.get(f"/Patient/{ids['thu']}/$summary")
    assert summary.status_code == 200, summary.text
    held = {entry["resource"].get("id") for entry in summary.json()["entry"]}
    assert {ids["thu"], ids["thu_bp"]} <= held
    assert not held & {ids["hai"], ids["hai_bp"], ids["doctor"]}


def test_everything_without_an_id_is_the_launch_patients_record(thu, ids):
    """Patient-everything: without a nominated patient, "the actual list of patients is all
    patients that the user associated with the request has access to": for patient/ scopes,
    the launch patient. It was 403, though `GET /Patient` answers her."""
    answer = thu.get("/Patient/$everything")
    assert _ids(answer) == {ids["thu"], ids["thu_bp"], ids["thu_visit"]}
    assert _ids(answer) == _ids(thu.get(f"/Patient/{ids['thu']}/$everything"))
    paged = thu.get("/Patient/$everything", params={"_count": "2", "_type": "Observation,Patient"})
    served = _ids(paged)
    while next_url := next((link["url"] for link in paged.json()["link"]
                            if link["relation"] == "next"), None):
        paged = thu.get(next_url)
        served |= _ids(paged)
    assert served == {ids["thu"], ids["thu_bp"]}


def test_everything_of_the_launch_patient_serves_nothing_outside_the_compartment(
        client, server, issuer):
    """What the record refers to that is of a compartment's type but in no patient's
    compartment (a Specimen without subject, a Procedure of a patient elsewhere) is served
    to a `user/` token, not to the launch patient's: it is not theirs to read by id either.
    Nor are the signers' Provenances (their personal IDs), which are in no compartment."""
    ids = load(client, {"lan": {"resourceType": "Patient", "name": [{"family": "Vũ"}]},
                        "unowned": {"resourceType": "Specimen", "type": {"text": "Máu"}},
                        "elsewhere": {"resourceType": "Procedure", "status": "completed",
                                      "subject": {"reference":
                                                  "https://benhvien.example.vn/fhir/Patient/7"}}})
    ids |= load(client, {"order": {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "code": {"text": "Đường huyết"}, "subject": {"reference": f"Patient/{ids['lan']}"},
        "specimen": [{"reference": f"Specimen/{ids['unowned']}"}]}, "pulse": {
        "resourceType": "Observation", "status": "final", "code": {"text": "Mạch"},
        "subject": {"reference": f"Patient/{ids['lan']}"},
        "partOf": [{"reference": f"Procedure/{ids['elsewhere']}"}]}})
    path = f"/Patient/{ids['lan']}/$everything"
    with_user = _ids(client.get(path))
    assert {ids["unowned"], ids["elsewhere"]} <= with_user
    with fhir_client(server.base, issuer.token("patient/*.rs", patient=ids["lan"])) as lan:
        assert _ids(lan.get(path)) == {ids["lan"], ids["order"], ids["pulse"]}
        for leaked in (f"Specimen/{ids['unowned']}", f"Procedure/{ids['elsewhere']}"):
            assert_outcome(lan.get(f"/{leaked}"), 403)
        # Only the Provenance in her compartment: the one of her Patient resource (its
        # `patient` parameter), which she may read by id too.
        with_provenance = lan.get(path, params={"includeProvenance": "true"}).json()
        provenances = [e["resource"] for e in with_provenance["entry"]
                       if e["resource"]["resourceType"] == "Provenance"]
        assert [p["target"][0]["reference"].split("/_history/")[0] for p in provenances] == [
            f"Patient/{ids['lan']}"]
        assert lan.get(f"/Provenance/{provenances[0]['id']}").status_code == 200


def test_the_audit_trail_is_not_the_patients_to_read(client, thu, ids):
    """An AuditEvent naming the launch patient is in their compartment, but names every
    resource its request touched: the transaction that stored Thu's record stored Hải's,
    and its event names both. `patient/` scopes grant no AuditEvent, by any route."""
    [event] = [e["resource"] for e in client.get("/AuditEvent", params={
        "entity": f"Patient/{ids['thu']}", "subtype": "transaction"}).json()["entry"]]
    named = {entity["what"].get("reference") for entity in event["entity"]}
    assert f"Patient/{ids['hai']}" in named
    for path, params in ((f"/AuditEvent/{event['id']}", None),
                         ("/AuditEvent", None),
                         ("/AuditEvent", {"_summary": "count"}),
                         (f"/Patient/{ids['thu']}/AuditEvent", None),
                         (f"/Patient/{ids['thu']}/$everything", {"_type": "AuditEvent"})):
        assert_outcome(thu.get(path, params=params), 403)
    assert "AuditEvent" not in {e["resource"]["resourceType"] for e in thu.get(
        f"/Patient/{ids['thu']}/*", params={"_count": "1000"}).json().get("entry", [])}
    batch = thu.post("", headers=FHIR_HEADERS, json={"resourceType": "Bundle", "type": "batch",
                                                     "entry": [{"request": {
                                                         "method": "GET", "url": "AuditEvent"}}]})
    assert [e["response"]["status"] for e in batch.json()["entry"]] == ["403 Forbidden"]


def test_a_cohort_the_patient_is_in_is_not_theirs_to_read(client, thu, ids):
    """A Group listing Thu is in her compartment (`member`), but its member list names the
    other patients of the cohort: `patient/` scopes grant no Group, by any route."""
    [cohort] = load(client, {"cohort": {
        "resourceType": "Group", "type": "person", "actual": True,
        "member": [{"entity": {"reference": f"Patient/{ids[key]}"}} for key in ("thu", "hai")]
    }}).values()
    assert client.get(f"/Patient/{ids['thu']}/Group").json()["total"] >= 1
    for path, params in ((f"/Group/{cohort}", None), (f"/Group/{cohort}/_history", None),
                         ("/Group", {"member": f"Patient/{ids['thu']}"}),
                         (f"/Patient/{ids['thu']}/Group", None),
                         (f"/Patient/{ids['thu']}/$everything", {"_type": "Group"})):
        assert_outcome(thu.get(path, params=params), 403)
    for path in (f"/Patient/{ids['thu']}/$everything", f"/Patient/{ids['thu']}/*"):
        assert cohort not in _ids(thu.get(path, params={"_count": "1000"})), path


def test_patient_scopes_need_the_claim_and_their_types(server, issuer, ids):
    with fhir_client(server.base, issuer.token("patient/*.rs")) as unclaimed:
        assert_outcome(unclaimed.get(f"/Patient/{ids['thu']}"), 403)
        assert_outcome(unclaimed.get("/Observation"), 403)
    token = issuer.token("patient/Observation.rs", patient=ids["thu"])
    with fhir_client(server.base, token) as observations_only:
        assert observations_only.get(f"/Observation/{ids['thu_bp']}").status_code == 200
        assert_outcome(observations_only.get(f"/Patient/{ids['thu']}"), 403)


def test_a_deleted_record_of_ones_own_is_gone_and_anothers_forbidden(client, server, issuer,
                                                                     ids):
    """The patient learns their own deleted record is gone (410) and reads its history, as
    a reader of everything would; another patient's deleted one stays 403 (it was 403 both)."""
    mine, theirs = (created(client, {
        "resourceType": "Observation", "status": "final", "code": {"text": "Mạch"},
        "subject": {"reference": f"Patient/{ids[who]}"}})["id"] for who in ("thu", "hai"))
    for observation in (mine, theirs):
        assert client.delete(f"/Observation/{observation}").status_code == 204
    with fhir_client(server.base, issuer.token("patient/*.rs", patient=ids["thu"])) as http:
        assert_outcome(http.get(f"/Observation/{mine}"), 410)
        history = http.get(f"/Observation/{mine}/_history").json()
        assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
        assert_outcome(http.get(f"/Observation/{theirs}"), 403)
        assert_outcome(http.get(f"/Observation/{theirs}/_history"), 403)


def test_a_persons_own_login_opens_their_own_record(client, server, issuer, ids):
    """No `patient` claim: the one Patient whose CCCD is the person's personal ID (either
    guide's system) is theirs; none, or two, and nothing is granted."""
    own, shared, nobody = unique_cccd(), unique_cccd(), unique_cccd()
    mine = created(client, new_patient(own, system=MOH_NATIONAL_ID))
    for _ in range(2):
        created(client, new_patient(shared))
    with fhir_client(server.base, issuer.token("patient/*.rs", subject=own)) as http:
        assert http.get(f"/Patient/{mine['id']}").status_code == 200
        assert _ids(http.get("/Patient")) == {mine["id"]}
        assert_outcome(http.get(f"/Patient/{ids['thu']}"), 403)
    for person in (shared, nobody):
        with fhir_client(server.base, issuer.token("patient/*.rs", subject=person)) as http:
            refusal = assert_outcome(http.get("/Patient"), 403)
            assert "no Patient, or more than one, holds the token's personal ID" in str(
                refusal), refusal


@pytest.mark.parametrize("claim", ["Patient/{hai}", "", "{hai} ", 12345, None])
def test_a_patient_claim_that_is_no_patient_id_refuses_the_token(client, server, issuer, ids,
                                                                 claim):
    """SMART's `patient` claim is the launch patient's id ("String value with a patient
    id"). In another form, even the reference `Patient/<id>` some EHRs send, the token is
    refused: dropped, the holder's own record (their CCCD) stood in for the patient the app
    was launched for (probe CB)."""
    own = unique_cccd()
    created(client, new_patient(own))
    value = claim.format(**ids) if isinstance(claim, str) else claim
    with fhir_client(server.base, issuer.token("patient/*.rs", subject=own,
                                               patient=value)) as http:
        response = http.get("/Patient")
    outcome = assert_unauthorized(response)
    assert response.headers["www-authenticate"] == 'Bearer realm="fhir", error="invalid_token"'
    assert "the patient claim" in outcome["issue"][0]["diagnostics"]
    assert "is not a Patient id" in outcome["issue"][0]["diagnostics"]


_AN_HOUR_AGO = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
# A day that has not begun in any timezone: the server reads a date in its own (+07:00), where
# tomorrow in UTC began at 17:00 UTC.
_DAY_AFTER_TOMORROW = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()


@pytest.mark.parametrize("no_longer", [{"use": "old"}, {"period": {"end": "2025-06-30"}},
                                       {"period": {"end": "2025"}},
                                       {"period": {"end": _AN_HOUR_AGO}},
                                       {"period": {"start": _DAY_AFTER_TOMORROW}}])
def test_a_cccd_the_record_no_longer_holds_opens_nothing(client, server, issuer, no_longer):
    """A number marked old, or whose period has ended (a corrected typo may be another
    person's), is not the person's own record; one ending this year still is."""
    number = unique_cccd()
    former = new_patient(number)
    former["identifier"][0].update(no_longer)
    created(client, former)
    with fhir_client(server.base, issuer.token("patient/*.rs", subject=number)) as http:
        assert_outcome(http.get("/Patient"), 403)
    current = new_patient(number := unique_cccd())
    current["identifier"][0]["period"] = {"end": str(datetime.now(UTC).year)}
    mine = created(client, current)
    with fhir_client(server.base, issuer.token("patient/*.rs", subject=number)) as http:
        assert _ids(http.get("/Patient")) == {mine["id"]}


@pytest.mark.parametrize(("old", "current", "opens"), [(3, 1, True), (2, 2, False)])
def test_the_current_holder_is_found_among_old_ones_whatever_their_order(
        client, server, issuer, old, current, opens):
    """Records holding a CCCD as `old` do not count, however many come first; two current
    ones are duplicates, and open neither."""
    number = unique_cccd()
    for _ in range(old):
        former = new_patient(number)
        former["identifier"][0]["use"] = "old"
        created(client, former)
    holders = {created(client, new_patient(number))["id"] for _ in range(current)}
    with fhir_client(server.base, issuer.token("patient/*.rs", subject=number)) as http:
        if opens:
            assert _ids(http.get("/Patient")) == holders
        else:
            assert_outcome(http.get("/Patient"), 403)


def test_user_scopes_beside_them_are_not_narrowed(server, issuer, ids):
    token = issuer.token("patient/*.rs user/Observation.rs", patient=ids["thu"])
    with fhir_client(server.base, token) as http:
        assert {ids["thu_bp"], ids["hai_bp"]} <= _ids(http.get("/Observation"))
        assert http.get(f"/Observation/{ids['hai_bp']}").status_code == 200
        assert_outcome(http.get(f"/Patient/{ids['hai']}"), 403)


def test_smart_configuration_says_patient_scopes_are_honoured(client, server):
    config = client.get("/.well-known/smart-configuration").json()
    assert "permission-patient" in config["capabilities"]
    # Public, as GET is (HEAD was 401): discovery and the server's keys.
    for path in ("/.well-known/smart-configuration", "/auth/jwks"):
        response = httpx.head(f"{server.base}{path}")
        assert response.status_code == 200 and response.content == b"", path
