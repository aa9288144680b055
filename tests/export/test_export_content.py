"""What exports hold: every type as search finds it, split over files; the Patient
compartments of all patients, of a Group's members and of `patient`; `_typeFilter`,
`_elements`, `_since` with deletions, `_until`; Provenance by `includeAssociatedData`."""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from api.helpers import parse_instant
from bulk_helpers import (
    create,
    encounter,
    export,
    ids,
    patient,
    provenance,
    resources,
    search_ids,
    transaction,
)


@pytest.fixture(scope="module")
def export_settings() -> dict:
    return {"export_batch_bytes": 1024, "export_file_max_bytes": 2048}


def reference_body(*references: str) -> dict:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {"reference": r}} for r in references]}


@pytest.fixture(scope="module")
def data(client) -> dict:
    family = f"Lê{uuid.uuid4().hex[:6]}"
    a, b, c = transaction(client, [patient(), patient(family), patient()])
    staff = transaction(client, [
        {"resourceType": "Practitioner", "name": [{"family": "Trần", "given": ["Bình"]}]},
        {"resourceType": "Organization", "name": "Bệnh viện Bạch Mai"}])
    visits = transaction(client, [encounter(a["id"]) for _ in range(5)]
                         + [encounter(a["id"], "in-progress") for _ in range(2)]
                         + [encounter(b["id"]) for _ in range(3)]
                         + [encounter(c["id"]) for _ in range(4)])
    notes = transaction(client, [
        {"resourceType": "DocumentReference", "status": "current",
         "subject": {"reference": f"Patient/{owner['id']}"},
         "content": [{"attachment": {"contentType": "text/plain", "data": "R2hpIGNow7o="}}]}
        for owner in (a, c)])
    group = create(client, {"resourceType": "Group", "type": "person", "actual": True, "member": [
        {"entity": {"reference": f"Patient/{a['id']}"}},
        {"entity": {"reference": f"Patient/{b['id']}"}},
        {"entity": {"reference": f"Patient/{c['id']}"}, "inactive": True}]})
    first = visits[0]["id"]
    provenances = {
        "older": create(client, provenance(f"Encounter/{first}", recorded="2024-01-01T00:00:00Z")),
        "newer": create(client, provenance(f"Encounter/{first}", recorded="2024-06-01T00:00:00Z")),
        "exact": create(client, provenance(f"Encounter/{first}/_history/1",
                                           recorded="2023-01-01T00:00:00Z")),
        "c": create(client, provenance(f"Encounter/{visits[-1]['id']}")),
        "staff": create(client, provenance(f"Practitioner/{staff[0]['id']}")),
    }
    return {"a": a, "b": b, "c": c, "family": family, "visits": visits, "notes": notes,
            "group": group, "provenances": {k: v["id"] for k, v in provenances.items()}}


def test_system_export_holds_every_type_as_search_finds_it(client, data):
    body = export(client)
    found = ids(client, body)
    for kind in ("Patient", "Encounter", "DocumentReference", "Practitioner", "Organization",
                 "Group", "Provenance"):
        assert sorted(found.get(kind, [])) == sorted(search_ids(client, kind)), kind
    assert "AuditEvent" not in found  # the audit trail only when asked for by name
    everything = [(kind, i) for kind, found_ids in found.items() for i in found_ids]
    assert len(everything) == len(set(everything))
    encounter_files = [item for item in body["output"] if item["type"] == "Encounter"]
    assert len(encounter_files) > 1  # split at FHIR_EXPORT_FILE_MAX_BYTES
    assert len({item["url"] for item in body["output"]}) == len(body["output"])


def test_the_audit_trail_is_exported_when_named(client, data):
    body = export(client, params={"_type": "AuditEvent"})
    events = resources(client, body)["AuditEvent"]
    assert events and all(e["meta"]["lastUpdated"] <= body["transactionTime"] for e in events)


def test_patient_level_holds_the_patient_compartments(client, data):
    found = ids(client, export(client, "Patient/$export"))
    assert "Practitioner" not in found and "Organization" not in found
    assert sorted(found["Patient"]) == sorted(search_ids(client, "Patient"))
    assert sorted(found["Encounter"]) == sorted(search_ids(client, "Encounter"))
    provenances = set(found["Provenance"])
    named = data["provenances"]
    assert {named["older"], named["newer"], named["exact"], named["c"]} <= provenances
    assert named["staff"] not in provenances  # its target is in no Patient compartment


def test_group_level_holds_the_active_members_compartments(client, data):
    a, b = data["a"]["id"], data["b"]["id"]
    found = ids(client, export(client, f"Group/{data['group']['id']}/$export"))
    assert sorted(found["Patient"]) == sorted([a, b])
    assert sorted(found["Encounter"]) == sorted(search_ids(client, "Encounter",
                                                           patient=f"{a},{b}"))
    assert found["DocumentReference"] == [data["notes"][0]["id"]]
    assert data["group"]["id"] in found["Group"]
    named = data["provenances"]
    assert {named["older"], named["newer"], named["exact"]} <= set(found["Provenance"])
    assert named["c"] not in found["Provenance"]


def _group(*members: str) -> dict:
    return {"resourceType": "Group", "type": "person", "actual": True,
            "member": [{"entity": {"reference": f"Patient/{m}"}} for m in members]}


def test_patient_and_group_exports_hold_only_the_patients_and_group_exported(client):
    """As HAPI FHIR: of Patient the patients exported, of Group the Group exported (none at
    Patient level). Probe CJ: a non-member linked to a member (`Patient.link`, in the
    member's compartment) came along, and so did every other Group of the members, with
    that cohort's whole member list."""
    member, other = create(client, patient())["id"], create(client, patient())["id"]
    create(client, patient(link=[{"other": {"reference": f"Patient/{member}"},
                                  "type": "seealso"}]))
    cohort = create(client, _group(member))["id"]
    create(client, _group(member, other))
    visit = create(client, encounter(member))["id"]
    found = ids(client, export(client, f"Group/{cohort}/$export",
                               params={"_type": "Patient,Group,Encounter"}))
    assert found == {"Patient": [member], "Group": [cohort], "Encounter": [visit]}
    found = ids(client, export(client, "Patient/$export",
                               params={"_type": "Patient,Group,Encounter",
                                       "patient": f"Patient/{member}"}))
    assert found == {"Patient": [member], "Encounter": [visit]}


def test_patient_parameter_narrows_a_group_export(client, data):
    a = data["a"]["id"]
    body = export(client, f"Group/{data['group']['id']}/$export",
                  body=reference_body(f"Patient/{a}"), Prefer="respond-async, handling=strict")
    found = ids(client, body)
    assert found["Patient"] == [a]
    assert sorted(found["Encounter"]) == sorted(search_ids(client, "Encounter", patient=a))


def test_patient_parameter_at_patient_level(client, data):
    c = data["c"]["id"]
    found = ids(client, export(client, "Patient/$export", body=reference_body(f"Patient/{c}"),
                               params={"_type": "Patient,Encounter"}))
    assert found["Patient"] == [c]
    assert sorted(found["Encounter"]) == sorted(search_ids(client, "Encounter", patient=c))


def test_type_filter(client, data):
    found = ids(client, export(client, params={"_type": "Encounter",
                                               "_typeFilter": "Encounter?status=in-progress"}))
    assert sorted(found["Encounter"]) == sorted(search_ids(client, "Encounter",
                                                           status="in-progress"))


def test_type_filters_of_one_type_are_ored(client, data):
    c = data["c"]["id"]
    params = [("_type", "Encounter"),
              ("_typeFilter", "Encounter?status=in-progress,Encounter?patient=Patient/" + c)]
    found = ids(client, export(client, params=params, Prefer="respond-async, handling=strict"))
    expected = set(search_ids(client, "Encounter", status="in-progress"))
    expected |= set(search_ids(client, "Encounter", patient=c))
    assert sorted(found["Encounter"]) == sorted(expected)


def test_type_filter_with_a_chain_and_a_value_list(client, data):
    params = [("_type", "Encounter,Patient"),
              ("_typeFilter", f"Encounter?subject:Patient.family={data['family']}"),
              ("_typeFilter", "Patient?_id=" + ",".join(data[k]["id"] for k in "ab"))]
    found = ids(client, export(client, params=params, Prefer="respond-async, handling=strict"))
    assert sorted(found["Encounter"]) == sorted(search_ids(client, "Encounter",
                                                           patient=data["b"]["id"]))
    assert sorted(found["Patient"]) == sorted([data["a"]["id"], data["b"]["id"]])


@pytest.mark.parametrize("type_filter, criteria", [
    # Form encoding (Python's urlencode, Java's URLEncoder) writes a space as `+`.
    ("Encounter?type:text=khám+sức+khỏe", {"type:text": "khám sức khỏe"}),
    # A timezone's `+` written unencoded is still the `+` it was, as in a search.
    ("Encounter?date=ge2024-03-01T08:00:00+07:00&type:text=khám",
     {"date": "ge2024-03-01T08:00:00+07:00", "type:text": "khám"}),
])
def test_a_type_filter_reads_its_query_as_a_search_reads_a_query_string(client, type_filter,
                                                                       criteria):
    """A `+` in the query means what it means in the query string of the same search (probe
    CH: it was read as a plus sign, and the export held nothing)."""
    owner = create(client, patient())
    checkup = create(client, encounter(owner["id"], type=[{"text": "Khám sức khỏe định kỳ"}]))
    found = ids(client, export(client, params={"_type": "Encounter", "_typeFilter": type_filter},
                               Prefer="respond-async, handling=strict"))
    assert checkup["id"] in found["Encounter"]
    assert sorted(found["Encounter"]) == sorted(search_ids(client, "Encounter", **criteria))


def test_group_members_outside_their_period_are_left_out(client):
    now, past, future = patient(), patient(), patient()
    members = [create(client, p)["id"] for p in (now, past, future)]
    group = create(client, {"resourceType": "Group", "type": "person", "actual": True,
                            "member": [
        {"entity": {"reference": f"Patient/{members[0]}"},
         "period": {"start": "2020-01-01", "end": "2999-12-31T00:00:00Z"}},
        {"entity": {"reference": f"Patient/{members[1]}"},
         "period": {"start": "2020-01-01", "end": "2021-06-30"}},
        {"entity": {"reference": f"Patient/{members[2]}"}, "period": {"start": "2999-01-01"}}]})
    found = ids(client, export(client, f"Group/{group['id']}/$export",
                               params={"_type": "Patient"}))
    assert found["Patient"] == [members[0]]


def test_elements(client, data):
    body = export(client, params={"_type": "Patient,Encounter",
                                  "_elements": "Patient.gender,status"})
    found = resources(client, body)
    for resource in found["Patient"]:
        assert set(resource) <= {"resourceType", "id", "meta", "gender"}, resource
        assert "SUBSETTED" in [tag["code"] for tag in resource["meta"]["tag"]]
    for resource in found["Encounter"]:  # status asked for; class is mandatory
        assert set(resource) == {"resourceType", "id", "meta", "status", "class"}, resource


def test_elements_tag_is_the_bare_subsetted_coding(client, data):
    # SMART's Bulk Data tester (bdt) looks for exactly this Coding in meta.tag.
    body = export(client, params={"_type": "Patient", "_elements": "id,Patient.meta"})
    for resource in resources(client, body)["Patient"]:
        assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                "code": "SUBSETTED"} in resource["meta"]["tag"], resource


def _expected_provenance(client, encounters: list[dict], latest: bool) -> set[str]:
    """What includeAssociatedData should bring, worked out from searches."""
    chosen = set()
    for visit in encounters:
        found = [e["resource"] for e in client.get(
            "/Provenance", params={"target": f"Encounter/{visit['id']}", "_count": "100"}
        ).json().get("entry", [])]
        if not latest:
            chosen |= {p["id"] for p in found}
            continue
        version = f"Encounter/{visit['id']}/_history/{visit['meta']['versionId']}"
        exact = {p["id"] for p in found
                 if any(t["reference"].endswith(version) for t in p["target"])}
        if exact:
            chosen |= exact
        elif found:
            chosen.add(max(found, key=lambda p: p["recorded"])["id"])
    return chosen


@pytest.mark.parametrize("value", ["LatestProvenanceResources", "RelevantProvenanceResources"])
def test_include_associated_provenance(client, data, value):
    a = data["a"]["id"]
    params = {"_type": "Encounter", "_typeFilter": f"Encounter?patient={a}",
              "includeAssociatedData": value}
    found = resources(client, export(client, params=params))
    exported = found["Encounter"]
    provenances = {p["id"] for p in found.get("Provenance", [])}
    assert provenances == _expected_provenance(client, exported, value.startswith("Latest"))
    named = data["provenances"]
    assert named["exact"] in provenances and named["c"] not in provenances
    assert (named["newer"] in provenances) == value.startswith("Relevant")


def test_since_exports_changes_and_deletions(client, data):
    someone = create(client, patient())
    visits = transaction(client, [encounter(someone["id"]) for _ in range(4)])
    since = export(client, params={"_type": "Patient"})["transactionTime"]
    time.sleep(0.01)
    changed = {**visits[0], "status": "cancelled"}
    response = client.put(f"/Encounter/{changed['id']}", json=changed,
                          headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    for gone in visits[1:3]:
        assert client.delete(f"/Encounter/{gone['id']}").status_code in (200, 204)
    added = create(client, encounter(someone["id"]))
    other = create(client, encounter(data["c"]["id"]))
    assert client.delete(f"/Encounter/{other['id']}").status_code in (200, 204)
    params = {"_type": "Encounter", "_since": since,
              "_typeFilter": f"Encounter?patient={someone['id']}"}
    body = export(client, params=params)
    found = resources(client, body)
    assert sorted(r["id"] for r in found["Encounter"]) == sorted([changed["id"], added["id"]])
    deletions = resources(client, body, "deleted")["Bundle"]
    deleted = [entry["request"] for bundle in deletions for entry in bundle["entry"]]
    assert all(bundle["type"] == "transaction" for bundle in deletions)
    assert sorted(deleted, key=str) == sorted(
        ({"method": "DELETE", "url": f"Encounter/{v['id']}"} for v in visits[1:3]), key=str)
    until = export(client, params={"_type": "Encounter", "_until": since,
                                   "_typeFilter": f"Encounter?patient={someone['id']}"})
    # As of now, only the untouched encounter was last changed before `_until`.
    assert ids(client, until)["Encounter"] == [visits[3]["id"]]
    # The Provenance that comes along (a Patient export's default) changed since too: not
    # that of the versions before `_since` (the IG: "changed after the supplied time").
    compartment = resources(client, export(client, "Patient/$export", params={
        "_since": since, "_type": "Encounter,Provenance",
        "_typeFilter": f"Encounter?patient={someone['id']}"}))
    recorded = [p["meta"]["lastUpdated"] for p in compartment["Provenance"]]
    assert recorded and all(parse_instant(at) >= parse_instant(since) for at in recorded)
    targets = {t["reference"].split("/_history/")[0] for p in compartment["Provenance"]
               for t in p["target"]}
    assert f"Encounter/{changed['id']}" in targets


def test_latest_provenance_exports_verify_offline(client, signing_service, tmp_path):
    """What a receiving hospital does: export with each resource's signed Provenance and
    verify the files with `fhir-server verify` alone."""
    someone = create(client, patient())
    visits = transaction(client, [encounter(someone["id"]) for _ in range(3)])
    response = client.put(f"/Encounter/{visits[0]['id']}",
                          json={**visits[0], "status": "cancelled"},
                          headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    params = [("_type", "Patient,Encounter"),
              ("includeAssociatedData", "LatestProvenanceResources"),
              ("_typeFilter", f"Patient?_id={someone['id']}"),
              ("_typeFilter", f"Encounter?patient={someone['id']}")]
    body = export(client, params=params)
    for item in body["output"]:
        (tmp_path / item["url"].rsplit("/", 1)[1]).write_bytes(client.get(item["url"]).content)
    signed = resources(client, body)["Provenance"]
    assert len(signed) == 4  # one per exported version: the patient, three encounters
    result = subprocess.run(
        [str(Path(sys.executable).parent / "fhir-server"), "verify", str(tmp_path),
         "--trust", str(signing_service.anchor_path)], capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_provenance_stamped_at_since_did_not_change_after_it(client):
    """`_since` is exclusive for the Provenance that comes along as for every type: one
    stamped at it was in the export whose transactionTime it was, and is not again."""
    someone = create(client, patient())
    visit = create(client, encounter(someone["id"]))
    found = client.get("/Provenance", params={"target": f"Encounter/{visit['id']}"}).json()
    first = [entry["resource"] for entry in found["entry"]]
    assert len(first) == 1
    since = first[0]["meta"]["lastUpdated"]
    time.sleep(0.01)
    response = client.put(f"/Encounter/{visit['id']}", json={**visit, "status": "cancelled"},
                          headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    params = {"_type": "Encounter", "_since": since, "_typeFilter": f"Encounter?_id={visit['id']}",
              "includeAssociatedData": "RelevantProvenanceResources"}
    exported = resources(client, export(client, params=params))
    assert [r["id"] for r in exported["Encounter"]] == [visit["id"]]
    provenances = exported["Provenance"]
    assert first[0]["id"] not in {p["id"] for p in provenances}
    assert len(provenances) == 1
    assert provenances[0]["target"][0]["reference"].endswith("/_history/2")


@pytest.mark.parametrize("level", ["group", "patient"])
def test_since_lists_the_deletion_of_a_member_and_of_its_compartment(client, level):
    """A Group member, or a `patient`, deleted since `_since` is no Patient to export, but
    its deletion, and those of its compartment, are what the client must learn."""
    gone, kept = transaction(client, [patient(), patient()])
    notes = transaction(client, [encounter(gone["id"]), encounter(kept["id"])])
    group = create(client, {"resourceType": "Group", "type": "person", "actual": True,
                            "member": [{"entity": {"reference": f"Patient/{p['id']}"}}
                                       for p in (gone, kept)]})
    path = f"Group/{group['id']}/$export" if level == "group" else "Patient/$export"
    body = reference_body(*(f"Patient/{p['id']}" for p in (gone, kept)))
    first = export(client, path, body=body, params={"_type": "Patient,Encounter"})
    time.sleep(0.01)
    deleted = [f"Encounter/{notes[0]['id']}", f"Patient/{gone['id']}",
               f"Encounter/{notes[1]['id']}"]
    for reference in deleted:
        assert client.delete(f"/{reference}").status_code in (200, 204)
    since = export(client, path, body=body,
                   params={"_type": "Patient,Encounter", "_since": first["transactionTime"]})
    deletions = resources(client, since, "deleted")["Bundle"]
    listed = [entry["request"]["url"] for bundle in deletions for entry in bundle["entry"]]
    assert sorted(listed) == sorted(deleted)
    assert resources(client, since, "error") == {}  # the deleted Patient is no unknown one


def test_elements_shape_the_provenance_of_include_associated_data(client, data):
    """The Provenance that includeAssociatedData brings is exported: `Provenance.x` in
    `_elements` names one of its elements (it was refused as a type not exported)."""
    params = {"_type": "Encounter", "_typeFilter": f"Encounter?patient={data['a']['id']}",
              "includeAssociatedData": "RelevantProvenanceResources",
              "_elements": "Encounter.status,Provenance.target"}
    found = resources(client, export(client, params=params))
    assert found["Encounter"] and found["Provenance"]
    assert all("target" in p and "signature" not in p for p in found["Provenance"])
    tags = [t for p in found["Provenance"] for t in p["meta"].get("tag", [])]
    assert any(t["code"] == "SUBSETTED" for t in tags)  # the signed ones lost a signature


@pytest.mark.parametrize("path, params", [
    ("Patient/$export", {"_type": "Encounter,Provenance"}),
    ("$export", {"_type": "Encounter", "includeAssociatedData": "RelevantProvenanceResources"}),
])
def test_a_type_filter_of_provenance_filters_the_provenance_that_comes_along(
        client, data, path, params):
    """IG: a server "SHALL filter the data in the response to only include resources that
    meet the specified criteria"; the Provenance of exported resources was exported whole."""
    older = data["provenances"]["older"]
    params = {**params, "_typeFilter": [f"Encounter?patient={data['a']['id']}",
                                        f"Provenance?_id={older}"]}
    found = resources(client, export(client, path, params=params))
    assert found["Encounter"]
    assert [p["id"] for p in found["Provenance"]] == [older]


def test_provenance_changed_after_until_does_not_come_along(client):
    """`_until` bounds the Provenance that comes along as it bounds every type: that of a
    version stamped at `_until` is stamped after it (1 ms, README "When a version is
    stamped")."""
    visit = create(client, encounter(create(client, patient())["id"]))
    until = visit["meta"]["lastUpdated"]
    params = {"_type": "Encounter", "_until": until, "_typeFilter": f"Encounter?_id={visit['id']}",
              "includeAssociatedData": "RelevantProvenanceResources"}
    exported = resources(client, export(client, params=params))
    assert [r["id"] for r in exported["Encounter"]] == [visit["id"]]
    assert "Provenance" not in exported
    later = export(client, params={**params, "_until": "2999-01-01T00:00:00Z"})
    assert len(resources(client, later)["Provenance"]) == 1
