"""How conditional criteria are read (http://hl7.org/fhir/R4/http.html#ccreate): as the same
search reads them, references written absolutely to this server included, and quoted in
messages as read."""

from urllib.parse import quote

from helpers import (
    CCCD,
    FHIR_HEADERS,
    assert_outcome,
    create,
    created,
    new_patient,
    search_ids,
    unique_cccd,
)


def test_conditional_messages_show_the_criteria_as_read_not_percent_encoded(client):
    """fhirpy, fhirclient and fhir-kit-client percent-encode `|` and `:`; the diagnostics
    quoted `identifier=urn%3Aoid...%7C...` to their users."""
    value = unique_cccd()
    for _ in range(2):
        created(client, new_patient(value))
    criteria = f"identifier={quote(CCCD, safe='')}%7C{value}"
    for response in (client.put(f"/Patient?{criteria}", json=new_patient(value),
                                headers=FHIR_HEADERS),
                     client.delete(f"/Patient?{criteria}"),
                     create(client, new_patient(value), **{"If-None-Exist": criteria})):
        diagnostics = assert_outcome(response, 412)["issue"][0]["diagnostics"]
        assert f"identifier={CCCD}|{value}" in diagnostics, diagnostics


def test_criteria_naming_a_resource_by_its_absolute_url_here_match_it(client):
    """`subject=<base>/Patient/X` finds what `subject=Patient/X` finds, in a search and so in
    conditional writes: an If-None-Exist, a conditional update and reference found nothing
    (400/404), and a conditional delete answered 204 leaving the Flag in place."""
    patient_id = created(client, new_patient(unique_cccd()))["id"]
    flag = {"resourceType": "Flag", "status": "active", "code": {"text": "dị ứng"},
            "subject": {"reference": f"Patient/{patient_id}"}}
    flag_id = created(client, flag)["id"]
    absolute = f"{str(client.base_url).rstrip('/')}/Patient/{patient_id}"
    criteria = f"subject={absolute}"
    assert search_ids(client, "Flag", subject=absolute) == [flag_id]
    response = create(client, flag, **{"If-None-Exist": criteria})
    assert response.status_code == 200 and response.json()["id"] == flag_id, response.text
    response = client.put(f"/Flag?{criteria}", json={**flag, "status": "inactive"},
                          headers=FHIR_HEADERS)
    assert response.status_code == 200 and response.json()["id"] == flag_id, response.text
    basic = {"resourceType": "Basic", "code": {"text": "ghi chú"},
             "subject": {"reference": f"Flag?{criteria}"}}
    assert created(client, basic)["subject"]["reference"] == f"Flag/{flag_id}"
    assert client.delete(f"/Flag?{criteria}").status_code in (200, 204)
    assert client.get(f"/Flag/{flag_id}").status_code == 410
