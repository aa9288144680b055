"""`$meta`, `$meta-add` and `$meta-delete` (R4 resource-operation-meta, -meta-add,
-meta-delete): profiles, tags and security labels listed per resource, type and server, and
changed on one resource in place: no new version, search finds the new ones and not the
removed ones, tags are sets by system and code, and the write's signature still verifies."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, created, new_patient
from provenance.helpers import joserfc_verify, provenance_of, versioned
from security.helpers import fhir_client

TAGS = "http://benhvien-bachmai.vn/fhir/CodeSystem/nhan"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
PROFILE = "http://fhir.hl7.org.vn/core/StructureDefinition/vn-core-patient"


def _parameters(**meta) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": meta}]}


def _returned(response) -> dict:
    assert response.status_code == 200, response.text
    [parameter] = response.json()["parameter"]
    assert parameter["name"] == "return"
    return parameter["valueMeta"]


def _codes(meta: dict, element: str) -> set[str]:
    return {coding["code"] for coding in meta.get(element, [])}


@pytest.fixture
def tag() -> str:
    return f"cap-cuu-{uuid.uuid4().hex[:8]}"


def test_add_and_delete_change_meta_in_place_and_search_follows(client, tag):
    patient = created(client, new_patient(meta={"tag": [{"system": TAGS, "code": "old"}]}))
    path = f"/Patient/{patient['id']}"
    assert _codes(_returned(client.get(f"{path}/$meta")), "tag") == {"old"}
    added = _returned(client.post(f"{path}/$meta-add", headers=FHIR_HEADERS, json=_parameters(
        tag=[{"system": TAGS, "code": tag, "display": "Cấp cứu"}],
        security=[{"system": CONFIDENTIALITY, "code": "R"}], profile=[PROFILE])))
    assert _codes(added, "tag") == {"old", tag}
    assert _codes(added, "security") == {"R"} and added["profile"] == [PROFILE]
    # the same tag again, with another display: a set, no second copy
    again = _returned(client.post(f"{path}/$meta-add", headers=FHIR_HEADERS, json=_parameters(
        tag=[{"system": TAGS, "code": tag, "display": "khác"}])))
    assert [c["code"] for c in again["tag"]].count(tag) == 1

    read = client.get(path)
    assert read.headers["etag"] == 'W/"1"'
    assert read.json()["meta"]["versionId"] == "1"
    assert _codes(read.json()["meta"], "tag") == {"old", tag}
    assert client.get(f"{path}/_history").json()["total"] == 1
    assert _ids(client, _tag=f"{TAGS}|{tag}") == [patient["id"]]
    assert _ids(client, _security=f"{CONFIDENTIALITY}|R", _id=patient["id"]) == [patient["id"]]

    deleted = _returned(client.post(f"{path}/$meta-delete", headers=FHIR_HEADERS,
                                    json=_parameters(tag=[{"system": TAGS, "code": "old"}])))
    assert _codes(deleted, "tag") == {tag}
    assert _ids(client, _tag=f"{TAGS}|old", _id=patient["id"]) == []


def _ids(client, **params) -> list[str]:
    response = client.get("/Patient", params=params)
    assert response.status_code == 200, response.text
    return [entry["resource"]["id"] for entry in response.json().get("entry", [])]


def test_the_signature_of_the_version_still_verifies(client, tag):
    patient = created(client, new_patient())
    client.post(f"/Patient/{patient['id']}/$meta-add", headers=FHIR_HEADERS,
                json=_parameters(tag=[{"system": TAGS, "code": tag}]))
    stored = client.get(f"/Patient/{patient['id']}").json()
    assert _codes(stored["meta"], "tag") == {tag}
    provenance = provenance_of(client, versioned(stored))
    joserfc_verify(provenance["signature"][0], stored)


def test_type_and_system_level_list_what_is_in_use(client, tag):
    created(client, new_patient(meta={"tag": [{"system": TAGS, "code": tag}]}))
    assert tag in _codes(_returned(client.get("/Patient/$meta")), "tag")
    assert tag in _codes(_returned(client.get("/$meta")), "tag")
    assert tag not in _codes(_returned(client.get("/Practitioner/$meta")), "tag")


def test_meta_by_post_reads_its_body(client):
    """$meta takes no parameters: a body that is not JSON or not a Parameters is 400 (a
    malformed one was ignored), an empty Parameters reads the meta."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}/$meta"
    assert_outcome(client.post(path, content=b"{", headers=FHIR_HEADERS), 400)
    assert_outcome(client.post(path, json={"resourceType": "Patient"}, headers=FHIR_HEADERS),
                   400)
    answered = client.post(path, json={"resourceType": "Parameters"}, headers=FHIR_HEADERS)
    assert answered.status_code == 200, answered.text


@pytest.mark.parametrize("body", [
    {"resourceType": "Patient"},
    {"resourceType": "Parameters", "parameter": []},
    _parameters(tag=[{"system": TAGS}]),
    _parameters(profile=[{"url": PROFILE}]),
    # Not R4 Codings or canonicals: stored, they made the resource unwritable as read.
    _parameters(tag=[{"code": "z", "system": 5}]),
    _parameters(tag=[{"code": "z", "foo": "bar"}]),
    _parameters(security=[{"code": "z", "system": ["a"]}]),
    _parameters(profile=[""]),
])
def test_bad_input_is_400_and_changes_nothing(client, body):
    patient = created(client, new_patient())
    for operation in ("$meta-add", "$meta-delete"):
        response = client.post(f"/Patient/{patient['id']}/{operation}", json=body,
                               headers=FHIR_HEADERS)
        assert_outcome(response, 400)
    assert client.get(f"/Patient/{patient['id']}").json() == patient


def test_what_may_not_be_changed_is_refused(client, server, issuer):
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    subsetted = _parameters(tag=[{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                                  "code": "SUBSETTED"}])
    assert_outcome(client.post(f"{path}/$meta-add", json=subsetted, headers=FHIR_HEADERS), 422)
    [provenance] = client.get("/Provenance", params={"target": f"Patient/{patient['id']}"}
                              ).json()["entry"]
    assert_outcome(client.post(f"/Provenance/{provenance['resource']['id']}/$meta-add",
                               json=_parameters(tag=[{"system": TAGS, "code": "x"}]),
                               headers=FHIR_HEADERS), 404)  # not defined on Provenance
    assert client.get(f"{path}/$meta-add").status_code == 405
    assert_outcome(client.post("/Patient/unknown-patient/$meta-add", headers=FHIR_HEADERS,
                               json=_parameters(tag=[{"system": TAGS, "code": "x"}])), 404)
    with fhir_client(server.base, issuer.token("user/Patient.rs")) as reader:
        # The resource's Meta as a read shows it (R4: the meta of the resource).
        assert _returned(reader.get(f"{path}/$meta")) == patient["meta"]
        assert_outcome(reader.post(f"{path}/$meta-add", headers=FHIR_HEADERS,
                                   json=_parameters(tag=[{"system": TAGS, "code": "x"}])), 403)
    assert client.delete(path).status_code == 204
    assert_outcome(client.get(f"{path}/$meta"), 410)


def test_a_version_has_its_own_meta_read_and_changed_in_place(client, tag):
    """R4 names `[base]/[Resource]/[id]/_history/[vid]/$meta` (and -add, -delete): a label
    on what an old version held, which neither the current version nor search sees."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    client.put(path, json={**patient, "gender": "other"}, headers=FHIR_HEADERS)
    first = f"{path}/_history/1"
    assert _returned(client.get(f"{first}/$meta"))["versionId"] == "1"
    added = _returned(client.post(f"{first}/$meta-add", headers=FHIR_HEADERS,
                                  json=_parameters(security=[{"system": CONFIDENTIALITY,
                                                              "code": "R"}])))
    assert _codes(added, "security") == {"R"} and added["versionId"] == "1"
    assert _codes(client.get(first).json()["meta"], "security") == {"R"}
    assert "security" not in client.get(path).json()["meta"]  # the current version: not it
    removed = _returned(client.post(f"{first}/$meta-delete", headers=FHIR_HEADERS,
                                    json=_parameters(security=[{"system": CONFIDENTIALITY,
                                                                "code": "R"}])))
    assert "security" not in removed
    # The current version by its number is the resource itself.
    current = _returned(client.post(f"{path}/_history/2/$meta-add", headers=FHIR_HEADERS,
                                    json=_parameters(tag=[{"system": TAGS, "code": tag}])))
    assert _codes(client.get(path).json()["meta"], "tag") == _codes(current, "tag") == {tag}
    # Written with a leading zero, the same version: the label was answered and not kept.
    client.post(f"{path}/_history/02/$meta-add", headers=FHIR_HEADERS,
                json=_parameters(security=[{"system": CONFIDENTIALITY, "code": "R"}]))
    assert _codes(client.get(path).json()["meta"], "security") == {"R"}
    assert_outcome(client.get(f"{path}/_history/9/$meta"), 404)
    assert_outcome(client.post(f"{path}/_history/9/$meta-add", headers=FHIR_HEADERS,
                               json=_parameters(tag=[{"system": TAGS, "code": tag}])), 404)
    assert_outcome(client.get(f"{path}/_history/1/$everything"), 404)  # no version level


def test_head_answers_wherever_get_does(client):
    """http.html#head: a HEAD request is allowed anywhere a GET is; it gets GET's headers and
    no body. Where only POST invokes the operation, it is 405 as a GET is."""
    patient = created(client, new_patient())
    for path in ("/Patient/$meta", f"/Patient/{patient['id']}/$meta"):
        get, head = client.get(path), client.head(path)
        assert get.status_code == head.status_code == 200, head.text
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
    refused = client.head(f"/Patient/{patient['id']}/$meta-add")
    assert refused.status_code == 405
    assert "POST" in refused.headers["allow"]


def test_system_meta_answers_for_the_types_the_token_may_read(server, issuer, client, tag):
    """A token that may read Patient only gets Patient's tags from `/$meta`, not a 403 for
    not reading every type."""
    created(client, new_patient(meta={"tag": [{"system": TAGS, "code": tag}]}))
    created(client, {"resourceType": "Organization", "name": "Bệnh viện Huế",
                     "meta": {"tag": [{"system": TAGS, "code": f"{tag}-org"}]}})
    with fhir_client(server.base, issuer.token(scope="user/Patient.rs")) as http:
        found = _codes(_returned(http.get("/$meta")), "tag")
    assert tag in found and f"{tag}-org" not in found


def test_concurrent_changes_each_keep_their_tag(client, server):
    """Twenty $meta-add at once, each a tag of its own, then ten $meta-delete at once: each
    read the meta and wrote its own back, so most of them were lost while all answered 200."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"

    def change(operation: str, code: str) -> int:
        token = client.headers["Authorization"].removeprefix("Bearer ")
        with fhir_client(server.base, token) as own:
            body = _parameters(tag=[{"system": TAGS, "code": code}])
            return own.post(f"{path}/${operation}", json=body, headers=FHIR_HEADERS).status_code

    codes = [f"t{n}" for n in range(20)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        assert set(pool.map(lambda code: change("meta-add", code), codes)) == {200}
    assert _codes(client.get(path).json()["meta"], "tag") == set(codes)
    with ThreadPoolExecutor(max_workers=10) as pool:
        assert set(pool.map(lambda code: change("meta-delete", code), codes[:10])) == {200}
    assert _codes(client.get(path).json()["meta"], "tag") == set(codes[10:])


def test_a_known_profile_the_resource_does_not_meet_is_422(client):
    """Adding a profile the server holds claims conformance as a write's `meta.profile`
    does: one the resource breaks is refused, or every later update of it as it is (read,
    PUT) would be 422. A profile the server does not know is kept as claimed (see above)."""
    patient = created(client, new_patient())
    reading = {"resourceType": "Observation", "status": "final",
               "category": [{"coding": [{"code": "laboratory", "system":
                             "http://terminology.hl7.org/CodeSystem/observation-category"}]}],
               "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
               "subject": {"reference": f"Patient/{patient['id']}"},
               "effectiveDateTime": "2024-03-01T08:00:00Z",
               "valueQuantity": {"value": 6, "unit": "mmol/L"}}
    stored = created(client, reading)
    path = f"/Observation/{stored['id']}"
    vital_signs = _parameters(profile=["http://hl7.org/fhir/StructureDefinition/vitalsigns"])
    for where in (path, f"{path}/_history/1"):
        refused = client.post(f"{where}/$meta-add", headers=FHIR_HEADERS, json=vital_signs)
        assert_outcome(refused, 422)
        assert "vitalsigns" in refused.text
    assert client.get(path).json() == stored
    assert client.put(path, headers=FHIR_HEADERS, json=stored).status_code == 200
