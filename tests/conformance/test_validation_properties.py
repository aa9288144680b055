"""Property tests of validate_resource: random mutations of valid official examples (an
unknown element, a primitive of the wrong JSON type, an array where one value is expected,
one value where an array is expected) are always refused with a clean InvalidResource whose
issues locate the mutation; random JSON anywhere never raises anything else."""

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_official_examples_valid import REFUSED

from fhir_server.conformance.validation import validate_resource
from fhir_server.errors import InvalidResource

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples-all"
NAMES = sorted(p.name for p in EXAMPLES.glob("*.json") if p.name not in REFUSED)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                   max_size=3),
    max_leaves=10,
)


def _load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def _properties(value: object, path: str) -> Iterator[tuple[dict, str, str]]:
    """(object, key, FHIRPath location of the object) of every JSON property, depth first."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _properties(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield value, key, path
            yield from _properties(item, f"{path}.{key}")


def _objects(value: object, path: str) -> Iterator[tuple[dict, str]]:
    """(object, FHIRPath location) of every JSON object, the resource included."""
    if isinstance(value, dict):
        yield value, path
    for owner, key, location in _properties(value, path):
        if isinstance(owner[key], list):
            for index, item in enumerate(owner[key]):
                if isinstance(item, dict):
                    yield from _objects(item, f"{location}.{key}[{index}]")
        elif isinstance(owner[key], dict):
            yield from _objects(owner[key], f"{location}.{key}")


def _mutable(data: st.DataObject, wanted) -> tuple[dict, dict, str, str]:
    """A fresh example and one of its properties for which `wanted(value)` holds."""
    resource = _load(data.draw(st.sampled_from(NAMES)))
    candidates = [(owner, key, path)
                  for owner, key, path in _properties(resource, resource["resourceType"])
                  if key != "resourceType" and wanted(owner[key])]
    assume(candidates)
    owner, key, path = data.draw(st.sampled_from(candidates))
    return resource, owner, key, path


def _refused(resource: dict) -> set[tuple[str, str]]:
    with pytest.raises(InvalidResource) as raised:
        validate_resource(resource)
    issues = raised.value.issues
    assert issues and all(issue.expression and issue.expression[0] for issue in issues)
    assert issues[0].severity == "error"
    return {(issue.code, issue.expression[0]) for issue in issues}


@SETTINGS
@given(st.data())
def test_an_unknown_element_is_refused_where_it_is(data):
    resource = _load(data.draw(st.sampled_from(NAMES)))
    target, path = data.draw(st.sampled_from(list(_objects(resource, resource["resourceType"]))))
    target["zzUnknown"] = 1
    assert ("structure", f"{path}.zzUnknown") in _refused(resource)


@SETTINGS
@given(st.data())
def test_a_primitive_of_the_wrong_json_type_is_refused(data):
    resource, owner, key, path = _mutable(
        data, lambda value: isinstance(value, str | bool | int | float))
    value = owner[key]
    owner[key] = True if isinstance(value, str) else "1"
    assert ("value", f"{path}.{key}") in _refused(resource)


@SETTINGS
@given(st.data())
def test_an_array_where_one_value_is_expected_is_refused(data):
    resource, owner, key, path = _mutable(data, lambda value: not isinstance(value, list))
    owner[key] = [owner[key]]
    assert ("structure", f"{path}.{key}") in _refused(resource)


@SETTINGS
@given(st.data())
def test_one_value_where_an_array_is_expected_is_refused(data):
    resource, owner, key, path = _mutable(
        data, lambda value: isinstance(value, list) and value[0] is not None)
    owner[key] = owner[key][0]
    assert ("structure", f"{path}.{key}") in _refused(resource)


@SETTINGS
@given(st.data(), JSON)
def test_any_json_anywhere_is_valid_or_a_clean_invalid_resource(data, garbage):
    resource, owner, key, _ = _mutable(data, lambda value: True)
    owner[key] = copy.deepcopy(garbage)
    try:
        validate_resource(resource)
    except InvalidResource as refused:
        assert all(issue.expression for issue in refused.issues)
