"""SMART scopes over HTTP: each interaction needs its permission letter on its resource type
(v2 `cruds`, v1 `read`/`write`/`*`; `patient/` grants nothing without the token's patient:
test_patient_scopes.py), 403 OperationOutcome
otherwise, and a 403 changes nothing. Includes never leak a type the token may not read;
chains, `_has` and conditional criteria never search a type the token may not search;
system history shows only searchable types; transactions are all-or-nothing, batches
per entry."""

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from api.helpers import CCCD, FHIR_HEADERS, JSON_PATCH, all_pages, type_snapshot

from security.helpers import (
    assert_forbidden,
    bundle,
    delete_entry,
    encounter_resource,
    fhir_client,
    get_entry,
    patient_resource,
    personal_id,
    post_entry,
)

# scope → the permission letters it grants on Patient
SCOPES = {
    "user/Patient.cruds": "cruds",
    "user/Patient.rs": "rs",
    "user/Encounter.cruds": "",
    "system/*.cruds": "cruds",
    "user/*.r": "r",
    "user/Patient.read": "rs",
    "user/Patient.write": "cud",
    "user/Patient.u": "u",
    "user/*.*": "cruds",
    "patient/Patient.rs": "",
}


@dataclass
class Interaction:
    letters: str  # the permissions it needs on Patient
    success: int  # its status when allowed
    act: Callable[[httpx.Client, str], httpx.Response]  # (scoped client, target id)
    fresh_target: bool = False  # acts on a Patient of its own (delete)


def _marked(**extra) -> dict:
    return patient_resource(personal_id(), **extra)


def _update(http: httpx.Client, target: str) -> httpx.Response:
    resource = _marked(id=target, active=bool(uuid.uuid4().int % 2))
    return http.put(f"/Patient/{target}", json=resource, headers=FHIR_HEADERS)


def _patch(http: httpx.Client, target: str) -> httpx.Response:
    operations = [{"op": "replace", "path": "/birthDate", "value": "1991-01-0" + "123456789"[
        uuid.uuid4().int % 9]}]
    return http.patch(f"/Patient/{target}", json=operations,
                      headers={"Content-Type": JSON_PATCH})


_META_TAG = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {
    "tag": [{"system": "urn:test:scopes", "code": "seen"}]}}]}


def _patch_entry(target: str) -> dict:
    operations = [{"op": "test", "path": "/id", "value": target}]
    return {"request": {"method": "PATCH", "url": f"Patient/{target}"},
            "resource": {"resourceType": "Binary", "contentType": JSON_PATCH,
                         "data": base64.b64encode(json.dumps(operations).encode()).decode()}}


def _conditional_create(http: httpx.Client, target: str) -> httpx.Response:
    value = personal_id()
    return http.post("/Patient", json=patient_resource(value),
                     headers={**FHIR_HEADERS, "If-None-Exist": f"identifier={CCCD}|{value}"})


INTERACTIONS = {
    "create": Interaction("c", 201, lambda http, target: http.post(
        "/Patient", json=_marked(), headers=FHIR_HEADERS)),
    "read": Interaction("r", 200, lambda http, target: http.get(f"/Patient/{target}")),
    "vread": Interaction("r", 200, lambda http, target: http.get(
        f"/Patient/{target}/_history/1")),
    "update": Interaction("u", 200, _update),
    # A patch (and `$meta-add`) answers with the stored resource as changed: an update-only
    # token would read any record by an empty patch, so read is needed too.
    "patch": Interaction("ru", 200, _patch),
    "$meta-add": Interaction("ru", 200, lambda http, target: http.post(
        f"/Patient/{target}/$meta-add", json=_META_TAG, headers=FHIR_HEADERS)),
    "batch patch entry": Interaction("ru", 200, lambda http, target: http.post(
        "", json=bundle("batch", _patch_entry(target)), headers=FHIR_HEADERS)),
    "delete": Interaction("d", 204, lambda http, target: http.delete(f"/Patient/{target}"),
                          fresh_target=True),
    "search": Interaction("s", 200, lambda http, target: http.get(
        "/Patient", params={"_id": target})),
    "history-instance": Interaction("r", 200, lambda http, target: http.get(
        f"/Patient/{target}/_history")),
    "history-type": Interaction("s", 200, lambda http, target: http.get("/Patient/_history")),
    # If-None-Exist is a search run for the caller: it needs `s` as well as `c` (else a
    # create-only token could look people up by identifier).
    "conditional create": Interaction("cs", 201, _conditional_create),
    "transaction entry": Interaction("c", 200, lambda http, target: http.post(
        "", json=bundle("transaction", post_entry(_marked())), headers=FHIR_HEADERS)),
    "batch entry": Interaction("c", 201, lambda http, target: http.post(
        "", json=bundle("batch", post_entry(_marked())), headers=FHIR_HEADERS)),
}


def _created(admin: httpx.Client, resource: dict) -> dict:
    response = admin.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def target(client) -> str:
    return _created(client, _marked())["id"]


def scoped(server, issuer, scope: str) -> httpx.Client:
    return fhir_client(server.base, issuer.token(scope=scope))


@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("name", list(INTERACTIONS))
def test_scope_matrix(server, client, issuer, target, name, scope):
    interaction = INTERACTIONS[name]
    allowed = set(interaction.letters) <= set(SCOPES[scope])
    subject = _created(client, _marked())["id"] if interaction.fresh_target else target
    before = type_snapshot(client, "Patient")
    with scoped(server, issuer, scope) as http:
        response = interaction.act(http, subject)
    if name in ("batch entry", "batch patch entry"):
        assert response.status_code == 200, response.text
        (entry,) = response.json()["entry"]
        status = entry["response"]["status"]
        if allowed:
            assert status.startswith("201" if name == "batch entry" else "200"), entry
        else:
            assert status.startswith("403"), entry
            assert entry["response"]["outcome"]["issue"][0]["code"] == "forbidden", entry
            assert type_snapshot(client, "Patient") == before
        return
    if allowed:
        assert response.status_code == interaction.success, (response.status_code, response.text)
    else:
        assert_forbidden(response)
        assert type_snapshot(client, "Patient") == before


# ------------------------------------------------------------------ includes

@pytest.fixture(scope="module")
def visit(client) -> dict:
    """A Patient and one of their Encounters."""
    patient = _created(client, _marked())
    encounter = _created(client, encounter_resource(f"Patient/{patient['id']}"))
    return {"patient": patient["id"], "encounter": encounter["id"]}


def _types(bundle_json: dict) -> list[str]:
    """The types of the page's resources (not its outcome entries)."""
    return [entry["resource"]["resourceType"] for entry in bundle_json.get("entry", [])
            if entry["search"]["mode"] != "outcome"]


def _says_some_were_withheld(bundle_json: dict) -> bool:
    """Whether the page says that included resources the token may not read were left out
    (an outcome entry, `suppressed`), without saying which."""
    return any(entry["search"]["mode"] == "outcome"
               and entry["resource"]["issue"][0]["code"] == "suppressed"
               for entry in bundle_json.get("entry", []))


@pytest.mark.parametrize("include", ["Encounter:subject", "Encounter:subject:Patient",
                                     "Encounter:*"])
def test_include_leaves_out_types_the_token_may_not_read(server, issuer, visit, include):
    params = {"_id": visit["encounter"], "_include": include}
    with scoped(server, issuer, "user/Encounter.rs user/Patient.rs") as http:
        both = http.get("/Encounter", params=params)
    assert both.status_code == 200, both.text
    assert sorted(_types(both.json())) == ["Encounter", "Patient"]  # the include works
    with scoped(server, issuer, "user/Encounter.rs") as http:
        response = http.get("/Encounter", params=params)
    assert response.status_code == 200, response.text
    assert _types(response.json()) == ["Encounter"], response.json()
    assert _says_some_were_withheld(response.json())
    assert not _says_some_were_withheld(both.json())


def test_a_type_the_server_has_not_is_404_whatever_the_scopes(server, issuer):
    """R4 http.html: 404 "resource type not supported"; with scopes not covering it, it was
    403 insufficient_scope (and 404 with `user/*`)."""
    for scope in ("user/Observation.rs", "user/*.rs"):
        with scoped(server, issuer, scope) as http:
            for path in ("/Foo/1", "/Foo"):
                assert http.get(path).status_code == 404, (scope, path)


def test_include_iterate_and_compartment_search_leak_nothing(server, issuer, visit):
    with scoped(server, issuer, "user/Encounter.rs") as http:
        iterate = http.get("/Encounter", params={"_id": visit["encounter"],
                                                 "_include:iterate": "Encounter:subject"})
        compartment = http.get(f"/Patient/{visit['patient']}/Encounter",
                               params={"_include": "Encounter:subject"})
    for response in (iterate, compartment):
        assert response.status_code == 200, response.text
        assert _types(response.json()) == ["Encounter"], response.json()
        assert _says_some_were_withheld(response.json())


def test_revinclude_leaves_out_types_the_token_may_not_read(server, issuer, visit):
    params = {"_id": visit["patient"], "_revinclude": "Encounter:subject"}
    with scoped(server, issuer, "user/Patient.rs user/Encounter.rs") as http:
        both = http.get("/Patient", params=params)
    assert sorted(_types(both.json())) == ["Encounter", "Patient"], both.text
    with scoped(server, issuer, "user/Patient.rs") as http:
        response = http.get("/Patient", params=params)
    assert response.status_code == 200, response.text
    assert _types(response.json()) == ["Patient"], response.json()
    assert _says_some_were_withheld(response.json())
    assert visit["encounter"] not in response.text


def test_include_in_a_batch_search_entry_leaks_nothing(server, issuer, visit):
    query = f"Encounter?_id={visit['encounter']}&_include=Encounter:subject"
    with scoped(server, issuer, "user/Encounter.rs") as http:
        response = http.post("", json=bundle("batch", get_entry(query)), headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    (entry,) = response.json()["entry"]
    assert entry["response"]["status"].startswith("200"), entry
    assert _types(entry["resource"]) == ["Encounter"], entry


# ------------------------------------------------------------------ chains and _has

@pytest.mark.parametrize("path, params", [
    ("/Encounter", {"subject:Patient.name": "Trần"}),
    ("/Encounter", {"subject.name": "Trần"}),
    ("/Encounter", {"patient.identifier": f"{CCCD}|001085012345"}),
    ("/Patient", {"_has:Encounter:subject:status": "finished"}),
])
def test_chain_or_has_into_a_type_not_allowed_is_403(server, issuer, path, params):
    own = path.strip("/")
    # (an untyped chain may reach Group too: Encounter.patient targets Patient and Group)
    with scoped(server, issuer, "user/Patient.rs user/Encounter.rs user/Group.rs") as http:
        allowed = http.get(path, params=params)
    assert allowed.status_code == 200, allowed.text
    with scoped(server, issuer, f"user/{own}.rs") as http:
        assert_forbidden(http.get(path, params=params))
        assert_forbidden(http.post(f"{path}/_search", data=params))
        query = "&".join(f"{k}={v}" for k, v in params.items())
        batch = http.post("", json=bundle("batch", get_entry(f"{own}?{query}")),
                          headers=FHIR_HEADERS)
    assert batch.status_code == 200, batch.text
    (entry,) = batch.json()["entry"]
    assert entry["response"]["status"].startswith("403"), entry


def test_conditional_create_criteria_may_not_chain_into_a_type_not_allowed(
        server, client, issuer, visit):
    """If-None-Exist is a search: chaining into Patient with Encounter scopes only would tell
    (200 with the match, or 201) whether a person with that CCCD exists."""
    patient = client.get(f"/Patient/{visit['patient']}").json()
    value = patient["identifier"][0]["value"]
    before = type_snapshot(client, "Encounter")
    with scoped(server, issuer, "user/Encounter.cruds") as http:
        response = http.post(
            "/Encounter", json=encounter_resource(f"Patient/{visit['patient']}"),
            headers={**FHIR_HEADERS, "If-None-Exist": f"subject:Patient.identifier={CCCD}|{value}"})
    assert_forbidden(response)
    assert type_snapshot(client, "Encounter") == before


def test_conditional_delete_criteria_may_not_chain_into_a_type_not_allowed(
        server, client, issuer):
    patient = _created(client, _marked())
    value = patient["identifier"][0]["value"]
    encounter = _created(client, encounter_resource(f"Patient/{patient['id']}"))
    with scoped(server, issuer, "user/Encounter.cruds") as http:
        response = http.delete("/Encounter",
                               params={"subject:Patient.identifier": f"{CCCD}|{value}"})
    assert_forbidden(response)
    assert client.get(f"/Encounter/{encounter['id']}").status_code == 200


def test_conditional_delete_criteria_may_not_use_has_on_a_type_not_allowed(
        server, client, issuer):
    patient = _created(client, _marked())
    marker = f"ma-{uuid.uuid4().hex[:10]}"
    _created(client, encounter_resource(f"Patient/{patient['id']}",
                                        identifier=[{"system": "urn:kham", "value": marker}]))
    with scoped(server, issuer, "user/Patient.cruds") as http:
        response = http.delete("/Patient", params={
            "_id": patient["id"], "_has:Encounter:subject:identifier": f"urn:kham|{marker}"})
    assert_forbidden(response)
    assert client.get(f"/Patient/{patient['id']}").status_code == 200


def test_conditional_reference_into_a_type_not_allowed_is_403(server, client, issuer, visit):
    """A transaction resolves `Patient?identifier=...` references by searching Patient:
    with Encounter scopes only, that search (and the Patient id it reveals) is not allowed."""
    value = client.get(f"/Patient/{visit['patient']}").json()["identifier"][0]["value"]
    marker = f"ma-{uuid.uuid4().hex[:10]}"
    encounter = encounter_resource(f"Patient?identifier={CCCD}|{value}",
                                   identifier=[{"system": "urn:kham", "value": marker}])
    with scoped(server, issuer, "user/Encounter.cruds") as http:
        response = http.post("", json=bundle("transaction", post_entry(encounter)),
                             headers=FHIR_HEADERS)
    assert_forbidden(response)
    stored = client.get("/Encounter", params={"identifier": f"urn:kham|{marker}"}).json()
    assert stored.get("entry", []) == []


def test_conditional_create_does_not_hand_an_existing_resource_to_a_create_only_token(
        server, client, issuer):
    """With `c` but neither `r` nor `s`, a conditional create that matches must not return
    (or name) the resource it matched: that would be a read by identifier."""
    secret_name = f"Bí-mật-{uuid.uuid4().hex[:8]}"
    existing = _created(client, patient_resource(
        personal_id(), name=[{"family": secret_name, "given": ["Thu"]}]))
    value = existing["identifier"][0]["value"]
    with scoped(server, issuer, "user/Patient.write") as http:
        response = http.post("/Patient", json=patient_resource(value),
                             headers={**FHIR_HEADERS,
                                      "If-None-Exist": f"identifier={CCCD}|{value}"})
    shown = response.text + " ".join(response.headers.values())
    assert secret_name not in shown, (response.status_code, response.text)
    assert existing["id"] not in shown, (response.status_code, dict(response.headers))


@pytest.mark.parametrize("scope", ["user/Patient.u", "user/Patient.write"])
def test_an_update_only_token_is_not_answered_with_the_stored_tags(server, client, issuer,
                                                                    scope):
    """An update keeps the stored tags and security labels; a token that may not read the
    record is answered without the resource (as `return=minimal`), directly and in a
    batch, or it would read what it did not send."""
    stored = _created(client, patient_resource(personal_id()) | {"meta": {
        "tag": [{"system": "urn:kham", "code": "HIV-CLINIC"}],
        "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                      "code": "R"}]}})
    sent = patient_resource(stored["identifier"][0]["value"]) | {"id": stored["id"],
                                                                 "gender": "female"}
    with scoped(server, issuer, scope) as http:
        response = http.put(f"/Patient/{stored['id']}", json=sent, headers=FHIR_HEADERS)
        assert response.status_code == 200, response.text
        assert response.content == b"" and response.headers["ETag"].startswith('W/"')
        batch = http.post("", headers=FHIR_HEADERS, json={
            "resourceType": "Bundle", "type": "batch", "entry": [{
                "resource": sent | {"gender": "male"},
                "request": {"method": "PUT", "url": f"Patient/{stored['id']}"}}]})
        assert batch.status_code == 200, batch.text
        [entry] = batch.json()["entry"]
        assert entry["response"]["status"].startswith("200") and "resource" not in entry
    assert "HIV-CLINIC" in str(client.get(f"/Patient/{stored['id']}").json()["meta"])


# ------------------------------------------------------------------ system history

def _history_types(server, issuer, scope: str) -> list[str]:
    with scoped(server, issuer, scope) as http:
        entries, _ = all_pages(http, "/_history", {"_count": "1000"})
    return sorted({entry["request"]["url"].split("/")[0] for entry in entries})


@pytest.mark.parametrize("scope, expected", [
    ("user/Patient.rs", ["Patient"]),
    ("user/Encounter.rs", ["Encounter"]),
    ("user/Patient.s user/Encounter.s", ["Encounter", "Patient"]),
])
def test_system_history_shows_only_searchable_types(server, issuer, visit, scope, expected):
    assert _history_types(server, issuer, scope) == expected


@pytest.mark.parametrize("scope", ["user/*.r", "user/AuditEvent.rs", "patient/*.rs"])
def test_system_history_without_any_searchable_type_is_empty(server, issuer, visit, scope):
    with scoped(server, issuer, scope) as http:
        response = http.get("/_history")
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.json()["type"] == "history"
    assert response.json().get("entry", []) == []


def test_system_history_never_shows_audit_events(server, issuer, visit):
    assert "AuditEvent" not in _history_types(server, issuer, "user/*.cruds")


# ------------------------------------------------------------------ bundles

def _patients_with(client: httpx.Client, value: str) -> list[dict]:
    response = client.get("/Patient", params={"identifier": f"{CCCD}|{value}"})
    assert response.status_code == 200, response.text
    return response.json().get("entry", [])


def test_transaction_with_one_entry_not_allowed_is_403_and_stores_nothing(
        server, client, issuer, target):
    value = personal_id()
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    body = bundle("transaction",
                  post_entry(patient_resource(value), full_url=patient_url),
                  post_entry(encounter_resource(patient_url)))
    before = type_snapshot(client, "Patient"), type_snapshot(client, "Encounter")
    with scoped(server, issuer, "user/Patient.cruds") as http:
        response = http.post("", json=body, headers=FHIR_HEADERS)
    outcome = assert_forbidden(response)
    assert "Bundle.entry[1]" in str(outcome), outcome
    assert _patients_with(client, value) == []
    assert (type_snapshot(client, "Patient"), type_snapshot(client, "Encounter")) == before


def test_transaction_with_a_forbidden_delete_keeps_everything(server, client, issuer):
    victim = _created(client, encounter_resource(f"Patient/{_created(client, _marked())['id']}"))
    value = personal_id()
    body = bundle("transaction", post_entry(patient_resource(value)),
                  delete_entry(f"Encounter/{victim['id']}"))
    with scoped(server, issuer, "user/Patient.cruds user/Encounter.rs") as http:
        assert_forbidden(http.post("", json=body, headers=FHIR_HEADERS))
    assert client.get(f"/Encounter/{victim['id']}").status_code == 200
    assert _patients_with(client, value) == []


def test_batch_refuses_only_the_entry_not_allowed(server, client, issuer, target):
    value = personal_id()
    body = bundle("batch",
                  post_entry(patient_resource(value)),
                  post_entry(encounter_resource(f"Patient/{target}")),
                  get_entry(f"Patient/{target}"),
                  get_entry(f"Encounter?subject=Patient/{target}"))
    with scoped(server, issuer, "user/Patient.cruds") as http:
        response = http.post("", json=body, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    statuses = [entry["response"]["status"].split()[0] for entry in response.json()["entry"]]
    assert statuses == ["201", "403", "200", "403"], response.json()
    refused = response.json()["entry"][1]["response"]["outcome"]
    assert refused["resourceType"] == "OperationOutcome"
    assert refused["issue"][0]["code"] == "forbidden", refused
    # As the write alone is answered: the token's scopes and the interaction they lack.
    assert "scopes (user/Patient.cruds) do not allow create (POST)" in str(refused), refused
    assert len(_patients_with(client, value)) == 1
