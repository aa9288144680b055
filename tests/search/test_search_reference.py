"""Reference search, chains and reverse chains (http://hl7.org/fhir/R4/search.html#reference,
#chaining, #has).

Data set: two hospitals (Bạch Mai part of the Ministry), two practitioners (Trần in Hà Nội,
Lê in Huế), three patients (An with both practitioners as GPs; Bình; Chi who is only ever
referenced by identifier), a Group; encounters referring to An relatively and absolutely
(`{base}/Patient/{an}`), to Bình, to the Group, to Chi by identifier only, and one without
subject; documents on those encounters, authored by a practitioner, a hospital or a patient;
provenances targeting An and a document.
"""

import pytest
from api.helpers import CCCD, FHIR_HEADERS
from search.helpers import ACT_CODE, assert_bad_parameter, expected, fill, found, load, ref

GROUPS = "http://benhvien-bachmai.vn/fhir/sid/group"
FACILITY = "http://fhir.hl7.org.vn/core/sid/bhyt-facility"


def _patient(family: str, given: str, cccd: str, **extra) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": CCCD, "value": cccd}],
            "name": [{"family": family, "given": [given]}], **extra}


def _encounter(status: str, **extra) -> dict:
    return {"resourceType": "Encounter", "status": status,
            "class": {"system": ACT_CODE, "code": "AMB"}, **extra}


def _document(status: str, subject: str, encounter: str, *authors: str) -> dict:
    return {"resourceType": "DocumentReference", "status": status, "subject": ref(subject),
            "context": {"encounter": [ref(encounter)]}, "author": [ref(a) for a in authors],
            "content": [{"attachment": {"contentType": "text/plain", "data": "SGVsbG8="}}]}


BASE_DATA = {
    "ministry": {"resourceType": "Organization", "name": "Bộ Y tế"},
    "bach_mai": {"resourceType": "Organization", "name": "Bệnh viện Bạch Mai",
                 "alias": ["Bạch Mai"], "partOf": ref("ministry"),
                 "identifier": [{"system": FACILITY, "value": "01-001"}]},
    "cho_ray": {"resourceType": "Organization", "name": "Bệnh viện Chợ Rẫy",
                "alias": ["Chợ Rẫy"]},
    "tran": {"resourceType": "Practitioner", "name": [{"family": "Trần", "given": ["Văn"]}],
             "address": [{"city": "Hà Nội"}]},
    "le": {"resourceType": "Practitioner", "name": [{"family": "Lê", "given": ["Thị", "Hoa"]}],
           "address": [{"city": "Huế"}]},
    "an": _patient("Nguyễn", "An", "079085000111", managingOrganization=ref("bach_mai"),
                   generalPractitioner=[ref("tran"), ref("le")]),
    "binh": _patient("Phạm", "Bình", "079085000222", managingOrganization=ref("cho_ray"),
                     generalPractitioner=[ref("tran")]),
    "chi": _patient("Nguyễn", "Chi", "079085000333"),
    "group": {"resourceType": "Group", "type": "person", "actual": True,
              "name": "Nhóm tầm soát", "identifier": [{"system": GROUPS, "value": "G-01"}],
              "member": [{"entity": ref("binh")}]},
    "enc1": _encounter("finished", subject=ref("an"), serviceProvider=ref("bach_mai"),
                       participant=[{"individual": ref("tran")}]),
    "enc3": _encounter("finished", subject=ref("binh"), serviceProvider=ref("cho_ray")),
    "enc4": _encounter("planned", subject=ref("group"), serviceProvider=ref("bach_mai")),
    "enc5": _encounter("cancelled", subject={
        "type": "Patient", "identifier": {"system": CCCD, "value": "079085000333"},
        "display": "Nguyễn Chi"}),
    "enc6": _encounter("finished", partOf=ref("enc1")),
}


@pytest.fixture(scope="module")
def ids(client, server) -> dict[str, str]:
    ids = load(client, BASE_DATA)
    absolute = _encounter("in-progress",
                          subject={"reference": f"{server.base}/Patient/{ids['an']}"},
                          serviceProvider={"reference": f"Organization/{ids['cho_ray']}"})
    response = client.post("/Encounter", json=absolute, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    ids["enc2"] = response.json()["id"]
    local = {key: {"reference": f"{_type(key)}/{ids[key]}"} for key in ids}
    more = {
        "doc1": _document("current", "an", "enc1", "tran", "bach_mai"),
        "doc2": _document("superseded", "binh", "enc3", "binh"),
        "doc3": _document("current", "an", "enc2", "cho_ray"),
    }
    more["prov1"] = {"resourceType": "Provenance", "recorded": "2024-03-01T10:00:00Z",
                     "target": [ref("an"), ref("enc1")], "agent": [{"who": ref("tran")}]}
    more["prov2"] = {"resourceType": "Provenance", "recorded": "2024-03-01T10:00:00Z",
                     "target": [ref("doc2")], "agent": [{"who": ref("cho_ray")}]}
    resolved = _resolve(more, local)
    return ids | load(client, resolved) | {"base": server.base}


def _type(key: str) -> str:
    return {"ministry": "Organization", "bach_mai": "Organization", "cho_ray": "Organization",
            "tran": "Practitioner", "le": "Practitioner", "group": "Group"}.get(
        key, "Encounter" if key.startswith("enc") else "Patient")


def _resolve(resources: dict, local: dict) -> dict:
    """Replace references to already stored resources by their `Type/id`."""
    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"reference"}:
                key = next((k for k in local if node["reference"] == ref(k)["reference"]), None)
                return dict(local[key]) if key else node
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node
    return {key: walk(resource) for key, resource in resources.items()}


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"subject": "Patient/{an}"}, {"enc1", "enc2"}),
        ({"subject": "{base}/Patient/{an}"}, {"enc1", "enc2"}),
        ({"subject": "{an}"}, {"enc1", "enc2"}),
        ({"patient": "{an}"}, {"enc1", "enc2"}),
        ({"patient": "Patient/{an}"}, {"enc1", "enc2"}),
        ({"subject:Patient": "{an}"}, {"enc1", "enc2"}),
        ({"subject": "Patient/{an},Patient/{binh}"}, {"enc1", "enc2", "enc3"}),
        ({"subject": "Group/{group}"}, {"enc4"}),
        ({"subject:Group": "{group}"}, {"enc4"}),
        ({"subject:Patient": "{group}"}, set()),
        ({"patient": "Group/{group}"}, set()),
        ({"subject": "Patient/{chi}"}, set()),
        ({"subject": "Patient/does-not-exist"}, set()),
        ({"subject:identifier": f"{CCCD}|079085000333"}, {"enc5"}),
        ({"subject:identifier": "079085000333"}, {"enc5"}),
        ({"subject:identifier": f"{CCCD}|079085000111"}, set()),
        # A logical reference's `type` says what it refers to: `patient` is the subject
        # that is a Patient (`resolve() is Patient`), by reference or by identifier.
        ({"patient:identifier": f"{CCCD}|079085000333"}, {"enc5"}),
        ({"patient:identifier": f"{CCCD}|079085000111"}, set()),
        ({"subject:missing": "true"}, {"enc6"}),
        ({"subject:missing": "false"}, {"enc1", "enc2", "enc3", "enc4", "enc5"}),
        ({"service-provider": "Organization/{bach_mai}"}, {"enc1", "enc4"}),
        ({"service-provider": "{base}/Organization/{cho_ray}"}, {"enc2", "enc3"}),
        ({"part-of": "{enc1}"}, {"enc6"}),
        ({"participant": "Practitioner/{tran}"}, {"enc1"}),
        ({"practitioner": "{tran}"}, {"enc1"}),
        ({"practitioner": "{le}"}, set()),
    ],
)
def test_reference_forms(client, ids, params, keys):
    params = {name: fill(value, ids) for name, value in params.items()}
    assert found(client, "/Encounter", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("path", "params", "keys"),
    [
        ("/Encounter", {"subject:Patient.identifier": f"{CCCD}|079085000111"}, {"enc1", "enc2"}),
        ("/Encounter", {"patient.name": "nguyen"}, {"enc1", "enc2"}),
        ("/Encounter", {"patient.family": "pham"}, {"enc3"}),
        ("/Encounter", {"subject.name": "nguyen"}, {"enc1", "enc2"}),
        # Patient and Group both define `identifier`: the chain covers both.
        ("/Encounter", {"subject.identifier": f"{GROUPS}|G-01"}, {"enc4"}),
        ("/Encounter", {"subject.identifier": f"{CCCD}|079085000222"}, {"enc3"}),
        ("/Encounter", {"subject.identifier": "079085000111,G-01"}, {"enc1", "enc2", "enc4"}),
        ("/Encounter", {"service-provider.name": "bach mai"}, {"enc1", "enc4"}),
        ("/Encounter", {"service-provider.partof.name": "bo y te"}, {"enc1", "enc4"}),
        ("/Encounter", {"service-provider.identifier": f"{FACILITY}|01-001"}, {"enc1", "enc4"}),
        ("/Encounter", {"participant.address-city": "ha noi"}, {"enc1"}),
        ("/DocumentReference", {"encounter.patient.family": "nguyen"}, {"doc1", "doc3"}),
        ("/DocumentReference", {"encounter.service-provider.name": "cho ray"},
         {"doc2", "doc3"}),
        ("/DocumentReference", {"encounter.status": "in-progress"}, {"doc3"}),
        # Practitioner, Organization and Patient all define `name`.
        ("/DocumentReference", {"author.name": "bach mai"}, {"doc1"}),
        ("/DocumentReference", {"author.name": "tran"}, {"doc1"}),
        ("/DocumentReference", {"author.name": "pham"}, {"doc2"}),
        ("/DocumentReference", {"author:Practitioner.name": "tran"}, {"doc1"}),
        ("/DocumentReference", {"author:Organization.name": "cho ray"}, {"doc3"}),
        ("/DocumentReference", {"author:Patient.name": "bach mai"}, set()),
        ("/Patient", {"organization.name": "bach mai"}, {"an"}),
        ("/Patient", {"general-practitioner.name": "le"}, {"an"}),
        # Each chain is evaluated on its own: no single GP needs to satisfy both.
        ("/Patient", [("general-practitioner.name", "tran"),
                      ("general-practitioner.address-city", "hue")], {"an"}),
        ("/Patient", [("general-practitioner.family", "tran"),
                      ("general-practitioner.address-city", "ha noi")], {"an", "binh"}),
        # `recorded`: this module's Provenances, not those the server writes for each write.
        ("/Provenance", {"target:Patient.name": "nguyen", "recorded": "2024-03-01"}, {"prov1"}),
        ("/Provenance", {"agent.name": "cho ray"}, {"prov2"}),
    ],
)
def test_chains(client, ids, path, params, keys):
    assert found(client, path, params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("path", "params", "keys"),
    [
        ("/Patient", {"_has:Encounter:patient:status": "finished"}, {"an", "binh"}),
        ("/Patient", {"_has:Encounter:subject:status": "in-progress"}, {"an"}),
        ("/Patient", {"_has:Encounter:patient:status": "cancelled"}, set()),
        ("/Patient", {"_has:Encounter:patient:status": "in-progress,planned"}, {"an"}),
        ("/Patient", [("_has:Encounter:patient:status", "finished"),
                      ("_has:Encounter:patient:status", "in-progress")], {"an"}),
        ("/Patient", [("_has:Encounter:patient:status", "finished"), ("family", "pham")],
         {"binh"}),
        ("/Patient", {"_has:Encounter:patient:service-provider.name": "cho ray"},
         {"an", "binh"}),
        ("/Patient", {"_has:Encounter:patient:_has:DocumentReference:encounter:status":
                      "superseded"}, {"binh"}),
        ("/Patient", {"_has:DocumentReference:subject:author.name": "cho ray"}, {"an"}),
        ("/Patient", {"_has:Provenance:target:agent": "Practitioner/{tran}"}, {"an"}),
        ("/Patient", {"_has:Group:member:type": "person"}, {"binh"}),
        ("/Organization", {"_has:Encounter:service-provider:patient.family": "pham"},
         {"cho_ray"}),
        ("/Organization", {"_has:Patient:organization:_has:Encounter:patient:status":
                           "in-progress"}, {"bach_mai"}),
        ("/Practitioner", {"_has:Encounter:participant:status": "finished"}, {"tran"}),
        ("/Practitioner", {"_has:Patient:general-practitioner:family": "pham"}, {"tran"}),
        ("/Group", {"_has:Encounter:subject:status": "planned"}, {"group"}),
        ("/DocumentReference", {"_has:Provenance:target:agent": "Organization/{cho_ray}"},
         {"doc2"}),
    ],
)
def test_reverse_chains(client, ids, path, params, keys):
    items = params.items() if isinstance(params, dict) else params
    assert found(client, path, [(n, fill(v, ids)) for n, v in items]) == expected(ids, keys)


@pytest.mark.parametrize(
    ("name", "value", "expected_name"),
    [
        ("_has:Encounter:status", "finished", "_has"),
        ("_has:NotAType:patient:status", "finished", "_has"),
        ("_has:Encounter:no-such-param:status", "finished", "_has"),
        ("subject:Observation", "123", "subject"),
        # A chain through a type the reference cannot point to (Encounter.subject: Patient,
        # Group) is refused as the plain `:Observation` is, not answered with nothing.
        ("subject:Observation.code", "x", "subject"),
    ],
)
def test_malformed_chains_and_reverse_chains_are_a_400(client, ids, name, value, expected_name):
    response = client.get("/Patient" if name.startswith("_has") else "/Encounter",
                          params={name: value})
    assert_bad_parameter(response, expected_name)


# Canonical references: a Measure refers to its Library, a QuestionnaireResponse to its
# Questionnaire, by `url` (one with `|version`), not by `Type/id`.
LIBRARY_URL = "http://fhir.hl7.org.vn/core/Library/tiem-chung"
FORM_URL = "http://fhir.hl7.org.vn/core/Questionnaire/kham-sang-loc"
CANONICAL = {
    "library": {"resourceType": "Library", "url": LIBRARY_URL, "version": "1.0",
                "name": "TiemChung", "status": "active",
                "type": {"coding": [{"code": "logic-library"}]}},
    "other_library": {"resourceType": "Library", "url": f"{LIBRARY_URL}-khac", "name": "Khac",
                      "status": "active", "type": {"coding": [{"code": "logic-library"}]}},
    "measure": {"resourceType": "Measure", "status": "active", "library": [LIBRARY_URL]},
    "form": {"resourceType": "Questionnaire", "url": FORM_URL, "version": "2.0",
             "name": "KhamSangLoc", "status": "active"},
    "answers": {"resourceType": "QuestionnaireResponse", "status": "completed",
                "questionnaire": f"{FORM_URL}|2.0"},
    # An earlier version of the form, answers pinned to it, and answers naming no version.
    "old_form": {"resourceType": "Questionnaire", "url": FORM_URL, "version": "1.0",
                 "name": "SangLocCu", "status": "retired"},
    "old_answers": {"resourceType": "QuestionnaireResponse", "status": "completed",
                    "questionnaire": f"{FORM_URL}|1.0"},
    "any_answers": {"resourceType": "QuestionnaireResponse", "status": "completed",
                    "questionnaire": FORM_URL},
}
ALL_ANSWERS = {"answers", "old_answers", "any_answers"}


@pytest.fixture(scope="module")
def canonical_ids(client) -> dict[str, str]:
    return load(client, CANONICAL)


@pytest.mark.parametrize(
    ("path", "params", "keys"),
    [
        ("/Measure", {"_include": "Measure:depends-on"}, {"measure", "library"}),
        ("/Measure", {"_include": "Measure:depends-on:Library"}, {"measure", "library"}),
        ("/QuestionnaireResponse", {"_include": "QuestionnaireResponse:questionnaire"},
         ALL_ANSWERS | {"form", "old_form"}),
        # `url|version` names that version only; a bare url every version.
        ("/QuestionnaireResponse", {"_id": "{answers}",
                                    "_include": "QuestionnaireResponse:questionnaire"},
         {"answers", "form"}),
        ("/QuestionnaireResponse", {"_id": "{old_answers}",
                                    "_include": "QuestionnaireResponse:questionnaire"},
         {"old_answers", "old_form"}),
        ("/QuestionnaireResponse", {"_id": "{any_answers}",
                                    "_include": "QuestionnaireResponse:questionnaire"},
         {"any_answers", "form", "old_form"}),
        ("/Questionnaire", {"_id": "{old_form}",
                            "_revinclude": "QuestionnaireResponse:questionnaire"},
         {"old_form", "old_answers", "any_answers"}),
        ("/Questionnaire", {"_has:QuestionnaireResponse:questionnaire:_id": "{old_answers}"},
         {"old_form"}),
        ("/Questionnaire", {"_has:QuestionnaireResponse:questionnaire:_id": "{any_answers}"},
         {"form", "old_form"}),
        ("/Library", {"_id": "{library},{other_library}", "_revinclude": "Measure:depends-on"},
         {"library", "other_library", "measure"}),
        ("/Questionnaire", {"_id": "{form}",
                            "_revinclude": "QuestionnaireResponse:questionnaire"},
         {"form", "answers", "any_answers"}),
    ],
)
def test_include_and_revinclude_follow_canonical_references(client, canonical_ids, path,
                                                            params, keys):
    """`_include`, `_revinclude` and `_has` follow a canonical reference to the resource with
    that `url`, and that `version` when the reference names one."""
    params = {name: fill(value, canonical_ids) for name, value in params.items()}
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    got = {e["resource"]["id"] for e in response.json().get("entry", [])}
    assert got == expected(canonical_ids, keys)


@pytest.mark.parametrize(
    ("path", "params", "keys"),
    [
        ("/Measure", {"depends-on:Library.name": "TiemChung"}, {"measure"}),
        ("/Measure", {"depends-on:Library.name": "Khac"}, set()),
        ("/QuestionnaireResponse", {"questionnaire.name": "KhamSangLoc"},
         {"answers", "any_answers"}),
        ("/QuestionnaireResponse", {"questionnaire.version": "1.0"},
         {"old_answers", "any_answers"}),
        ("/QuestionnaireResponse", {"questionnaire:Questionnaire.status": "retired"},
         {"old_answers", "any_answers"}),
        ("/Library", {"_has:Measure:depends-on:status": "active"}, {"library"}),
        ("/Library", {"_has:Measure:depends-on:status": "draft"}, set()),
    ],
)
def test_chains_follow_canonical_references(client, canonical_ids, path, params, keys):
    assert found(client, path, params) == expected(canonical_ids, keys)


@pytest.mark.parametrize("base", ["", "{base}/", "https://other.example/fhir/"])
def test_a_bare_id_finds_a_reference_to_a_type_the_parameter_does_not_name(client, ids, base):
    """R4's Observation-clinical-gender example has an Encounter as `performer`, which names
    no Encounter among its targets: stored with a warning, it is found by `performer=<id>`
    (search.html#reference: the id of the resource referred to) as by `Encounter/<id>`,
    written relative or as this server's URL ("a relative reference resolving to the same
    value as a specified absolute URL, or vice versa, qualifies as a match"; the URL was
    found by `Encounter/<id>` alone), not as another server's."""
    here = base == "" or base == "{base}/"
    base = base.format(base=ids["base"])
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "performer": [{"reference": f"{base}Encounter/{ids['enc1']}"}]}
    created = client.post("/Observation", json=observation, headers=FHIR_HEADERS)
    assert created.status_code == 201, created.text
    observation_id = created.json()["id"]
    for value, wanted in ((ids["enc1"], here), (f"Encounter/{ids['enc1']}", here),
                          (f"Patient/{ids['enc1']}", False), (ids["enc2"], False)):
        found_ids = found(client, "/Observation", {"performer": value, "_id": observation_id})
        assert (found_ids == {observation_id}) is wanted, value
    # The form such a reference is indexed in is no search value.
    assert_bad_parameter(client.get("/Observation", params={
        "performer": f"*/{ids['base']}/{ids['enc1']}"}), "performer")


# Answers to versions of one form, for `:below` on a canonical reference (search.html#versions:
# `definition:below=...some-profile|1` "matches the first two" of |1.0, |1.1 and |2.0).
BELOW_FORM = "http://fhir.hl7.org.vn/core/Questionnaire/sang-loc-tram-cam"
BELOW = {version or "bare": {"resourceType": "QuestionnaireResponse", "status": "completed",
                             "questionnaire": BELOW_FORM + (f"|{version}" if version else "")}
         for version in ("1.0", "1.1", "1", "10.0", "2.0", "2.0-ballot", None)}
BELOW["sibling"] = {"resourceType": "QuestionnaireResponse", "status": "completed",
                    "questionnaire": f"{BELOW_FORM}-khac|1.0"}


@pytest.fixture(scope="module")
def below_ids(client) -> dict[str, str]:
    return load(client, BELOW)


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        (BELOW_FORM, set(BELOW) - {"sibling"}),
        (f"{BELOW_FORM}|1", {"1", "1.0", "1.1"}),
        (f"{BELOW_FORM}|1.1", {"1.1"}),
        (f"{BELOW_FORM}|2.0", {"2.0", "2.0-ballot"}),
        (f"{BELOW_FORM}|3", set()),
        (f"{BELOW_FORM}|1,{BELOW_FORM}|10", {"1", "1.0", "1.1", "10.0"}),
    ],
)
def test_below_a_canonical_reference_takes_later_parts_of_its_version(client, below_ids,
                                                                      value, keys):
    assert found(client, "/QuestionnaireResponse", {"questionnaire:below": value}) == (
        expected(below_ids, keys))


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        # A hierarchy of References (Location.partOf) is not searched: no canonical URL.
        ("/Procedure", "location:below", "42"),
        ("/Procedure", "location:below", "Location/42"),
        # Nor written as a URL: matched as written, it found nothing, `location=` the Procedure.
        ("/Procedure", "location:below", "https://emr.example/fhir/Location/42"),
        ("/QuestionnaireResponse", "questionnaire:below", f"{BELOW_FORM}|"),
    ],
)
def test_below_on_a_reference_needs_a_canonical_url(client, path, name, value):
    assert_bad_parameter(client.get(path, params={name: value}), name)


def _outcomes(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]


def test_a_chain_through_a_version_specific_reference_is_warned_of(client):
    """search.html#versions: a chain reads the current version of the resource referred to;
    "Where a search does not act on the referenced version, search results SHOULD contain a
    OperationOutcome with a warning that indicates the discrepancy"."""
    patient = client.post("/Patient", json={"resourceType": "Patient", "gender": "male"},
                          headers=FHIR_HEADERS).json()
    changed = client.put(f"/Patient/{patient['id']}", headers=FHIR_HEADERS, json={
        "resourceType": "Patient", "id": patient["id"], "gender": "female"})
    assert changed.status_code == 200, changed.text
    observations = {}
    for key, reference in (("versioned", f"Patient/{patient['id']}/_history/1"),
                           ("current", f"Patient/{patient['id']}")):
        created = client.post("/Observation", headers=FHIR_HEADERS, json={
            "resourceType": "Observation", "status": "final", "code": {"text": key},
            "subject": {"reference": reference}})
        assert created.status_code == 201, created.text
        observations[key] = created.json()["id"]
    both = ",".join(observations.values())
    bundle = client.get("/Observation", params={"_id": both, "subject:Patient.gender": "female"}
                        ).json()
    assert {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"} == (
        set(observations.values()))
    [outcome] = _outcomes(bundle)
    assert outcome["issue"][0]["severity"] == "warning"
    assert f"Observation/{observations['versioned']}" in outcome["issue"][0]["diagnostics"]
    assert observations["current"] not in outcome["issue"][0]["diagnostics"]
    # No chain, or no version named among the matches: nothing to warn of.
    for params in ({"_id": both, "subject": f"Patient/{patient['id']}"},
                   {"_id": observations["current"], "subject.gender": "female"}):
        assert _outcomes(client.get("/Observation", params=params).json()) == [], params
