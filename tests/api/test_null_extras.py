"""`"_x": null`, and a `_x` array of nulls only, are 400 like `"x": null` (R4 json.html: null
only holds a position in an array, and a `_x` with no id or extension is left out); they
were stored and served back as sent. XML never makes them; one stored before still reads."""

import pytest
from helpers import FHIR_HEADERS, assert_outcome, created, new_patient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient

NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">An</div>'}


@pytest.mark.parametrize("extra, where", [
    ({"gender": "male", "_gender": None}, "Patient._gender"),
    ({"_gender": None}, "Patient._gender"),
    ({"active": True, "_active": None}, "Patient._active"),
    ({"name": [{"given": ["An"], "_given": [None]}]}, "Patient.name[0]._given"),
    ({"name": [{"given": ["An", "Bình"], "_given": [None, None]}]},
     "Patient.name[0]._given"),
    ({"text": {**NARRATIVE, "_div": None}}, "Patient.text._div"),
])
def test_null_extras_are_400_with_their_path(client, extra, where):
    response = client.post("/Patient", json={**new_patient(), **extra}, headers=FHIR_HEADERS)
    outcome = assert_outcome(response, 400, code="structure", expression=where)
    assert "is null" in outcome["issue"][0]["diagnostics"]


def test_a_null_holding_a_position_beside_an_extension_is_taken(client):
    name = {"given": ["An", "Bình"], "_given": [None, {"id": "b"}]}
    assert created(client, new_patient(name=[name]))["name"] == [name]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["gender", "birthDate", "active", "language", "implicitRules"]),
       shape=st.sampled_from([None, [None], [None, None]]))
def test_any_null_extra_of_a_primitive_is_400(client, key, shape):
    response = client.post("/Patient", json={**new_patient(), f"_{key}": shape},
                           headers=FHIR_HEADERS)
    assert_outcome(response, 400, code="structure", expression=f"Patient._{key}")


def test_one_stored_before_still_reads_as_stored(client, server):
    stored = created(client, new_patient(gender="male"))
    with MongoClient(server.settings.mongodb_uri) as mongo:
        mongo[server.settings.database]["Patient"].update_one(
            {"_id": stored["id"]}, {"$set": {"resource._gender": None}})
    response = client.get(f"/Patient/{stored['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["_gender"] is None
    xml = client.get(f"/Patient/{stored['id']}", headers={"Accept": "application/fhir+xml"})
    assert xml.status_code == 200, xml.text
    assert "<gender value=\"male\"/>" in xml.text
