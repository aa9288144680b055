"""Bulk export writes decimals with the digits they were sent with (`13.50` stays `13.50`)."""

import re

from bulk_helpers import create, export, patient

DIGITS = ["13.50", "1400.00", "0.123456789012345678901"]


def test_exported_ndjson_keeps_the_digits_sent(client):
    subject = create(client, patient())
    components = ",".join(
        f'{{"code":{{"text":"c{i}"}},"valueQuantity":{{"value":{value}}}}}'
        for i, value in enumerate(DIGITS))
    text = ('{"resourceType":"Observation","status":"final","code":{"text":"precision"},'
            f'"subject":{{"reference":"Patient/{subject["id"]}"}},"component":[{components}]}}')
    response = client.post("/Observation", content=text,
                           headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201, response.text
    observation_id = response.json()["id"]
    manifest = export(client, params={"_type": "Observation",
                                      "_typeFilter": f"Observation?_id={observation_id}"})
    [output] = manifest["output"]
    lines = client.get(output["url"], headers={"Accept": "application/fhir+ndjson"}).text
    assert re.findall(r'"value":(-?[0-9][0-9.eE+-]*)', lines) == DIGITS
