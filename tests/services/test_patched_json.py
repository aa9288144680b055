"""FHIRPath Patch on the extensions of a repeating primitive's items (`Patient.name.given[i]
.extension`, http://hl7.org/fhir/R4/fhirpatch.html): whatever the operations, `_given` stays
the array json.html#primitive describes beside `given` (as long, null for an item without
id or extension, never an empty object, gone once it holds nulls only), each extension stays
with its value, and the resource stays valid; pure, no mongod."""

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.conformance.validation import validation_issues
from fhir_server.errors import Unprocessable
from fhir_server.services.fhirpath_patch import apply_fhirpath_patch

NOTE = "http://example.org/fhir/StructureDefinition/ghi-chu"
NAMES = [f"Tên{number}" for number in range(8)]


def _note_of(value: str) -> dict:
    """An extension naming the value it belongs to, so that a misplaced one shows."""
    return {"url": NOTE, "valueString": value}


def _operation(kind: str, path: str, **parts: object) -> dict:
    found: list[dict] = [{"name": "type", "valueCode": kind},
                         {"name": "path", "valueString": path}]
    for name, value in parts.items():
        if name == "name":
            found.append({"name": name, "valueString": value})
        elif isinstance(value, int):
            found.append({"name": name, "valueInteger": value})
        else:
            found.append({"name": name, **value})  # type: ignore[dict-item]
    return {"name": "operation", "part": found}


def _patient(noted: list[bool]) -> dict:
    given_names = NAMES[:len(noted)]
    name: dict = {"family": "Trần", "given": given_names}
    if any(noted):
        name["_given"] = [{"extension": [_note_of(value)]} if note else None
                          for value, note in zip(given_names, noted, strict=True)]
    return {"resourceType": "Patient", "name": [name]}


def _step(patient: dict, step: tuple) -> dict:
    """The operation `step` names on the item it points at, from what the item holds."""
    kind, position, other = step
    given_names = patient["name"][0].get("given", [])
    item = f"Patient.name[0].given[{position}]"
    value = given_names[position] if position < len(given_names) else "Mới"
    return {
        "note": _operation("add", item, name="extension", value={"part": [
            {"name": "url", "valueUri": NOTE}, {"name": "value", "valueString": value}]}),
        "unnote": _operation("delete", f"{item}.extension"),
        "delete": _operation("delete", item),
        "insert": _operation("insert", "Patient.name[0].given", index=position,
                             value={"valueString": NAMES[other]}),
        "move": _operation("move", "Patient.name[0].given", source=position,
                           destination=other),
    }[kind]


def _check_shape(patient: dict) -> None:
    name = patient["name"][0]
    values, shadow = name.get("given", []), name.get("_given")
    if shadow is None:
        return
    assert len(shadow) == len(values), name
    assert any(item is not None for item in shadow), name
    for value, item in zip(values, shadow, strict=True):
        assert item != {}, name
        if item is not None:
            assert item["extension"] == [_note_of(value)] * len(item["extension"]), name


STEPS = st.tuples(st.sampled_from(["note", "unnote", "delete", "insert", "move"]),
                  st.integers(0, 4), st.integers(0, 4))


@settings(max_examples=300, deadline=None)
@given(noted=st.lists(st.booleans(), min_size=1, max_size=4), steps=st.lists(STEPS, max_size=6))
def test_a_repeating_primitives_extensions_stay_in_step_with_its_values(noted, steps):
    patient = _patient(noted)
    for step in steps:
        parameters = {"resourceType": "Parameters", "parameter": [_step(patient, step)]}
        try:
            patient = apply_fhirpath_patch(patient, parameters)
        except Unprocessable:  # no item there, or two notes on one: nothing changed
            continue
        _check_shape(patient)
        assert not [issue for issue in validation_issues(patient)
                    if issue.severity == "error"], patient
