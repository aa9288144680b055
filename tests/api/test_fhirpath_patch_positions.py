"""Which element a FHIRPath Patch path names (http://hl7.org/fhir/R4/fhirpatch.html): an
item of a repeating primitive with an extension and no value is an element of the collection
(fhirpath.html, json.html#primitive), and a path through a repeating parent indexes the
flattened collection, as FHIRPath evaluates it (probe CQ findings 3 and 4)."""

from fhirpath_patch_helpers import operation, patched, send_patch
from helpers import assert_outcome, created, new_patient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

QUALIFIER = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier"


def _mark(code: str) -> dict:
    return {"extension": [{"url": QUALIFIER, "valueCode": code}]}


# One item of `given`: (value or None, its `_given` entry or None), never both None.
ITEMS = st.one_of(
    st.tuples(st.sampled_from(["An", "Bình", "Chi"]), st.sampled_from([None, "BR", "CL"])),
    st.tuples(st.none(), st.sampled_from(["BR", "CL"])),
).map(lambda item: (item[0], _mark(item[1]) if item[1] else None))


def _name(items: list[tuple]) -> dict:
    name: dict = {"family": "Lê"}
    if items:
        name["given"] = [value for value, _ in items]
    if any(shadow for _, shadow in items):
        name["_given"] = [shadow for _, shadow in items]
    return name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(items=st.lists(ITEMS, min_size=1, max_size=4), kind=st.sampled_from(
    ["delete", "replace", "insert"]), data=st.data())
def test_each_index_names_exactly_that_item_valued_or_not(client, items, kind, data):
    """`delete given[2]` of `[null, "B", "C"]` answered 200 and deleted nothing, `replace
    given[2]` was 422 and `replace given[1]` changed "B": the lookup skipped the item with
    an extension alone, the change did not."""
    patient = created(client, new_patient(name=[_name(items)]))
    index = data.draw(st.integers(0, len(items) - (kind != "insert")))
    expected = list(items)
    if kind == "delete":
        change = operation("delete", f"Patient.name[0].given[{index}]")
        del expected[index]
    elif kind == "replace":
        change = operation("replace", f"Patient.name[0].given[{index}]",
                           value={"valueString": "Mới"})
        expected[index] = ("Mới", items[index][1])  # its extension stays with it
    else:
        change = operation("insert", "Patient.name[0].given", index=index,
                           value={"valueString": "Mới"})
        expected.insert(index, ("Mới", None))
    result = patched(client, patient, change)
    assert result["name"] == [_name(expected)]
    assert result["meta"]["versionId"] == "2"


def test_a_path_through_a_repeating_parent_indexes_the_flattened_collection(client):
    """`Patient.name.given[1]` and `Patient.name.given.first()` each select one element of
    the names' givens; they were 422 "finds 2 elements, not one" (the names)."""
    patient = created(client, new_patient(name=[
        {"family": "Lê", "given": ["An"]}, {"family": "Trần", "given": ["Bình", "Chi"]}]))
    result = patched(client, patient,
                     operation("replace", "Patient.name.given[1]", value={"valueString": "B"}),
                     operation("replace", "Patient.name.given.first()",
                               value={"valueString": "A"}),
                     operation("replace", "Patient.name.given.last()",
                               value={"valueString": "C"}),
                     operation("replace", "Patient.name.family[1]",
                               value={"valueString": "Trịnh"}))
    assert result["name"] == [{"family": "Lê", "given": ["A"]},
                              {"family": "Trịnh", "given": ["B", "C"]}]
    result = patched(client, result, operation("delete", "Patient.name.given[2]"),
                     operation("add", "Patient.name.given[0]", name="extension",
                               value=[{"name": "url", "valueUri": QUALIFIER},
                                      {"name": "value", "valueCode": "BR"}]))
    assert result["name"] == [{"family": "Lê", "given": ["A"], "_given": [_mark("BR")]},
                              {"family": "Trịnh", "given": ["B"]}]


def test_a_path_naming_several_elements_or_a_list_in_several_is_422(client):
    patient = created(client, new_patient(name=[
        {"family": "Lê", "given": ["An"]}, {"family": "Trần", "given": ["Bình"]}]))
    outcome = assert_outcome(send_patch(client, patient, operation(
        "replace", "Patient.name.given", value={"valueString": "X"})), 422)
    assert "finds 2 elements, not one" in outcome["issue"][0]["diagnostics"]
    outcome = assert_outcome(send_patch(client, patient, operation(
        "insert", "Patient.name.given", index=0, value={"valueString": "X"})), 422)
    assert "within 'Patient.name', which finds 2" in outcome["issue"][0]["diagnostics"]
    assert client.get(f"/Patient/{patient['id']}").json() == patient


def test_a_value_of_a_type_parameters_does_not_take_is_400(client):
    """R4 Parameters.parameter.value[x] has no BackboneElement (nor any made-up type): such
    a value was applied; a value no data type describes is given as parts."""
    patient = created(client, new_patient())
    for kind in ("valueBackboneElement", "valueContact"):
        outcome = assert_outcome(send_patch(client, patient, operation(
            "add", "Patient", name="contact", value={kind: {"gender": "female"}})), 400)
        assert kind in outcome["issue"][0]["diagnostics"]
    assert client.get(f"/Patient/{patient['id']}").json() == patient
