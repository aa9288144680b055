"""read and vread shaped by `_summary` and `_elements`
(http://hl7.org/fhir/R4/search.html#summary), and conditional read with If-None-Match and
If-Modified-Since (http://hl7.org/fhir/R4/http.html#cread)."""

from helpers import assert_outcome, created, new_patient

SUBSETTED = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"


def _subsetted(resource: dict) -> bool:
    return any(tag.get("system") == SUBSETTED and tag.get("code") == "SUBSETTED"
               for tag in resource.get("meta", {}).get("tag", []))


def test_read_and_vread_with_elements_and_summary(client):
    patient = created(client, new_patient(text={
        "status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">An</div>'}))
    for path in (f"/Patient/{patient['id']}", f"/Patient/{patient['id']}/_history/1"):
        shaped = client.get(path, params={"_elements": "gender"}).json()
        assert set(shaped) == {"resourceType", "id", "meta", "gender"}, shaped
        assert _subsetted(shaped)
        summary = client.get(path, params={"_summary": "true"}).json()
        assert "text" not in summary and summary["name"] == patient["name"], summary
        assert _subsetted(summary)
        text = client.get(path, params={"_summary": "text"}).json()
        assert set(text) == {"resourceType", "id", "meta", "text"}, text
        assert client.get(path, params={"_summary": "false"}).json() == patient
    assert client.get(f"/Patient/{patient['id']}").json() == patient
    assert_outcome(client.get(f"/Patient/{patient['id']}", params={"_summary": "yes"}), 400)
