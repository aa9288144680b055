"""`_include` of version-specific references (http://hl7.org/fhir/R4/search.html#versions:
"If a resource has a reference that is versioned and _include is performed, the specified
version SHOULD be provided"): the version named, relative or absolute on this server; the
current one for a reference without a version; none for a deletion or a version that never
was. The entry's fullUrl names the resource, not the version (bundle.html: fullUrl), and
one fullUrl may come with several versionIds (bdl-7).

Data set: Patient Lan, written twice (her organization changed from Bạch Mai to Chợ Rẫy),
and Patient Mai, written and deleted; each write is signed by a server Provenance whose
target is the version it wrote.
"""

import uuid

import pytest
from api.helpers import created, put
from search.helpers import matches, search
from security.helpers import fhir_client, own_server

CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _organization(name: str) -> dict:
    return {"resourceType": "Organization", "name": name}


def _reference(kind: str, resource_id: str) -> dict:
    return {"reference": f"{kind}/{resource_id}"}


@pytest.fixture(scope="module")
def data(client) -> dict[str, str]:
    ids = {"bach_mai": created(client, _organization("Bệnh viện Bạch Mai"))["id"],
           "cho_ray": created(client, _organization("Bệnh viện Chợ Rẫy"))["id"]}
    lan = created(client, {"resourceType": "Patient", "name": [{"given": ["Lan"]}],
                           "managingOrganization": _reference("Organization", ids["bach_mai"])})
    second = {**lan, "managingOrganization": _reference("Organization", ids["cho_ray"])}
    assert put(client, second).status_code == 200
    mai = created(client, {"resourceType": "Patient", "name": [{"given": ["Mai"]}]})
    assert client.delete(f"/Patient/{mai['id']}").status_code in (200, 204)
    return ids | {"lan": lan["id"], "mai": mai["id"]}


def _included(bundle: dict) -> set[tuple[str, str, str]]:
    """(type, id, versionId) of the included resources, each entry checked to carry the
    resource's version-independent fullUrl and to come once."""
    found = []
    for entry in bundle.get("entry", []):
        if entry["search"]["mode"] == "include":
            resource = entry["resource"]
            assert entry["fullUrl"].endswith(f"/{resource['resourceType']}/{resource['id']}")
            found.append((resource["resourceType"], resource["id"], resource["meta"]["versionId"]))
    assert len(found) == len(set(found)), found
    return set(found)


def _outcomes(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]


def _list(client, *references: str) -> str:
    """A List whose entries refer to `references` (List:item)."""
    return created(client, {"resourceType": "List", "status": "current", "mode": "working",
                            "entry": [{"item": {"reference": r}} for r in references]})["id"]


def test_a_provenance_includes_the_version_it_signs(client, data):
    """The probe's case: each Provenance of Lan's writes brings the version it signs, so
    each verifies from the search result; the current one alone did for the last only."""
    bundle = search(client, "/Provenance", {"target": f"Patient/{data['lan']}",
                                            "_include": "Provenance:target"})
    targets = {p["target"][0]["reference"] for p in matches(bundle)}
    assert targets == {f"Patient/{data['lan']}/_history/1", f"Patient/{data['lan']}/_history/2"}
    assert _included(bundle) == {("Patient", data["lan"], "1"), ("Patient", data["lan"], "2")}
    organizations = {e["resource"]["meta"]["versionId"]: e["resource"]["managingOrganization"]
                     for e in bundle["entry"] if e["search"]["mode"] == "include"}
    assert organizations == {"1": _reference("Organization", data["bach_mai"]),
                             "2": _reference("Organization", data["cho_ray"])}


def test_versions_named_relatively_or_absolutely_and_the_current_one(client, server, data):
    lan = f"Patient/{data['lan']}"
    list_id = _list(client, f"{lan}/_history/1", f"{server.base}/{lan}/_history/2",
                    f"{lan}/_history/1", f"Organization/{data['bach_mai']}",
                    f"Organization/{data['bach_mai']}/_history/1")
    bundle = search(client, "/List", {"_id": list_id, "_include": "List:item"})
    assert _included(bundle) == {("Patient", data["lan"], "1"), ("Patient", data["lan"], "2"),
                                 ("Organization", data["bach_mai"], "1")}
    # Without a version, the current one only: not also every version named elsewhere.
    only_current = _list(client, lan)
    bundle = search(client, "/List", {"_id": f"{list_id},{only_current}", "_include": "List:item"})
    assert ("Patient", data["lan"], "2") in _included(bundle)
    bundle = search(client, "/List", {"_id": only_current, "_include": "List:item"})
    assert _included(bundle) == {("Patient", data["lan"], "2")}


def test_a_deletion_or_a_version_that_never_was_is_left_out(client, data):
    mai, lan = f"Patient/{data['mai']}", f"Patient/{data['lan']}"
    list_id = _list(client, f"{mai}/_history/1", f"{mai}/_history/2", f"{lan}/_history/3",
                    f"{lan}/_history/99999999999999999999", f"{lan}/_history/x")
    bundle = search(client, "/List", {"_id": list_id, "_include": "List:item"})
    assert _included(bundle) == {("Patient", data["mai"], "1")}  # Mai as she was before
    assert _outcomes(bundle) == []


@pytest.fixture(scope="module")
def first_provenance(client, data) -> str:
    bundle = search(client, "/Provenance", {"target": f"Patient/{data['lan']}"})
    [first] = [p["id"] for p in matches(bundle)
               if p["target"][0]["reference"].endswith("/_history/1")]
    return first


def test_include_iterate_reads_the_included_version(client, data, first_provenance):
    """Lan's first version was Bạch Mai's patient: `:iterate` brings Bạch Mai, not the
    organization her current version names."""
    bundle = search(client, "/Provenance", [
        ("_id", first_provenance), ("_include", "Provenance:target"),
        ("_include:iterate", "Patient:organization")])
    assert _included(bundle) == {("Patient", data["lan"], "1"),
                                 ("Organization", data["bach_mai"], "1")}


def test_system_search_keeps_an_older_version_beside_the_current_match(client, data,
                                                                       first_provenance):
    bundle = search(client, "", {"_type": "Patient,Provenance",
                                 "_id": f"{data['lan']},{first_provenance}",
                                 "_include": "Provenance:target"})
    lan = [(e["search"]["mode"], e["resource"]["meta"]["versionId"]) for e in bundle["entry"]
           if e["resource"]["id"] == data["lan"]]
    assert sorted(lan) == [("include", "1"), ("match", "2")]


def test_versions_count_against_the_page_limit(mongo_uri, request, tmp_path_factory, issuer):
    with own_server(mongo_uri, request, tmp_path_factory, issuer,
                    max_response_resources=3) as running, \
            fhir_client(running.base, issuer.token()) as http:
        patient = created(http, {"resourceType": "Patient", "name": [{"given": ["Hoa"]}]})
        for given in ("Hồng", "Huệ"):
            assert put(http, {**patient, "name": [{"given": [given]}]}).status_code == 200
        versions = [f"Patient/{patient['id']}/_history/{n}" for n in (1, 2, 3)]
        bundle = search(http, "/List", {"_id": _list(http, *versions), "_include": "List:item"})
    assert len(matches(bundle)) == 1 and len(_included(bundle)) == 2
    [outcome] = _outcomes(bundle)
    assert "at most 3 resources" in outcome["issue"][0]["diagnostics"]


def _observation(category: str, code: str) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
            "code": {"coding": [{"system": code, "code": category}]}}


def test_granular_scopes_judge_the_version_named_as_it_was(client, server, issuer):
    """A scope allowing laboratory results lets in the version a report names when that
    version was one and the result is one now, as a vread of it: a result since corrected
    to a vital sign is out of the scope's reach, its first version too."""
    codes = f"urn:uuid:{uuid.uuid4()}"
    was_lab = created(client, _observation("laboratory", codes))
    assert put(client, {**was_lab, **_observation("vital-signs", codes)}).status_code == 200
    now_lab = created(client, _observation("vital-signs", codes))
    assert put(client, {**now_lab, **_observation("laboratory", codes)}).status_code == 200
    still_lab = created(client, _observation("laboratory", codes))
    assert put(client, {**still_lab, "note": [{"text": "x"}]}).status_code == 200
    report = created(client, {"resourceType": "DiagnosticReport", "status": "final",
                              "code": {"text": "Xét nghiệm"}, "result": [
                                  {"reference": f"Observation/{lab['id']}/_history/1"}
                                  for lab in (was_lab, now_lab, still_lab)]})
    params = {"_id": report["id"], "_include": "DiagnosticReport:result"}
    scope = "user/DiagnosticReport.rs user/Observation.rs?category=laboratory"
    with fhir_client(server.base, issuer.token(scope)) as http:
        bundle = search(http, "/DiagnosticReport", params)
    assert _included(bundle) == {("Observation", still_lab["id"], "1")}
    [outcome] = _outcomes(bundle)
    assert "Observation" in outcome["issue"][0]["diagnostics"]
    with fhir_client(server.base, issuer.token("user/DiagnosticReport.rs")) as http:
        bundle = search(http, "/DiagnosticReport", params)
    assert _included(bundle) == set() and len(_outcomes(bundle)) == 1
    assert _included(search(client, "/DiagnosticReport", params)) == {
        ("Observation", lab["id"], "1") for lab in (was_lab, now_lab, still_lab)}
