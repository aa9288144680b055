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


def test_a_conditional_reference_written_absolutely_here_is_resolved(client):
    """`<base>/Patient?identifier=...`, a conditional reference after this server's base, as
    a literal one may be written: it was stored as sent, a search URL that no read, search or
    compartment resolves, and the Observation belonged to nobody. Resolved as
    `Patient?identifier=...` is, in a create and in a transaction that makes the patient."""
    base = str(client.base_url).rstrip("/")
    value = unique_cccd()
    patient_id = created(client, new_patient(value))["id"]
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "Mạch"},
                   "subject": {"reference": f"{base}/Patient?identifier={CCCD}|{value}"}}
    assert created(client, observation)["subject"] == {"reference": f"Patient/{patient_id}"}
    other = unique_cccd()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {**observation, "subject": {
            "reference": f"{base.upper()}/Patient?identifier={CCCD}|{other}"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": new_patient(other), "request": {"method": "POST", "url": "Patient"}}]}
    response = client.post("", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    [made] = search_ids(client, "Patient", identifier=f"{CCCD}|{other}")
    written = response.json()["entry"][0]["response"]["location"].split("/fhir/")[1]
    assert client.get(written).json()["subject"] == {"reference": f"Patient/{made}"}
    missing = {**observation, "subject": {"reference": f"{base}/Patient?identifier=x|{other}"}}
    assert_outcome(create(client, missing), 404)
