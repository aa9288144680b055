"""JSON Patch over HTTP (http://hl7.org/fhir/R4/http.html#patch): a new version, or a
clear refusal that changes nothing."""

from decimal import Decimal

import pytest
from helpers import (
    FHIR_HEADERS,
    JSON_PATCH,
    assert_outcome,
    assert_unchanged,
    created,
    new_patient,
    patch,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def test_patch_applies_a_json_patch_as_a_new_version(client):
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    operations = [
        {"op": "replace", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/telecom", "value": [{"system": "phone", "value": "0912345678"}]},
    ]
    response = patch(client, path, operations, **{"If-Match": 'W/"1"'})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    body = response.json()
    assert body["gender"] == "female"
    assert body["telecom"] == [{"system": "phone", "value": "0912345678"}]
    assert body["meta"]["versionId"] == "2"
    assert body["name"] == first["name"]
    assert client.get(path).json() == body


def test_patch_that_makes_the_resource_invalid_is_400_and_changes_nothing(client):
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    response = patch(client, path, [{"op": "replace", "path": "/gender", "value": "xx"}])
    assert_outcome(response, 400)
    assert_unchanged(client, first)


def test_patch_changing_the_id_is_400(client):
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    assert_outcome(patch(client, path, [{"op": "replace", "path": "/id", "value": "khac"}]), 400)
    assert_unchanged(client, first)
    assert client.get("/Patient/khac").status_code == 404


def test_a_malformed_patch_is_400_and_one_that_does_not_fit_the_resource_422(client):
    """As for FHIRPath Patch: a JSON Patch that names what the resource does not have cannot
    be processed (RFC 5789 §2.2), and the message names the operation, not Python's
    internals or the resource."""
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    fits = {"op": "replace", "path": "/active", "value": False}
    for misfit in ({"op": "remove", "path": "/deceasedBoolean"},
                   {"op": "add", "path": "/contact/0/name", "value": {"text": "Bình"}}):
        response = patch(client, path, [fits, misfit])
        assert_outcome(response, 422)
        [issue] = response.json()["issue"]
        assert "operation 2" in issue["diagnostics"]
        assert misfit["path"] in issue["diagnostics"]
        assert "Nguyễn" not in issue["diagnostics"] and "class" not in issue["diagnostics"]
    assert_outcome(patch(client, path, {"op": "replace", "path": "/active"}), 400)
    assert_outcome(patch(client, path, [{"op": "bogus", "path": "/active"}]), 400)
    assert_outcome(patch(client, path, [{"op": "replace", "value": False}]), 400)
    # A path or from that is no JSON Pointer (RFC 6901) makes the patch malformed: it was 422,
    # "names a place the resource does not have", as if the patch were sound.
    for unpointed in ({"op": "add", "path": "gender", "value": "male"},
                      {"op": "copy", "from": "name/0", "path": "/name/-"}):
        response = patch(client, path, [unpointed])
        assert "is no JSON Pointer" in assert_outcome(response, 400)["issue"][0]["diagnostics"]
    assert_unchanged(client, first)


def test_a_patch_that_copies_the_resource_into_itself_over_and_over_is_refused(client):
    """Copies multiply what a patch body holds (23 copies of the resource into itself, a 1 KB
    patch, took the server past 3 GB): what copies add together is bounded (the resource's
    size, at least 1 MB), beyond 413 and nothing changed; a copy of a part is fine."""
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    doubling = [{"op": "add", "path": "/extension", "value": [
        {"url": "http://example.org/x", "valueString": "x" * 1000}]}]
    doubling += [{"op": "copy", "from": "/extension/0", "path": "/extension/-"}
                 for _ in range(2000)]  # 2 MB of copies of a 1 KB patch
    assert_outcome(patch(client, path, doubling), 413)
    assert_unchanged(client, first)
    one = patch(client, path, [{"op": "copy", "from": "/name/0", "path": "/name/1"}])
    assert one.status_code == 200, one.text
    assert one.json()["name"][1] == first["name"][0]


def test_patch_whose_test_operation_fails_is_422_and_changes_nothing(client):
    """http.html#patch: a failing JSON Patch `test` is 422 Unprocessable Entity."""
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    operations = [{"op": "test", "path": "/gender", "value": "female"},
                  {"op": "replace", "path": "/active", "value": False}]
    response = patch(client, path, operations)
    assert_outcome(response, 422)
    assert "class" not in response.text
    assert_unchanged(client, first)


@st.composite
def _one_number_written_two_ways(draw) -> tuple[str, str, str]:
    """(how it was stored, how a client tests it, another number) in the forms FHIR JSON
    allows (json.html: decimals may have an exponent): `0.1`, `0.10`, `1E-1`, `100e-3`."""
    sign = draw(st.sampled_from(["", "-"]))
    digits = str(draw(st.integers(1, 10**15 - 1)))
    exponent, zeros = draw(st.integers(-15, 15)), draw(st.integers(1, 3))
    plain = format(Decimal(f"{sign}{digits}E{exponent}"), "f")
    forms = [plain, f"{plain}{'0' * zeros}" if "." in plain else f"{plain}.{'0' * zeros}",
             f"{sign}{digits}E{exponent}", f"{sign}{digits}{'0' * zeros}e{exponent - zeros}"]
    last = int(digits[-1])
    other = f"{sign}{digits[:-1]}{last + 1 if last < 9 else last - 1}E{exponent}"
    return draw(st.sampled_from(forms)), draw(st.sampled_from(forms)), other


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(numbers=_one_number_written_two_ways())
def test_a_test_operation_compares_numbers_by_value_whatever_their_digits(client, numbers):
    """RFC 6902 §4.6: numbers are equal "if their values are numerically equal". A stored
    `0.1` failed a test for `0.10` (422), `98.6` one for `98.60`, while `13.50` passed one for
    `13.5`: the outcome hung on which number the reader kept as a float."""
    stored, tested, other = numbers
    body = ('{"resourceType":"Observation","status":"final","code":{"text":"t"},'
            f'"valueQuantity":{{"value":{stored}}}}}')
    response = client.post("/Observation", content=body, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    path = f"/Observation/{response.json()['id']}"
    for value, status in ((tested, 200), (other, 422)):
        operations = (f'[{{"op":"test","path":"/valueQuantity","value":{{"value":{value}}}}},'
                      '{"op":"replace","path":"/status","value":"amended"}]')
        answered = client.patch(path, content=operations, headers={"Content-Type": JSON_PATCH})
        assert answered.status_code == status, (stored, value, answered.text)


def test_a_test_operation_tells_a_boolean_from_a_number(client):
    """RFC 6902 §4.6: literals are equal only to themselves (Python's `True == 1`)."""
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    assert_outcome(patch(client, path, [{"op": "test", "path": "/active", "value": 1}]), 422)
    passed = patch(client, path, [{"op": "test", "path": "/active", "value": True}])
    assert passed.status_code == 200, passed.text


@pytest.mark.parametrize("content_type", ["application/merge-patch+json",
                                          "application/xml-patch+xml", "text/plain"])
def test_a_patch_in_a_format_not_taken_is_415_naming_those_taken(client, content_type):
    """RFC 5789 §2.2: such a 415 "SHOULD include an Accept-Patch response header", which
    lists the formats the CapabilityStatement's patchFormat does."""
    first = created(client, new_patient())
    response = client.patch(f"/Patient/{first['id']}", content=b'{"active": false}',
                            headers={"Content-Type": content_type})
    assert_outcome(response, 415)
    formats = client.get("/metadata").json()["patchFormat"]
    assert response.headers["Accept-Patch"] == ", ".join(formats)
    assert_unchanged(client, first)


@pytest.mark.parametrize("body", [[{"op": "replace", "path": "/active", "value": False}],
                                  {"resourceType": "Patient", "active": False}])
def test_a_fhir_json_patch_that_is_no_parameters_is_400(client, body):
    """FHIR JSON is a patch format here (FHIRPath Patch, fhirpatch.html), so a body in it
    holding a JSON Patch or a Patient is a bad request, not a media type refused (415)."""
    first = created(client, new_patient())
    response = client.patch(f"/Patient/{first['id']}", headers=FHIR_HEADERS, json=body)
    said = assert_outcome(response, 400)["issue"][0]["diagnostics"]
    assert "a Parameters resource" in said and JSON_PATCH in said
    assert_unchanged(client, first)
