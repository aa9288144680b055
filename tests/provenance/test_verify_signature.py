"""`POST $verify-signature` with Parameters {provenance, resource}: the Provenance's
signature checked against the resources sent in — the exact signed version only, Unicode
normalisation included; any change to a signed element fails, changes to meta and text do
not (hypothesis)."""

import copy
import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, created, new_patient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.helpers import (
    assert_failed,
    assert_passed,
    checks,
    indication,
    provenance_of,
    signature_parts,
    verify_signature,
    versioned,
)


def rich_patient() -> dict:
    """A Patient with strings, booleans, integers, decimals, nested lists and element ids."""
    return new_patient(
        name=[{"id": "ten-chinh", "use": "official", "family": "Nguyễn",
               "given": ["Văn", "An"], "text": "Nguyễn Văn An"}],
        telecom=[{"system": "phone", "value": "+84 912 345 678", "use": "mobile", "rank": 1}],
        multipleBirthInteger=2,
        deceasedBoolean=False,
        extension=[{"url": "http://example.org/fhir/StructureDefinition/can-nang",
                    "valueDecimal": 65.5}],
    )


@pytest.fixture(scope="module")
def signed(client) -> tuple[dict, dict]:
    """(stored version, its Provenance)."""
    patient = created(client, rich_patient())
    return patient, provenance_of(client, versioned(patient))


def test_the_signed_version_passes(client, signed):
    patient, provenance = signed
    assert_passed(verify_signature(client, provenance, patient))


def test_the_signed_version_among_others_passes(client, signed):
    patient, provenance = signed
    other = created(client, new_patient())
    assert_passed(verify_signature(client, provenance, other, patient))


def test_signature_data_in_lines_of_base64_passes(client, signed):
    """base64Binary allows whitespace (R4's pattern `(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+`): data
    in MIME-style lines of 76 characters was refused."""
    patient, provenance = signed
    lined = copy.deepcopy(provenance)
    data = lined["signature"][0]["data"]
    lined["signature"][0]["data"] = "\r\n".join(data[i:i + 76] for i in range(0, len(data), 76))
    assert_passed(verify_signature(client, lined, patient))


def test_copies_of_a_signature_each_pass_and_past_a_hundred_it_is_too_costly(client, signed):
    """The target is canonicalised once for all its signatures; more than 100 signatures in
    one Provenance is more work than this server does for one (400 took 23 s)."""
    patient, provenance = signed
    copies = {**provenance, "signature": provenance["signature"] * 5}
    parameters = verify_signature(client, copies, patient)
    assert_passed(parameters)
    assert len(signature_parts(parameters)) == 5
    too_many = {**provenance, "signature": provenance["signature"] * 101}
    body = {"resourceType": "Parameters",
            "parameter": [{"name": "provenance", "resource": too_many},
                          {"name": "resource", "resource": patient}]}
    response = client.post("/$verify-signature", json=body, headers=FHIR_HEADERS)
    outcome = assert_outcome(response, 400, "too-costly")
    assert "at most 100" in outcome["issue"][0]["diagnostics"], outcome


@pytest.mark.parametrize("change", [
    lambda p: p.update(gender="female"),
    lambda p: p["name"][0]["given"].append("Bình"),
    lambda p: p["address"][0].pop("district"),
    lambda p: p["extension"][0].update(valueDecimal=65.4),
], ids=["gender", "given-added", "district-removed", "decimal"])
def test_one_changed_element_fails(client, signed, change):
    patient, provenance = signed
    changed = copy.deepcopy(patient)
    change(changed)
    assert_failed(verify_signature(client, provenance, changed), "signature")


@pytest.mark.parametrize("versioned_target", [True, False], ids=["version", "resource"])
def test_a_target_no_signature_designates_fails(client, signed, versioned_target):
    """The signature covers the patient's version; a second target listed beside it (another
    patient, as a version or as a resource) is signed by nobody: the Provenance must not pass
    as a whole, or it would attribute that other record to the signer."""
    patient, provenance = signed
    other = created(client, new_patient())
    reference = versioned(other) if versioned_target else f"Patient/{other['id']}"
    extended = {**provenance, "target": [*provenance["target"], {"reference": reference}]}
    parameters = verify_signature(client, extended, patient, other)
    assert indication(parameters) == "TOTAL-FAILED", parameters
    reasons = [p["valueString"] for p in parameters["parameter"] if p["name"] == "reason"]
    assert any(reference in reason for reason in reasons), reasons


@pytest.mark.parametrize("when, passes", [
    (None, True),  # as written: the sigT itself
    ("fraction", True),  # the same second, with milliseconds
    ("offset", True),  # the same instant, at +07:00
    ("2020-01-01T00:00:00Z", False),
], ids=["sigT", "fraction", "offset", "other-time"])
def test_signature_when_must_be_the_signing_time(client, signed, when, passes):
    patient, provenance = signed
    sig_t = datetime.fromisoformat(provenance["signature"][0]["when"])
    stated = {None: provenance["signature"][0]["when"],
              "fraction": sig_t.strftime("%Y-%m-%dT%H:%M:%S.999Z"),
              "offset": sig_t.astimezone(timezone(timedelta(hours=7))).isoformat()}.get(when, when)
    changed = copy.deepcopy(provenance)
    changed["signature"][0]["when"] = stated
    parameters = verify_signature(client, changed, patient)
    if passes:
        assert_passed(parameters)
    else:
        assert_failed(parameters, "format")


def test_without_the_target_version_it_is_indeterminate(client, signed):
    """ETSI EN 319 102-1: signed data not found is INDETERMINATE (SIGNED_DATA_NOT_FOUND),
    not a failure of the signature; and it does designate its target."""
    patient, provenance = signed
    wrong_version = {**patient, "meta": {**patient["meta"], "versionId": "2"}}
    for parameters in (verify_signature(client, provenance),
                       verify_signature(client, provenance, wrong_version)):
        assert indication(parameters) == "INDETERMINATE", parameters
        assert checks(parameters)["content"] == "not-evaluated"
        [part] = signature_parts(parameters)
        assert {"name": "subIndication", "valueCode": "SIGNED_DATA_NOT_FOUND"} in part["part"]
        assert "designated by no signature" not in str(parameters)


def test_a_deletion_passes_against_the_stored_history_only(client):
    """A deletion's signature covers the bytes of an empty resource. Sent without its target,
    a DELETE Provenance cannot be told from an empty resource's CREATE relabelled (the
    activity is not signed), which passed: `$verify-signature` is INDETERMINATE, and
    `$verify`, against the history stored here, passes."""
    patient = created(client, new_patient())
    assert client.delete(f"/Patient/{patient['id']}").status_code in (200, 204)
    provenance = provenance_of(client, f"Patient/{patient['id']}/_history/2")
    assert indication(verify_signature(client, provenance)) == "INDETERMINATE"
    assert_passed(client.get(f"/Provenance/{provenance['id']}/$verify").json())
    # ... and the deletion's signature is not one over the deleted content.
    assert_failed(verify_signature(client, provenance,
                                   {**patient, "meta": {"versionId": "2"}}), "signature")
    empty = created(client, {"resourceType": "Patient"})
    forged = copy.deepcopy(provenance_of(client, versioned(empty)))
    forged["activity"]["coding"][0].update(code="DELETE", display="delete")
    assert indication(verify_signature(client, forged)) == "INDETERMINATE"


@pytest.mark.parametrize("claim", ["agent", "targetFormat", "activity"])
def test_what_the_provenance_says_beside_its_signature_is_checked(client, signed, claim):
    """The signature binds its signer to the content only: a Provenance naming another
    agent as the one who acted, another form of what was signed, or a deletion of a version
    with content, around a genuine signature, passed."""
    patient, provenance = signed
    changed = copy.deepcopy(provenance)
    if claim == "agent":
        changed["agent"][0]["who"] = {
            "identifier": {"system": "http://fhir.hl7.org.vn/core/sid/cccd",
                           "value": "079190000123"}, "display": "Trần Thị Bình"}
    elif claim == "targetFormat":
        changed["signature"][0]["targetFormat"] = (
            'application/fhir+json;canonicalization="urn:ietf:rfc:8785";omit="id meta"')
    else:
        changed["activity"]["coding"][0].update(code="DELETE", display="delete")
    assert_failed(verify_signature(client, changed, patient), "claims")


def _names_in(form: str) -> dict:
    """A Patient named "Nguyễn Thị Hương" in that Unicode normalisation form."""
    assert unicodedata.normalize("NFC", "Nguyễn") != unicodedata.normalize("NFD", "Nguyễn")
    family, given = (unicodedata.normalize(form, text) for text in ("Nguyễn", "Thị Hương"))
    return new_patient(name=[{"family": family, "given": given.split()}])


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_only_the_signed_unicode_normalisation_verifies(client, form):
    patient = created(client, _names_in(form))
    provenance = provenance_of(client, versioned(patient))
    assert_passed(verify_signature(client, provenance, patient))
    # The form the server stored (and signed) is the one sent: it does not normalise.
    assert unicodedata.is_normalized(form, patient["name"][0]["family"])
    other_form = "NFD" if form == "NFC" else "NFC"
    renormalised = copy.deepcopy(patient)
    name = renormalised["name"][0]
    name["family"] = unicodedata.normalize(other_form, name["family"])
    name["given"] = [unicodedata.normalize(other_form, g) for g in name["given"]]
    assert renormalised != patient
    assert_failed(verify_signature(client, provenance, renormalised), "signature")


def test_nfc_signed_name_sent_in_nfd_fails(client):
    patient = created(client, _names_in("NFC"))
    assert unicodedata.is_normalized("NFC", patient["name"][0]["family"])
    provenance = provenance_of(client, versioned(patient))
    nfd = copy.deepcopy(patient)
    nfd["name"][0]["family"] = unicodedata.normalize("NFD", "Nguyễn")
    assert indication(verify_signature(client, provenance, nfd)) == "TOTAL-FAILED"


@pytest.mark.parametrize("body", [
    {"resourceType": "Patient"},
    {"resourceType": "Parameters"},
    {"resourceType": "Parameters", "parameter": [{"name": "provenance",
                                                  "resource": {"resourceType": "Patient"}}]},
    {"resourceType": "Parameters", "parameter": [{"name": "provenance",
                                                  "valueString": "Provenance/1"}]},
    {"resourceType": "Parameters", "parameter": [
        {"name": "provenance", "resource": {"resourceType": "Provenance"}},
        {"name": "provenance", "resource": {"resourceType": "Provenance"}}]},
    {"resourceType": "Parameters", "parameter": [
        {"name": "provenance", "resource": {"resourceType": "Provenance"}},
        {"name": "resource", "valueString": "not a resource"}]},
    [1, 2, 3],
], ids=["not-parameters", "empty", "provenance-not-provenance", "provenance-not-resource",
        "two-provenances", "resource-not-resource", "array"])
def test_malformed_body_is_400(client, body):
    response = client.post("/$verify-signature", json=body, headers=FHIR_HEADERS)
    assert_outcome(response, 400)


def test_unparseable_body_is_400(client):
    response = client.post("/$verify-signature", content=b'{"resourceType": "Parameters",',
                           headers=FHIR_HEADERS)
    assert_outcome(response, 400)


# ---------------------------------------------------------------- any change (hypothesis)

def _leaves(value, path=()):
    """Paths to every scalar of a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path


def _changed_value(old, draw):
    if isinstance(old, bool):
        return not old
    if isinstance(old, int | float):
        return old + draw(st.integers(1, 10**6))
    return draw(st.text(min_size=1, max_size=12).filter(lambda text: text != old))


@st.composite
def signed_changes(draw, resource: dict) -> dict:
    """`resource` with one change to a signed element: a scalar replaced, or a member
    removed or added (top-level `id`, `meta` and `text` left alone)."""
    changed = copy.deepcopy(resource)
    paths = [p for p in _leaves(resource) if p[0] not in ("id", "meta", "text")]
    path = draw(st.sampled_from(paths))
    *parents, last = path
    container = changed
    for step in parents:
        container = container[step]
    kind = draw(st.sampled_from(["replace", "remove", "add"]))
    if kind == "replace" or (kind == "remove" and path == ("resourceType",)):
        container[last] = _changed_value(container[last], draw)
    elif kind == "remove":
        del container[last]
    elif isinstance(container, list):
        container.insert(draw(st.integers(0, len(container))), container[last])
    else:
        key = draw(st.sampled_from(["id", "extension", "ghiChu", "use"]).filter(
            lambda k: k not in container))
        container[key] = draw(st.text(max_size=8))
    assert changed != resource
    return changed


@st.composite
def unsigned_changes(draw, resource: dict) -> dict:
    """`resource` with `text` replaced and `meta` changed (its versionId, which names the
    version to check against, kept)."""
    changed = copy.deepcopy(resource)
    meta = changed["meta"]
    if draw(st.booleans()):
        meta["lastUpdated"] = draw(st.sampled_from(
            ["2001-01-01T00:00:00Z", "2030-12-31T23:59:59.999+07:00"]))
    if draw(st.booleans()):
        meta["tag"] = [{"system": "http://example.org/tags", "code": draw(st.text(min_size=1))}]
    if draw(st.booleans()):
        meta["source"] = draw(st.text(max_size=20))
    if draw(st.booleans()):
        changed["text"] = {"status": "generated", "div":
                           f'<div xmlns="http://www.w3.org/1999/xhtml">{draw(st.text())}</div>'}
    else:
        changed.pop("text", None)
    return changed


PROPERTY = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=st.data())
def test_any_change_to_a_signed_element_fails(client, signed, data):
    """A changed resourceType makes it another resource: the signed one is then not found
    (INDETERMINATE), never passed."""
    patient, provenance = signed
    changed = data.draw(signed_changes(patient))
    expected = ("TOTAL-FAILED" if changed["resourceType"] == patient["resourceType"]
                else "INDETERMINATE")
    assert indication(verify_signature(client, provenance, changed)) == expected


@PROPERTY
@given(data=st.data())
def test_changes_to_meta_and_text_pass(client, signed, data):
    patient, provenance = signed
    assert_passed(verify_signature(client, provenance, data.draw(unsigned_changes(patient))))


# ---------------------------------------------------------------- hostile bodies (hypothesis)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
# Where a hostile value goes: a member of the Provenance, of its signature, or of the resource.
PLACES = [*(f"provenance.{member}" for member in (
    "target", "signature", "activity", "agent", "signature.0", "signature.0.who",
    "signature.0.data", "signature.0.who.identifier")), "resource.meta", "resource"]


def _placed(body: dict, place: str, value) -> None:
    *path, last = place.split(".")
    container = body
    for step in path:
        container = container[int(step) if step.isdecimal() else step]
    container[int(last) if last.isdecimal() else last] = value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(PLACES), value=JSON_VALUES)
def test_hostile_members_are_refused_or_fail_never_500(client, signed, place, value):
    """A Provenance that is not valid R4 is 400 (as a write of it would be); a resource of
    any shape is checked and fails or passes: never a server error (`target: true` and a
    resource with `meta: true` were 500)."""
    patient, provenance = copy.deepcopy(signed)
    body = {"provenance": provenance, "resource": patient}
    _placed(body, place, value)
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "provenance", "resource": body["provenance"]},
        {"name": "resource", "resource": body["resource"]}]}
    response = client.post("/$verify-signature", json=parameters, headers=FHIR_HEADERS)
    assert response.status_code in (200, 400), (place, value, response.text)
