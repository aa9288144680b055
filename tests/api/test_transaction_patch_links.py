"""A transaction's PATCH entries link to its other entries as its other writes do
(http.html#trules): the links are read in the resource the patch makes, wherever the patch
put them (a reference given as a string, a uri, the narrative), not only in the reference
objects of its operations; one that names no entry is 400."""

import uuid

import pytest
from bundle_helpers import (
    history_snapshot,
    outcome_names_entry,
    patch_entry,
    post_entry,
    response_bundle,
    submit,
    transaction,
    urn,
)
from helpers import FHIR_HEADERS, assert_outcome, new_patient

XHTML = "http://www.w3.org/1999/xhtml"
ORGANIZATION = {"resourceType": "Organization", "name": "Bệnh viện Bạch Mai"}


def _operation(kind: str, path: str, name: str, value: dict) -> dict:
    """One FHIRPath Patch `add` operation."""
    return {"name": "operation", "part": [
        {"name": "type", "valueCode": kind}, {"name": "path", "valueString": path},
        {"name": "name", "valueString": name}, {"name": "value", **value}]}


def _fhirpath_patch(url: str, *operations: dict) -> dict:
    return {"resource": {"resourceType": "Parameters", "parameter": list(operations)},
            "request": {"method": "PATCH", "url": url}}


def _patched(client, patch_for) -> tuple[dict, str]:
    """Transact a new Organization with a `urn:uuid:` fullUrl and the PATCH `patch_for`
    makes of a new Patient's URL and that fullUrl; the patched Patient and the
    Organization's `Organization/id`."""
    target = client.post("/Patient", json=new_patient(), headers=FHIR_HEADERS).json()
    full_url = urn()
    response = submit(client, transaction(post_entry(ORGANIZATION, full_url=full_url),
                                          patch_for(f"Patient/{target['id']}", full_url)))
    created, _ = response_bundle(response, "transaction-response", 2)
    made = created["response"]["location"].split("/_history/")[0].split("/fhir/")[1]
    return client.get(f"/Patient/{target['id']}").json(), made


@pytest.mark.parametrize("kind", ["JSON Patch", "FHIRPath Patch"])
def test_a_reference_given_as_a_string_is_linked(client, kind):
    """`replace /managingOrganization/reference` with the entry's `urn:uuid:` as a string
    value: the Patient was stored pointing at the placeholder."""

    def patch_for(url: str, full_url: str) -> dict:
        if kind == "JSON Patch":
            return patch_entry(url, [{"op": "add", "path": "/managingOrganization",
                                      "value": {"display": "BV"}},
                                     {"op": "add", "path": "/managingOrganization/reference",
                                      "value": full_url}])
        return _fhirpath_patch(
            url, _operation("add", "Patient", "managingOrganization",
                            {"valueReference": {"display": "BV"}}),
            _operation("add", "Patient.managingOrganization", "reference",
                       {"valueString": full_url}))

    stored, made = _patched(client, patch_for)
    assert stored["managingOrganization"] == {"display": "BV", "reference": made}


def test_a_json_patch_links_uris_and_the_narrative(client):
    """A uri and a narrative link to an entry were left as `urn:uuid:` by a JSON Patch
    (a POST or PUT entry, and a FHIRPath Patch's uri, had them replaced)."""

    def patch_for(url: str, full_url: str) -> dict:
        div = f'<div xmlns="{XHTML}"><a href="{full_url}">BV</a></div>'
        return patch_entry(url, [
            {"op": "add", "path": "/extension",
             "value": [{"url": "http://example.org/fhir/origin", "valueUri": full_url}]},
            {"op": "add", "path": "/text", "value": {"status": "generated", "div": div}}])

    stored, made = _patched(client, patch_for)
    assert stored["extension"][0]["valueUri"] == made
    assert stored["text"]["div"] == f'<div xmlns="{XHTML}"><a href="{made}">BV</a></div>'


def test_a_patched_reference_naming_no_entry_is_400(client):
    """As in a POST or PUT entry: stored, it would point nowhere for good."""
    target = client.post("/Patient", json=new_patient(), headers=FHIR_HEADERS).json()
    before, nowhere = history_snapshot(client), urn()
    patch = patch_entry(f"Patient/{target['id']}", [
        {"op": "add", "path": "/managingOrganization", "value": {"reference": "x"}},
        {"op": "replace", "path": "/managingOrganization/reference", "value": nowhere}])
    outcome = assert_outcome(submit(client, transaction(post_entry(ORGANIZATION), patch)), 400)
    outcome_names_entry(outcome, 1)
    assert nowhere in outcome["issue"][0]["diagnostics"]
    assert history_snapshot(client) == before


def test_a_urn_the_resource_already_holds_is_kept(client):
    """A plain write may store a `urn:uuid:` reference; a transaction patching something
    else of that resource keeps it rather than refusing the patch."""
    held = f"urn:uuid:{uuid.uuid4()}"
    target = client.post("/Patient", json={**new_patient(), "managingOrganization": {
        "reference": held}}, headers=FHIR_HEADERS).json()
    patch = patch_entry(f"Patient/{target['id']}",
                        [{"op": "replace", "path": "/active", "value": False}])
    response_bundle(submit(client, transaction(post_entry(ORGANIZATION), patch)),
                    "transaction-response", 2)
    stored = client.get(f"/Patient/{target['id']}").json()
    assert stored["active"] is False and stored["managingOrganization"] == {"reference": held}
