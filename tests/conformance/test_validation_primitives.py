"""validate_resource on primitive values: JSON types and the formats of the primitive
types' StructureDefinitions (http://hl7.org/fhir/R4/json.html#primitive)."""

import math
import re

import pytest
from validation_helpers import EXTENSION, OBSERVATION, issues_of

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.primitives import ID_REGEX, REGEX
from fhir_server.conformance.validation import validate_resource


def _with(type_path: str, value: object) -> dict:
    """A resource with `value` at an element of the given primitive type."""
    if type_path in ("markdown", "oid", "uuid", "positiveInt"):
        name = "value" + type_path[0].upper() + type_path[1:]
        return {"resourceType": "Patient", "extension": [{"url": EXTENSION, name: value}]}
    return {
        "boolean": {"resourceType": "Patient", "active": value},
        "integer": {"resourceType": "Patient", "multipleBirthInteger": value},
        "unsignedInt": {"resourceType": "Patient", "photo": [
            {"contentType": "image/png", "size": value}]},
        "decimal": {**OBSERVATION, "valueQuantity": {"value": value}},
        "date": {"resourceType": "Patient", "birthDate": value},
        "dateTime": {"resourceType": "Patient", "deceasedDateTime": value},
        "instant": {"resourceType": "Patient", "meta": {"lastUpdated": value}},
        "time": {**OBSERVATION, "valueTime": value},
        "id": {"resourceType": "Patient", "id": value},
        "code": {"resourceType": "Patient", "language": value},
        "uri": {"resourceType": "Patient", "implicitRules": value},
        "base64Binary": {"resourceType": "Patient", "photo": [
            {"contentType": "image/png", "data": value}]},
        "string": {"resourceType": "Patient", "name": [{"family": value}]},
    }[type_path]


VALID = [
    ("boolean", True), ("boolean", False),
    ("integer", 0), ("integer", -2147483648), ("integer", 2147483647),
    ("positiveInt", 1), ("unsignedInt", 0),
    ("decimal", 0), ("decimal", -1.5), ("decimal", 1e-7),
    ("date", "2020"), ("date", "2020-02"), ("date", "2020-02-29"),
    ("dateTime", "2020-01-01T10:00:00Z"), ("dateTime", "2020-01-01T10:00:00.123+07:00"),
    ("instant", "2020-01-01T10:00:00.5-05:00"), ("time", "23:59:59"),
    ("id", "a-B.9"), ("code", "vi"), ("code", "a b"), ("uri", "urn:x"),
    ("base64Binary", "QUJD"), ("base64Binary", "QUJD\nREVG\n"),
    ("string", "  Nguyễn Văn An  "), ("string", "a\u00a0b"), ("string", "x\ny"),
    ("markdown", "**đậm**"), ("oid", "urn:oid:1.2.3"),
    ("uuid", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"),
]
INVALID = [
    ("boolean", "true"), ("boolean", 1), ("boolean", "có"),
    ("integer", 1.0), ("integer", "1"), ("integer", 2147483648), ("integer", True),
    ("positiveInt", 0), ("unsignedInt", -1),
    ("decimal", "1.5"), ("decimal", math.nan), ("decimal", math.inf), ("decimal", True),
    ("date", "2020-13-01"), ("date", "2021-02-29"), ("date", "20200101"), ("date", 2020),
    ("dateTime", "2020-01-01T10:00:00"), ("dateTime", "2020-01-01 10:00:00Z"),
    ("instant", "2020-01-01"), ("time", "24:00:00"), ("time", "10:00"),
    ("id", "a b"), ("id", "x" * 65), ("id", ""), ("code", " vi"), ("code", "a  b"),
    ("code", ""), ("uri", "a b"), ("uri", ""),
    ("base64Binary", "QUJ"), ("base64Binary", "QU JD"), ("base64Binary", "QUJ!"),
    ("string", ""), ("string", 3), ("markdown", ""),
    ("oid", "1.2.3"), ("uuid", "urn:uuid:C757873D-EC9A-4326-A141-556F43239520"),
]


@pytest.mark.parametrize(("type_path", "value"), VALID, ids=[f"{t}-{v!r}" for t, v in VALID])
def test_valid_primitive(type_path, value):
    validate_resource(_with(type_path, value))


@pytest.mark.parametrize(("type_path", "value"), INVALID,
                         ids=[f"{t}-{v!r}"[:40] for t, v in INVALID])
def test_invalid_primitive(type_path, value):
    issues = issues_of(_with(type_path, value))
    assert [issue.code for issue in issues] == ["value"]
    assert issues[0].diagnostics.startswith(f"Invalid {type_path} ")


def test_base64_check_is_linear_on_long_invalid_values():
    # The spec's regex backtracks exponentially on this (minutes for 20 groups).
    [issue] = issues_of(_with("base64Binary", "QUJD  " * 100_000 + "!"))
    assert issue.expression == ("Patient.photo[0].data",)


def test_values_are_shown_short():
    [issue] = issues_of({"resourceType": "Patient", "birthDate": "x" * 10_000})
    assert len(issue.diagnostics) < 200




def test_the_id_regex_the_server_builds_patterns_from_is_the_definitions():
    definition = registry().structure_definition("id")
    [element] = [e for e in definition["snapshot"]["element"] if e["id"] == "id.value"]
    [regex] = [x["valueString"] for t in element["type"] for x in t.get("extension", [])
               if x["url"] == REGEX]
    for text in ("a", "A-9.z", "x" * 64, "x" * 65, "", "a_b", "a/b", "Ä", "a b"):
        assert bool(re.fullmatch(ID_REGEX, text)) == bool(re.fullmatch(regex, text)), text


_EXTENDED = {"extension": [{"url": EXTENSION, "valueString": "x"}]}


@pytest.mark.parametrize(("resource", "expression"), [
    ({"resourceType": "Patient", "extension": [
        {"url": EXTENSION, "_url": _EXTENDED, "valueString": "a"}]},
     "Patient.extension[0]._url"),
    ({"resourceType": "Patient", "name": [{"_id": _EXTENDED, "family": "Lê"}]},
     "Patient.name[0]._id"),
    ({"resourceType": "Patient", "text": {
        "status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>',
        "_div": {"id": "d"}}}, "Patient.text._div"),
])
def test_an_xml_attribute_or_the_div_has_no_underscore_object(resource, expression):
    """Element.id and Extension.url are XML attributes, and the div XHTML: FHIR XML cannot
    carry an id or extensions of theirs. Stored, they made every XML page holding the resource
    a 406 (system history for every client); a resource's own `_id` is an element's."""
    assert [(i.message_id, i.expression) for i in issues_of(resource)] == [
        ("bare-element", (expression,))]
    validate_resource({"resourceType": "Patient", "id": "a", "_id": _EXTENDED})
