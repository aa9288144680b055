"""Properties: any JSON resource signs and verifies; any change to a signed element breaks the
signature; changes to id, meta and text do not."""

import copy
from datetime import UTC, datetime

from hypothesis import assume, given
from hypothesis import strategies as st

from signing.canonical import UNSIGNED_ELEMENTS, signed_content
from signing.provenance import sign_resource, verify_resource
from signing.report import TOTAL_FAILED

TARGET = "Observation/obs-1/_history/7"
VIETNAMESE = ["Nguyễn", "Nguyễn", "Trần", "Lê", "Phạm", "Đặng", "Hà Nội", "Đà Nẵng"]

texts = st.text(max_size=12) | st.sampled_from(VIETNAMESE)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
members = st.dictionaries(
    texts.filter(lambda key: key not in UNSIGNED_ELEMENTS and key != "resourceType"),
    values,
    max_size=6,
)


@st.composite
def resources(draw) -> dict:
    resource = {"resourceType": "Observation", **draw(members)}
    resource["id"] = "obs-1"
    resource["meta"] = {"versionId": "7", "lastUpdated": "2026-11-23T10:00:00Z"}
    if draw(st.booleans()):
        resource["text"] = {"status": "generated", "div": draw(texts)}
    return resource


def signed_paths(node, path=()):
    """Paths of every node under the signed part of a resource (not the resource itself)."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        if not path and key in UNSIGNED_ELEMENTS:
            continue
        yield (*path, key)
        if isinstance(child, dict | list):
            yield from signed_paths(child, (*path, key))


def at(resource, path):
    for key in path:
        resource = resource[key]
    return resource


def sign(signer, resource):
    return sign_resource(resource, TARGET, signer, datetime.now(UTC))


@given(resource=resources())
def test_any_resource_signs_and_verifies(signer, ca, resource):
    data = sign(signer, resource)
    report = verify_resource(data, copy.deepcopy(resource), TARGET, ca.anchors, "001085012345")
    assert report.passed, report.failures()


@given(resource=resources(), data=st.data())
def test_any_change_to_a_signed_element_fails(signer, ca, resource, data):
    signature = sign(signer, resource)
    changed = copy.deepcopy(resource)
    path = data.draw(st.sampled_from(list(signed_paths(changed))), label="path")
    parent, key = at(changed, path[:-1]), path[-1]
    kind = data.draw(st.sampled_from(["replace", "delete", "insert"]), label="change")
    if kind == "replace":
        parent[key] = data.draw(values, label="new value")
    elif kind == "delete":
        del parent[key]
    elif isinstance(parent, dict):
        new_key = data.draw(texts.filter(lambda k: k not in parent), label="new member")
        if not path[:-1]:
            assume(new_key not in UNSIGNED_ELEMENTS)
        parent[new_key] = data.draw(values, label="its value")
    else:
        parent.insert(key, data.draw(values, label="inserted item"))
    # A change is a change of the JSON value: 1 → 1.0 or 0.0 → -0.0 is none (RFC 8785 §3.2.2.3).
    assume(signed_content(changed) != signed_content(resource))
    report = verify_resource(signature, changed, TARGET, ca.anchors, "001085012345")
    assert report.indication == TOTAL_FAILED
    assert {check.name for check in report.failures()} <= {"signature", "content"}


@given(resource=resources(), data=st.data())
def test_changes_to_id_meta_text_do_not_matter(signer, ca, resource, data):
    signature = sign(signer, resource)
    changed = copy.deepcopy(resource)
    for element in sorted(UNSIGNED_ELEMENTS):
        if data.draw(st.booleans(), label=f"change {element}"):
            if data.draw(st.booleans(), label=f"delete {element}"):
                changed.pop(element, None)
            else:
                changed[element] = data.draw(values, label=f"new {element}")
    report = verify_resource(signature, changed, TARGET, ca.anchors, "001085012345")
    assert report.passed, report.failures()
