"""Search parameters of the extensions pack (hl7.fhir.uv.extensions.r4) over elements of
several types: each value type is indexed as its parameter's type reads it."""

from api.helpers import search_ids


def test_birth_order_is_a_token_whether_boolean_or_integer(client):
    """Patient `birthOrderBoolean` is a token over `Patient.multipleBirth[x]`, a boolean or
    the order of the birth (R4's examples of twins hold `multipleBirthInteger`): the integer
    indexed nothing, so the second twin was found neither by `birthOrderBoolean=2` nor by
    `:missing=false`."""
    ids = {}
    for value in ({"multipleBirthInteger": 2}, {"multipleBirthBoolean": True}):
        response = client.post("/Patient", json={"resourceType": "Patient", **value})
        assert response.status_code == 201, response.text
        ids[next(iter(value))] = response.json()["id"]
    both = ",".join(ids.values())
    second, multiple = ids["multipleBirthInteger"], ids["multipleBirthBoolean"]
    for criteria, expected in [({"birthOrderBoolean": "2"}, [second]),
                               ({"birthOrderBoolean": "3"}, []),
                               ({"birthOrderBoolean": "true"}, [multiple]),
                               ({"birthOrderBoolean:not": "2"}, [multiple]),
                               ({"birthOrderBoolean:missing": "false"}, sorted(ids.values()))]:
        assert sorted(search_ids(client, "Patient", **criteria, _id=both)) == expected, criteria
