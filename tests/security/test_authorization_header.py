"""A request with more than one `Authorization` header is refused, whichever comes first:
the server cannot tell which caller it is (RFC 9110 §5.3: the field is not a list; RFC 6750
§3.1: a request that repeats the token is `invalid_request`), and it changes nothing."""

import httpx
import pytest
from api.helpers import FHIR_JSON

from security.helpers import patient_resource


@pytest.mark.parametrize("valid_first", [True, False])
def test_two_authorization_headers_are_400_and_change_nothing(server, client, issuer,
                                                             valid_first):
    patient = client.post("/Patient", json=patient_resource()).json()
    valid = f"Bearer {issuer.token()}"
    other = f"Bearer {issuer.token(scope='user/Encounter.rs', subject='079085000123')}"
    headers = [("Authorization", valid), ("Authorization", other), ("Accept", FHIR_JSON)]
    if not valid_first:
        headers[:2] = headers[1::-1]
    with httpx.Client(base_url=server.base) as raw:
        answers = [
            raw.get(f"/Patient/{patient['id']}", headers=headers),
            raw.get("/Patient", params={"_id": patient["id"]}, headers=headers),
            raw.post("/Patient", json=patient_resource(), headers=headers),
            raw.put(f"/Patient/{patient['id']}", headers=headers,
                    json={**patient, "birthDate": "1990-01-01"}),
        ]
    for response in answers:
        assert response.status_code == 400, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "2 Authorization headers" in response.json()["issue"][0]["diagnostics"]
        assert 'error="invalid_request"' in response.headers["www-authenticate"]
    after = client.get(f"/Patient/{patient['id']}")
    assert after.headers["etag"] == 'W/"1"' and after.json() == patient
