"""FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html, http.html#patch): PATCH with a
Parameters resource (FHIR JSON or XML, alone or in a transaction) adds, inserts, deletes,
replaces and moves content at FHIRPath paths; the result is validated as any write; a path
that does not find what its operation needs is 422 and a malformed patch 400, changing
nothing; any operation of any shape is 200, 400 or 422, never 500.
"""

import pytest
from fhirpath_patch_helpers import operation, patched, send_patch
from helpers import FHIR_HEADERS, assert_outcome, created, new_patient, unique_cccd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MRN = "http://benhvien-bachmai.vn/fhir/sid/mrn"
XML_HEADERS = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"}


@pytest.fixture
def patient(client) -> dict:
    patient = new_patient(unique_cccd())
    patient["identifier"].append({"system": MRN, "value": "BM-1"})
    return created(client, patient)


def test_add_sets_an_element_or_appends_to_a_repeating_one(client, patient):
    patient = {k: v for k, v in patient.items()}
    result = patched(client, patient,
                      operation("add", "Patient", name="deceased",
                                 value={"valueBoolean": False}),
                      operation("add", "Patient", name="identifier",
                                 value={"valueIdentifier": {"system": MRN, "value": "BM-2"}}))
    assert result["deceasedBoolean"] is False
    assert result["identifier"][-1] == {"system": MRN, "value": "BM-2"}
    assert result["meta"]["versionId"] == "2"


def test_a_path_may_leave_out_the_resource_type(client, patient):
    """FHIRPath evaluates `name[0]` against the resource itself, as `Patient.name[0]`."""
    result = patched(client, patient,
                      operation("add", "name[0]", name="prefix", value={"valueString": "Bà"}),
                      operation("replace", "gender", value={"valueCode": "female"}))
    assert result["name"][0]["prefix"] == ["Bà"] and result["gender"] == "female"


def test_add_a_backbone_element_given_as_parts(client, patient):
    contact = [{"name": "name", "valueHumanName": {"family": "Nguyễn", "given": ["Bình"]}},
               {"name": "telecom", "valueContactPoint": {"system": "phone", "value": "0912"}},
               {"name": "gender", "valueCode": "female"}]
    result = patched(client, patient,
                      operation("add", "Patient", name="contact", value=contact))
    assert result["contact"] == [{"name": {"family": "Nguyễn", "given": ["Bình"]},
                                  "telecom": [{"system": "phone", "value": "0912"}],
                                  "gender": "female"}]


def test_insert_and_move_reorder_a_list(client, patient):
    first = {"system": MRN, "value": "BM-0"}
    result = patched(client, patient,
                      operation("insert", "Patient.identifier", index=0,
                                 value={"valueIdentifier": first}))
    assert result["identifier"][0] == first
    before = result["identifier"]
    result = patched(client, result, operation("move", "Patient.identifier", source=0,
                                                 destination=2))
    assert result["identifier"] == [before[1], before[2], before[0]]


def test_replace_a_primitive_an_indexed_item_and_a_where_match(client, patient):
    result = patched(
        client, patient,
        operation("replace", "Patient.birthDate", value={"valueDate": "1990-02-03"}),
        operation("replace", "Patient.name[0].family", value={"valueString": "Trần"}),
        operation("replace", f"Patient.identifier.where(system = '{MRN}')",
                   value={"valueIdentifier": {"system": MRN, "value": "BM-9"}}))
    assert result["birthDate"] == "1990-02-03"
    assert result["name"][0]["family"] == "Trần"
    assert result["identifier"][1] == {"system": MRN, "value": "BM-9"}


def test_replace_a_choice_element_by_a_value_of_another_type(client, patient):
    """`Patient.deceased` names deceasedBoolean; replaced by a valueDateTime it becomes
    deceasedDateTime (the old JSON name was kept, and the patch refused)."""
    with_flag = patched(client, patient, operation("add", "Patient", name="deceased",
                                                     value={"valueBoolean": False}))
    result = patched(client, with_flag, operation(
        "replace", "Patient.deceased", value={"valueDateTime": "2026-01-02"}))
    assert result["deceasedDateTime"] == "2026-01-02" and "deceasedBoolean" not in result


def test_a_path_steps_through_a_choice_element_to_its_type_in_the_resource(client):
    """`Observation.value.unit` is the unit of the valueQuantity there (it was 'unknown
    element CodeableConcept.unit': only the first of value[x]'s types was tried)."""
    observation = created(client, {
        "resourceType": "Observation", "status": "final", "code": {"text": "cân nặng"},
        "valueQuantity": {"value": 70, "unit": "kg"}})
    body = {"resourceType": "Parameters", "parameter": [
        operation("replace", "Observation.value.unit", value={"valueString": "kilogram"}),
        operation("delete", "Observation.value.value")]}
    response = client.patch(f"/Observation/{observation['id']}", json=body, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["valueQuantity"] == {"unit": "kilogram"}


def test_a_patch_that_would_walk_millions_of_elements_is_too_costly(client):
    """Each operation searches the resource: 1,000 `where()` replacements on a Patient of
    3,000 identifiers are refused before any is made, and the Patient stays as it was."""
    patient = created(client, {**new_patient(unique_cccd()), "identifier": [
        {"system": MRN, "value": f"BM-{k}"} for k in range(3000)]})
    operations = [operation("replace", f"Patient.identifier.where(value='BM-{k}').value",
                             value={"valueString": f"BM-{k}"}) for k in range(1000)]
    outcome = assert_outcome(send_patch(client, patient, *operations), 400, "too-costly")
    assert "1000 operations" in outcome["issue"][0]["diagnostics"], outcome
    assert client.get(f"/Patient/{patient['id']}").json()["meta"]["versionId"] == "1"
    few = patched(client, patient, *(
        operation("replace", f"Patient.identifier.where(value='BM-{k}').value",
                   value={"valueString": f"BM-{k}-x"}) for k in range(3)))
    assert few["meta"]["versionId"] == "2" and few["identifier"][2]["value"] == "BM-2-x"


def test_hundreds_of_operations_on_a_small_resource_are_applied(client, patient):
    adds = [operation("add", "Patient", name="identifier",
                       value={"valueIdentifier": {"system": MRN, "value": f"N-{k}"}})
            for k in range(500)]
    result = patched(client, patient, *adds)
    assert [i["value"] for i in result["identifier"][-500:]] == [f"N-{k}" for k in range(500)]


def test_a_path_nested_too_deep_is_400(client, patient):
    """200 parentheses around a path ran the parser out of stack: 500."""
    path = "(" * 200 + "Patient.name" + ")" * 200 + ".family"
    response = send_patch(client, patient, operation("replace", path, value={"valueString": "Q"}))
    assert_outcome(response, 400)
    assert "nested" in response.json()["issue"][0]["diagnostics"]


def test_a_primitive_keeps_its_extension_through_move_insert_and_add(client):
    """`_given[i]` belongs to `given[i]` (json.html#primitive): a move reordered the values
    and not their extensions (they went to other names), insert and add were refused."""
    def mark(text: str) -> dict:
        return {"extension": [{"url": "http://example.org/ghi-chu", "valueString": text}]}

    patient = created(client, new_patient(name=[{"family": "Lê", "given": ["A", "B", "C"],
                                                 "_given": [mark("a"), None, mark("c")]}]))
    result = patched(client, patient,
                      operation("move", "Patient.name[0].given", source=0, destination=2),
                      operation("insert", "Patient.name[0].given", index=0,
                                 value={"valueString": "X"}),
                      operation("add", "Patient.name[0]", name="given",
                                 value={"valueString": "Z"}))
    name = result["name"][0]
    assert name["given"] == ["X", "B", "C", "A", "Z"]
    assert name["_given"] == [None, None, mark("c"), mark("a"), None]


def test_delete_removes_the_element_and_an_emptied_list(client, patient):
    result = patched(client, patient,
                      operation("delete", "Patient.birthDate"),
                      operation("delete", f"Patient.identifier.where(system = '{MRN}')"),
                      operation("delete", "Patient.name[0].given[1]"),
                      operation("delete", "Patient.address"),
                      operation("delete", "Patient.photo"),  # nothing: no error
                      operation("delete", "Patient.gender[0]"))  # a single value
    assert "birthDate" not in result and "address" not in result and "gender" not in result
    assert [i["system"] for i in result["identifier"]] == [patient["identifier"][0]["system"]]
    assert result["name"][0]["given"] == patient["name"][0]["given"][:1]


def test_delete_drops_the_elements_it_leaves_empty(client):
    """Deleting a contact's only name part left `name: {}`, refused (ele-1): the official
    "Delete Nested Primitive #2" drops the emptied name."""
    contact = {"name": {"text": "Nguyễn Thị Mai"}, "relationship": [{"text": "vợ"}],
               "telecom": [{"system": "phone", "value": "0912345678"}]}
    patient = created(client, {**new_patient(unique_cccd()), "contact": [contact]})
    result = patched(client, patient, operation("delete", "Patient.contact.name.text"),
                      operation("delete", "Patient.contact.relationship.text"))
    assert result["contact"] == [{"telecom": contact["telecom"]}]


def test_a_patch_of_no_operations_changes_nothing(client, patient):
    """The official "No Difference": 200, no new version (it was 400)."""
    response = client.patch(f"/Patient/{patient['id']}", json={"resourceType": "Parameters"},
                            headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["versionId"] == patient["meta"]["versionId"]


def test_first_last_and_extension_url_name_elements(client):
    """`first()`, `last()` and FHIR's `extension(url)` were refused as FHIRPath this server
    does not evaluate."""
    ethnicity = "http://fhir.hl7.org.vn/core/StructureDefinition/vn-ext-ethnicity"
    note = "http://example.org/fhir/StructureDefinition/note"
    patient = created(client, {**new_patient(unique_cccd()), "extension": [
        {"url": note, "valueString": "a"}, {"url": ethnicity, "valueCoding": {
            "system": "http://fhir.hl7.org.vn/core/CodeSystem/vn-ethnicity", "code": "01"}}]})
    given = patient["name"][0]["given"]
    result = patched(client, patient,
                      operation("replace", "Patient.name.first().given.last()",
                                 value={"valueString": "Minh"}),
                      operation("replace", f"Patient.extension('{note}').value",
                                 value={"valueString": "b"}))
    assert result["name"][0]["given"] == [*given[:-1], "Minh"]
    assert result["extension"][0] == {"url": note, "valueString": "b"}
    result = patched(client, result, operation("delete", f"Patient.extension('{note}')"))
    assert [extension["url"] for extension in result["extension"]] == [ethnicity]


BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def _birth_time(moment: str) -> list[dict]:
    return [{"name": "url", "valueUri": BIRTH_TIME}, {"name": "value", "valueDateTime": moment}]


def test_a_primitives_extensions_and_id_are_added_replaced_moved_and_deleted(client):
    """fhirpath.html: a primitive has `id` and `extension` children, in JSON its `_name`
    object (json.html#primitive). `delete Patient.birthDate.extension` was 400 ("a step
    .extension from the primitive type date") and an add at Patient.birthDate 422."""
    patient = created(client, new_patient(unique_cccd()))
    at_ten = "1990-03-12T10:00:00+07:00"
    result = patched(client, patient,
                      operation("add", "Patient.birthDate", name="extension",
                                 value=_birth_time(at_ten)),
                      operation("add", "Patient.birthDate", name="id", value={"valueString": "b"}))
    assert result["birthDate"] == patient["birthDate"]
    assert result["_birthDate"] == {"extension": [{"url": BIRTH_TIME, "valueDateTime": at_ten}],
                                    "id": "b"}
    result = patched(client, result,
                      operation("replace", f"Patient.birthDate.extension('{BIRTH_TIME}').value",
                                 value={"valueDateTime": "1990-03-12T11:00:00+07:00"}),
                      operation("replace", "Patient.birthDate.id", value={"valueString": "c"}),
                      operation("insert", "Patient.birthDate.extension", index=0, value=[
                          {"name": "url", "valueUri": ABSENT},
                          {"name": "value", "valueCode": "unknown"}]),
                      operation("move", "Patient.birthDate.extension", source=0,
                                 destination=1))
    assert result["_birthDate"] == {"id": "c", "extension": [
        {"url": BIRTH_TIME, "valueDateTime": "1990-03-12T11:00:00+07:00"},
        {"url": ABSENT, "valueCode": "unknown"}]}
    result = patched(client, result,
                      operation("delete", f"Patient.birthDate.extension.where(url='{ABSENT}')"),
                      operation("delete", "Patient.birthDate.id"))
    assert result["_birthDate"] == {"extension": [
        {"url": BIRTH_TIME, "valueDateTime": "1990-03-12T11:00:00+07:00"}]}
    result = patched(client, result, operation("delete", "Patient.birthDate.extension"))
    assert "_birthDate" not in result  # left empty, it is no FHIR JSON
    assert result["birthDate"] == patient["birthDate"]


def test_an_item_of_a_repeating_primitive_has_extensions_of_its_own(client):
    """`given[1].extension` is in `_given[1]`, the array padded with null for the items
    without (json.html#primitive); once none is left, `_given` goes."""
    patient = created(client, new_patient(unique_cccd()))  # given: Văn, An
    mark = [{"name": "url", "valueUri": "http://example.org/ghi-chu"},
            {"name": "value", "valueString": "tên gọi"}]
    result = patched(client, patient, operation("add", "Patient.name[0].given[1]",
                                                  name="extension", value=mark))
    assert result["name"][0]["given"] == patient["name"][0]["given"]
    assert result["name"][0]["_given"] == [None, {"extension": [
        {"url": "http://example.org/ghi-chu", "valueString": "tên gọi"}]}]
    result = patched(client, result, operation("delete", "Patient.name.given[1].extension"))
    assert result["name"] == patient["name"]


def test_xml_and_transaction_entries_take_it_too(client, patient):
    xml = ('<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>'
           '<part><name value="type"/><valueCode value="replace"/></part>'
           '<part><name value="path"/><valueString value="Patient.gender"/></part>'
           '<part><name value="value"/><valueCode value="female"/></part>'
           '</parameter></Parameters>')
    response = client.patch(f"/Patient/{patient['id']}", content=xml.encode(),
                            headers=XML_HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["gender"] == "female"
    body = {"resourceType": "Parameters", "parameter": [
        operation("replace", "Patient.gender", value={"valueCode": "other"})]}
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": body, "request": {"method": "PATCH", "url": f"Patient/{patient['id']}"}}]}
    response = client.post("", json=transaction, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    assert client.get(f"/Patient/{patient['id']}").json()["gender"] == "other"


@pytest.mark.parametrize("resource", [
    new_patient(), {"resourceType": "Binary", "contentType": "application/merge-patch+json",
                    "data": "e30="}])
def test_a_patch_entry_of_neither_patch_kind_is_400_naming_them(client, patient, resource):
    """A PATCH entry carries a FHIRPath Patch (Parameters) or a JSON Patch (a Binary of
    application/json-patch+json), http.html#patch: a Patient, or a Binary of another patch
    format, is a bad entry (there is no Content-Type to refuse: not a 415)."""
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [{
        "resource": resource, "request": {"method": "PATCH", "url": f"Patient/{patient['id']}"}}]}
    response = client.post("", json=batch, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    [entry] = response.json()["entry"]
    assert entry["response"]["status"].startswith("400")
    said = entry["response"]["outcome"]["issue"][0]["diagnostics"]
    assert "Parameters" in said and "application/json-patch+json" in said
    assert client.get(f"/Patient/{patient['id']}").json() == patient


@pytest.mark.parametrize(("operation", "status"), [
    (operation("replace", "Patient.photo", value={"valueString": "x"}), 422),
    (operation("replace", "Patient.identifier", value={"valueString": "x"}), 422),
    (operation("add", "Patient", name="gender", value={"valueCode": "male"}), 422),
    (operation("insert", "Patient.identifier", index=9, value={"valueString": "x"}), 422),
    (operation("move", "Patient.identifier", source=0, destination=5), 422),
    (operation("add", "Patient", name="colour", value={"valueString": "x"}), 400),
    (operation("replace", "Patient.gender", value={"valueCode": "unknown-gender"}), 400),
    (operation("replace", "Patient.name.descendants()", value={"valueString": "x"}), 400),
    (operation("frobnicate", "Patient.gender", value={"valueCode": "male"}), 400),
    (operation("delete", "Patient.gender", value={"valueCode": "male"}), 400),
    ({"name": "not-an-operation"}, 400),
])
def test_what_cannot_be_applied_is_refused_and_changes_nothing(client, patient, operation,
                                                              status):
    assert_outcome(send_patch(client, patient, operation), status)
    assert client.get(f"/Patient/{patient['id']}").json() == patient


PATHS = st.sampled_from(["Patient", "Patient.name", "Patient.name[0]", "Patient.name.given",
                         "Patient.birthDate.extension", "Patient.name.given[1].id",
                         "Patient.identifier.where(system = 'x')", "Patient.gender",
                         "Patient.birthDate", "Patient.contact", "Patient.x", "Patient..name",
                         "Patient.gender[0]", "Patient.name[0].given[5]", "Patient.name[3]",
                         "contact", "name[0]", "gender",
                         "Patient.name[", "(", "'", ""])
VALUES = st.one_of(
    st.fixed_dictionaries({"valueString": st.text(max_size=5)}),
    st.fixed_dictionaries({"valueInteger": st.integers()}),
    st.fixed_dictionaries({"valueCode": st.sampled_from(["male", "x"])}),
    st.fixed_dictionaries({"part": st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["family", "given", "name", "x"]),
         "valueString": st.text(max_size=3)}), max_size=3)}),
    st.just({}),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["add", "insert", "delete", "replace", "move"]), path=PATHS,
       value=VALUES, number=st.integers(-1, 3),
       name=st.sampled_from(["given", "gender", "x", "extension", "id"]))
def test_any_operation_is_applied_or_refused_never_500(client, patient, kind, path, value,
                                                        number, name):
    given_parts = {"value": {"name": "value", **value},
                   "name": {"name": "name", "valueString": name},
                   **{n: {"name": n, "valueInteger": number}
                      for n in ("index", "source", "destination")}}
    needed = {"add": ("name", "value"), "insert": ("index", "value"), "delete": (),
              "replace": ("value",), "move": ("source", "destination")}[kind]
    parts = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path},
             *(given_parts[n] for n in needed)]
    before = client.get(f"/Patient/{patient['id']}").json()  # earlier examples patched it
    response = send_patch(client, patient, {"name": "operation", "part": parts})
    assert response.status_code in (200, 400, 422), response.text
    if response.status_code != 200:
        assert client.get(f"/Patient/{patient['id']}").json() == before


def test_deleting_an_extensions_value_drops_the_extension(client):
    """An extension left with its url alone breaks ext-1: it was refused (400) where the
    deletion meant the extension to go (probe BH)."""
    note = "http://example.org/fhir/StructureDefinition/ghi-chu"
    patient = created(client, {**new_patient(unique_cccd()), "extension": [
        {"url": note, "valueString": "tạm"}]})
    result = patched(client, patient, operation("delete", f"Patient.extension('{note}').value"))
    assert "extension" not in result


@pytest.mark.parametrize(("operation", "said"), [
    (operation("add", "Patient", name="active"), "an add operation has the parts name, path, "
                                                 "type, value: it lacks value"),
    (operation("delete", "Patient.gender", value={"valueCode": "male"}),
     "a delete operation has the parts path, type: it may not have value"),
])
def test_an_operation_of_the_wrong_parts_says_which(client, patient, operation, said):
    """It listed the parts an operation has ("a add operation has ..."), not which was
    missing or too many."""
    outcome = assert_outcome(send_patch(client, patient, operation), 400)
    assert said in outcome["issue"][0]["diagnostics"], outcome


@pytest.mark.parametrize(("parts", "said"), [
    ([{"name": "path", "valueString": "Patient.active"}], "in a part named type"),
    ([{"name": "type", "valueString": "delete"}, {"name": "path", "valueString": "Patient.active"}],
     "as a valueCode"),
    ([{"name": "type", "valueCode": "remove"}, {"name": "path", "valueString": "Patient.active"}],
     "not 'remove'"),
])
def test_an_operation_without_a_type_code_says_where_it_goes(client, patient, parts, said):
    """It said "type must be one of add, ..., not None"."""
    body = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": parts}]}
    response = client.patch(f"/Patient/{patient['id']}", json=body, headers=FHIR_HEADERS)
    diagnostics = assert_outcome(response, 400)["issue"][0]["diagnostics"]
    assert diagnostics.endswith(said) and "None" not in diagnostics, diagnostics
