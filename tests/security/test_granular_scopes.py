"""SMART v2 granular scopes (`user/Observation.rs?category=laboratory`,
http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters):
reads, vreads, histories and searches see the resources a scope's search matches, as they
were in each version; includes leave the others out; `patient/` ones keep to the launch
patient's compartment as well; they grant no writes.

Data set: patients Thu and Hải, a laboratory and a vital-signs Observation each, and Thu's
report of both results. Every Observation is coded in a system of this module only, so
searches by it see this data set alone.
"""

import uuid

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, created
from search.helpers import load, ref

from security.helpers import fhir_client, read_entries

CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CODES = f"urn:uuid:{uuid.uuid4()}"  # this module's Observations only
OURS = {"code": f"{CODES}|"}
LABORATORY = "category=laboratory"


def _observation(category: str, patient: str | None = None) -> dict:
    """In the data set, about `patient`; created alone, about no one."""
    subject = {"subject": ref(patient)} if patient else {}
    return {"resourceType": "Observation", "status": "final", **subject,
            "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
            "code": {"coding": [{"system": CODES, "code": category}]}}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, {
        "thu": {"resourceType": "Patient", "name": [{"family": "Lý", "given": ["Thu"]}]},
        "hai": {"resourceType": "Patient", "name": [{"family": "Lý", "given": ["Hải"]}]},
        "an": {"resourceType": "Patient", "name": [{"family": "Lý", "given": ["An"]}]},
        "thu_lab": _observation("laboratory", "thu"),
        "thu_vital": _observation("vital-signs", "thu"),
        "hai_lab": _observation("laboratory", "hai"),
        "hai_vital": _observation("vital-signs", "hai"),
        "report": {"resourceType": "DiagnosticReport", "status": "final",
                   "subject": ref("thu"), "code": {"text": "Khám tổng quát"},
                   "result": [ref("thu_lab"), ref("thu_vital")]},
    })


def _client(server, issuer, scope: str, **claims: str):
    return fhir_client(server.base, issuer.token(scope, **claims))


def _found(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])
            if entry["search"]["mode"] == "match"}


@pytest.mark.parametrize("scope", [
    f"user/Observation.rs?{LABORATORY}",
    f"system/Observation.rs?category={CATEGORY}|laboratory",
    f"user/Observation.read?{LABORATORY}",  # a v1 word, as clients still send
    f"user/*.rs?{LABORATORY}",
])
def test_searches_see_what_the_scopes_search_matches(server, issuer, ids, scope):
    with _client(server, issuer, scope) as http:
        labs = {ids["thu_lab"], ids["hai_lab"]}
        assert _found(http.get("/Observation", params=OURS)) == labs
        assert _found(http.post("/Observation/_search", data=OURS)) == labs
        assert _found(http.get(f"/Patient/{ids['thu']}/Observation")) == {ids["thu_lab"]}
        assert _found(http.get("/Observation", params={
            "code": f"{CODES}|vital-signs"})) == set()
        counted = http.get("/Observation", params={**OURS, "_summary": "count"})
        assert counted.json()["total"] == 2
        # A type no scope names stays out of reach.
        assert_outcome(http.get(f"/Patient/{ids['thu']}"), 403)


def test_several_scopes_grant_what_any_of_them_matches(server, issuer, ids):
    scope = f"user/Observation.rs?{LABORATORY} user/Observation.rs?category=vital-signs"
    with _client(server, issuer, scope) as http:
        assert len(_found(http.get("/Observation", params=OURS))) == 4
    # A scope without a search grants the whole type, whatever granular ones say.
    with _client(server, issuer, f"user/Observation.rs?{LABORATORY} user/Observation.r"
                 " user/Observation.s") as http:
        assert len(_found(http.get("/Observation", params=OURS))) == 4


def test_reads_of_what_the_search_does_not_match_are_forbidden(server, issuer, ids):
    with _client(server, issuer, f"user/Observation.rs?{LABORATORY}") as http:
        assert http.get(f"/Observation/{ids['thu_lab']}").status_code == 200
        assert http.head(f"/Observation/{ids['hai_lab']}").status_code == 200
        for path in (f"Observation/{ids['thu_vital']}", "Observation/khong-co"):
            response = http.get(f"/{path}")
            assert_outcome(response, 403)
        assert LABORATORY in response.json()["issue"][0]["diagnostics"]


def test_versions_are_judged_as_they_were(client, server, issuer, ids):
    """A vital sign recorded in error and corrected to a laboratory result is the scope's
    from its second version only; once deleted, its reader learns it is gone (410)."""
    first = created(client, _observation("vital-signs"))
    path = f"/Observation/{first['id']}"
    corrected = client.put(path, headers=FHIR_HEADERS, json=first | {
        "category": [{"coding": [{"system": CATEGORY, "code": "laboratory"}]}]})
    assert corrected.status_code == 200, corrected.text
    with _client(server, issuer, f"user/Observation.rs?{LABORATORY}") as http:
        assert http.get(f"{path}/_history/2").status_code == 200
        assert_outcome(http.get(f"{path}/_history/1"), 403)
        history = http.get(f"{path}/_history")
        assert history.status_code == 200, history.text
        assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["2"]
        assert "total" not in history.json()  # it would count the version withheld
        assert client.delete(path).status_code in (200, 204)
        assert_outcome(http.get(path), 410)
        assert_outcome(http.get(f"/Observation/{ids['thu_vital']}/_history"), 403)
    vital = created(client, _observation("vital-signs"))
    assert client.delete(f"/Observation/{vital['id']}").status_code in (200, 204)
    with _client(server, issuer, f"user/Observation.rs?{LABORATORY}") as http:
        assert_outcome(http.get(f"/Observation/{vital['id']}"), 403)


def _version_pages(http, path: str, count: int) -> list[list[str]]:
    """The version ids of each page of a history, following its `next` links."""
    pages = []
    response = http.get(path, params={"_count": count})
    while True:
        assert response.status_code == 200, response.text
        pages.append([e["resource"]["meta"]["versionId"]
                      for e in response.json().get("entry", [])])
        following = [link["url"] for link in response.json()["link"]
                     if link["relation"] == "next"]
        if not following:
            return pages
        response = http.get(following[0])


@pytest.mark.parametrize("scope", ["patient/*.rs", f"user/Observation.rs?{LABORATORY}"])
def test_a_history_in_pages_holds_every_version_the_token_sees(client, server, issuer, ids,
                                                               scope):
    """Versions 1, 3 and 5 are Thu's laboratory result, 2 and 4 Hải's vital sign: pages of
    one version hold 5, 3 and 1, none empty (a page filtered down to nothing ended the
    history, and pages came short). Coded apart, so the data set's searches miss it."""
    first = created(client, _observation("laboratory") | {
        "subject": {"reference": f"Patient/{ids['thu']}"}, "code": {"text": "Glucose"}})
    path = f"/Observation/{first['id']}"
    for version in range(2, 6):
        thu = version % 2 == 1
        body = first | {"subject": {"reference": f"Patient/{ids['thu' if thu else 'hai']}"},
                        "category": [{"coding": [{"system": CATEGORY, "code": (
                            "laboratory" if thu else "vital-signs")}]}]}
        assert client.put(path, headers=FHIR_HEADERS, json=body).status_code == 200
    with _client(server, issuer, scope, patient=ids["thu"]) as http:
        assert _version_pages(http, f"{path}/_history", 1) == [["5"], ["3"], ["1"]]
        assert _version_pages(http, f"{path}/_history", 2) == [["5", "3"], ["1"]]
        # `_count=0` is a count (search.html#count); one page, with no total that would
        # count Hải's versions (empty pages followed each other, one a version).
        assert _version_pages(http, f"{path}/_history", 0) == [[]]
        assert "total" not in http.get(f"{path}/_history", params={"_count": 0}).json()


def _included(response) -> list[str]:
    return [entry["resource"]["id"] for entry in response.json()["entry"]
            if entry["search"]["mode"] == "include"]


def test_includes_leave_out_what_the_search_does_not_match(server, issuer, ids):
    scope = f"user/DiagnosticReport.rs user/Observation.rs?{LABORATORY}"
    with _client(server, issuer, scope) as http:
        response = http.get("/DiagnosticReport", params={
            "_id": ids["report"], "_include": "DiagnosticReport:result"})
        assert response.status_code == 200, response.text
        assert _included(response) == [ids["thu_lab"]]
        [outcome] = [e["resource"] for e in response.json()["entry"]
                     if e["search"]["mode"] == "outcome"]
        assert "Observation" in outcome["issue"][0]["diagnostics"]


def test_a_version_specific_include_needs_what_its_vread_needs(client, server, issuer):
    """A laboratory result since corrected to a vital sign: its first version matched the
    scope, its current one does not, so its vread is 403; a report naming that first
    version (`Observation/1/_history/1`) does not hand it over either. Coded apart, so the
    data set's searches miss it."""
    first = created(client, _observation("laboratory") | {"code": {"text": "Glucose"}})
    path = f"Observation/{first['id']}"
    corrected = client.put(f"/{path}", headers=FHIR_HEADERS, json=first | {
        "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}]})
    assert corrected.status_code == 200, corrected.text
    report = created(client, {"resourceType": "DiagnosticReport", "status": "final",
                              "code": {"text": "Xét nghiệm"},
                              "result": [{"reference": f"{path}/_history/1"}]})
    scope = f"user/DiagnosticReport.rs user/Observation.rs?{LABORATORY}"
    with _client(server, issuer, scope) as http:
        assert_outcome(http.get(f"/{path}/_history/1"), 403)
        response = http.get("/DiagnosticReport", params={
            "_id": report["id"], "_include": "DiagnosticReport:result"})
        assert response.status_code == 200, response.text
        assert _included(response) == []
        [outcome] = [e["resource"] for e in response.json()["entry"]
                     if e["search"]["mode"] == "outcome"]
        assert "Observation" in outcome["issue"][0]["diagnostics"]
    # Corrected back, the resource is the scope's again, and so is its first version.
    back = client.put(f"/{path}", headers=FHIR_HEADERS, json=first)
    assert back.status_code == 200, back.text
    with _client(server, issuer, scope) as http:
        assert http.get(f"/{path}/_history/1").status_code == 200
        response = http.get("/DiagnosticReport", params={
            "_id": report["id"], "_include": "DiagnosticReport:result"})
        assert _included(response) == [first["id"]]


def test_reverse_includes_say_the_same_whatever_they_leave_out(server, issuer, ids):
    """The outcome naming a type left out comes whether or not a resource of it was: said
    only then, it would tell that Hải has Observations the token may not read."""
    scope = f"user/Patient.rs user/Observation.rs?{LABORATORY}"
    with _client(server, issuer, scope) as http:
        for rule in ("Observation:subject", "*"):
            outcomes = []
            for who in ("hai", "an"):
                response = http.get("/Patient", params={"_id": ids[who], "_revinclude": rule})
                assert response.status_code == 200, response.text
                outcomes.append([e["resource"]["issue"] for e in response.json()["entry"]
                                 if e["search"]["mode"] == "outcome"])
                assert _included(response) == ([ids["hai_lab"]] if who == "hai" else [])
            assert outcomes[0] == outcomes[1] and outcomes[0], rule
        everything = http.get("/Patient", params={"_id": ids["hai"], "_revinclude": "*"})
        assert everything.status_code == 200, everything.text
        assert _included(everything) == [ids["hai_lab"]]


def test_patient_scopes_keep_to_the_compartment_and_the_search(server, issuer, ids):
    with _client(server, issuer, f"patient/Observation.rs?{LABORATORY}",
                 patient=ids["thu"]) as http:
        assert _found(http.get("/Observation", params=OURS)) == {ids["thu_lab"]}
        assert http.get(f"/Observation/{ids['thu_lab']}").status_code == 200
        # One refusal for another category and another patient's: which one would tell
        # that the record exists in the compartment.
        said = set()
        for other in ("thu_vital", "hai_lab"):
            response = http.get(f"/Observation/{ids[other]}")
            assert_outcome(response, 403)
            said.add(response.json()["issue"][0]["diagnostics"].replace(ids[other], "?"))
        assert len(said) == 1, said
    # Within the compartment, a user/ scope's search counts as well.
    scope = f"patient/Observation.rs?{LABORATORY} user/Observation.rs?category=vital-signs"
    with _client(server, issuer, scope, patient=ids["thu"]) as http:
        assert _found(http.get("/Observation", params=OURS)) == {ids["thu_lab"],
                                                                 ids["thu_vital"]}
        assert http.get(f"/Observation/{ids['thu_vital']}").status_code == 200


@pytest.mark.parametrize("patient_scope", ["patient/Observation.rs", "patient/*.rs"])
def test_granular_scopes_kept_to_the_compartment_include_nothing(server, issuer, ids,
                                                                  patient_scope):
    """A user/ scope's search that a patient/ scope keeps to Thu's compartment lets no
    Observation of Hải's in through _include or _revinclude, as it lets none be read."""
    scope = (f"user/Patient.rs user/DiagnosticReport.rs {patient_scope} "
             "user/Observation.rs?category=vital-signs")
    with _client(server, issuer, scope, patient=ids["thu"]) as http:
        assert_outcome(http.get(f"/Observation/{ids['hai_vital']}"), 403)
        for rule in ("Observation:subject", "*"):
            response = http.get("/Patient", params={"_id": ids["hai"], "_revinclude": rule})
            assert response.status_code == 200, response.text
            assert _included(response) == [], rule
        response = http.get("/DiagnosticReport", params={
            "_id": ids["report"], "_include": "DiagnosticReport:result"})
        assert response.status_code == 200, response.text
        assert _included(response) == []


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_batch_entries_are_judged_as_the_same_requests_alone(server, issuer, ids, kind):
    urls = [f"Observation?code={CODES}|", f"Observation/{ids['hai_lab']}",
            f"Observation/{ids['hai_lab']}/_history/1", f"Observation/{ids['thu_vital']}"]
    with _client(server, issuer, f"user/Observation.rs?{LABORATORY}") as http:
        entries = read_entries(http, kind, urls, allowed=3)
    assert [e["response"]["status"][:3] for e in entries] == ["200", "200", "200", "403"][
        :len(entries)]
    assert {e["resource"]["id"] for e in entries[0]["resource"]["entry"]} == {
        ids["thu_lab"], ids["hai_lab"]}


def test_granular_scopes_grant_no_writes(server, issuer, ids):
    """Whether a write stays within a scope's search is not judged here: refused."""
    scope = f"user/Observation.cruds?{LABORATORY}"
    with _client(server, issuer, scope) as http:
        assert_outcome(http.post("/Observation", json=_observation("laboratory"),
                                 headers=FHIR_HEADERS), 403)
        assert_outcome(http.delete(f"/Observation/{ids['thu_lab']}"), 403)
        assert_outcome(http.get("/Observation/_history"), 403)
        assert http.get(f"/Observation/{ids['thu_lab']}").status_code == 200


@pytest.mark.parametrize(("query", "said"), [
    ("ten-khong-co=1", "ten-khong-co"),
    ("category=laboratory&_count=5", "criteria only"),
    ("_sort=date", "criteria only"),
    # A search ignores a criterion without a value: a scope would grant the whole type.
    ("category=", "without a value"),
    ("=", "without a value"),
    ("category=,", "without a value"),
    ("category=%20", "without a value"),
    ("code:missing=", "without a value"),
    ("subject.name=", "without a value"),
    (f"{LABORATORY}&code=", "without a value"),
])
def test_a_scope_whose_search_cannot_run_grants_nothing(server, issuer, ids, query, said):
    with _client(server, issuer, f"user/Observation.rs?{query}") as http:
        for response in (http.get("/Observation", params=OURS),
                         http.get(f"/Observation/{ids['thu_vital']}")):
            assert_outcome(response, 403)
            assert said in response.json()["issue"][0]["diagnostics"]
    with _client(server, issuer, f"user/*.rs?{LABORATORY}") as http:  # not every type's
        assert_outcome(http.get(f"/Patient/{ids['thu']}/*"), 403)
