"""Building and sending FHIRPath Patch bodies (http://hl7.org/fhir/R4/fhirpatch.html) in
the HTTP API tests."""

from helpers import FHIR_HEADERS


def operation(kind: str, path: str, **parts) -> dict:
    found = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    for name, value in parts.items():
        if name == "value" and isinstance(value, list):
            found.append({"name": "value", "part": value})
        elif name in ("index", "source", "destination"):
            found.append({"name": name, "valueInteger": value})
        elif name == "name":
            found.append({"name": "name", "valueString": value})
        else:
            found.append({"name": "value", **value})
    return {"name": "operation", "part": found}


def send_patch(client, resource: dict, *operations: dict, **headers):
    body = {"resourceType": "Parameters", "parameter": list(operations)}
    return client.patch(f"/Patient/{resource['id']}", json=body,
                        headers={**FHIR_HEADERS, **headers})


def patched(client, resource: dict, *operations: dict) -> dict:
    response = send_patch(client, resource, *operations)
    assert response.status_code == 200, response.text
    assert client.get(f"/Patient/{resource['id']}").json() == response.json()
    return response.json()
