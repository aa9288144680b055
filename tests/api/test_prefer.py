"""The `Prefer` header (RFC 7240) as FHIR uses it (http.html#ops, search.html#errors): its
lines are one list, and of a preference given twice the first counts (§2), whether in one
line or in two."""

import pytest
from api.helpers import FHIR_HEADERS, new_patient


@pytest.mark.parametrize("lines", [
    [("Prefer", "return=minimal, return=representation")],
    [("Prefer", "return=minimal"), ("Prefer", "return=representation")],
])
def test_of_a_return_preference_given_twice_the_first_counts(client, lines):
    response = client.post("/Patient", json=new_patient(), headers=[*FHIR_HEADERS.items(), *lines])
    assert response.status_code == 201, response.text
    assert response.content == b""
    assert response.headers["etag"] == 'W/"1"'


def test_of_a_handling_preference_given_twice_the_first_counts(client):
    strict = client.get("/Patient", params={"unknown-parameter": "x"},
                        headers={"Prefer": "handling=strict, handling=lenient"})
    assert strict.status_code == 400, strict.text
    lenient = client.get("/Patient", params={"unknown-parameter": "x", "_count": "1"},
                         headers=[("Prefer", "handling=lenient"), ("Prefer", "handling=strict")])
    assert lenient.status_code == 200, lenient.text
