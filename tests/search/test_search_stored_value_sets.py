"""`:in` and `:not-in` (http://hl7.org/fhir/R4/search.html#token) with a ValueSet that a
client stored through the API, not only with the definitions the server ships: a hospital
keeps its own code lists as ValueSets and searches by them."""

import uuid

import pytest
from api.helpers import assert_outcome, created, new_patient
from search.helpers import GENDER, found

URL = f"http://benhvien.example.vn/fhir/ValueSet/gioi-nu-{uuid.uuid4().hex[:8]}"


def _value_set(version: str, codes: list[str]) -> dict:
    return {"resourceType": "ValueSet", "url": URL, "version": version, "status": "active",
            "compose": {"include": [{"system": GENDER,
                                     "concept": [{"code": code} for code in codes]}]}}


@pytest.fixture(scope="module")
def family() -> str:
    return f"Họ{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def patients(client, family) -> dict[str, str]:
    ids = {}
    for gender in ("male", "female", "other"):
        patient = new_patient(gender=gender)
        patient["name"] = [{"family": family, "given": ["An"]}]
        ids[gender] = created(client, patient)["id"]
    created(client, _value_set("1.0", ["female"]))
    created(client, _value_set("2.0", ["female", "other"]))  # stored last
    return ids


@pytest.mark.parametrize(
    ("name", "value", "genders"),
    [
        ("gender:in", URL, {"female", "other"}),
        ("gender:not-in", URL, {"male"}),
        ("gender:in", f"{URL}|1.0", {"female"}),
        ("gender:not-in", f"{URL}|1.0", {"male", "other"}),
        ("gender:in", f"{URL}|2.0,http://hl7.org/fhir/ValueSet/administrative-gender",
         {"male", "female", "other"}),
    ],
)
def test_a_stored_value_set_is_searched_by(client, family, patients, name, value, genders):
    assert found(client, "/Patient", {"family": family, name: value}) == {
        patients[gender] for gender in genders}


def test_a_version_that_is_not_stored_is_400(client, patients):
    response = client.get("/Patient", params={"gender:in": f"{URL}|9.9"})
    assert_outcome(response, 400, expression="gender:in")


def test_a_deleted_value_set_is_no_longer_searched_by(client, family):
    url = f"{URL}-xoa"
    stored = created(client, {**_value_set("1.0", ["male"]), "url": url})
    assert client.get("/Patient", params={"family": family, "gender:in": url}).status_code == 200
    assert client.delete(f"/ValueSet/{stored['id']}").status_code in (200, 204)
    assert_outcome(client.get("/Patient", params={"gender:in": url}), 400)


def test_a_value_set_is_also_named_by_a_literal_reference(client, server, family, patients):
    """search.html#token: the value of `:in` "may be literal (to an address where the value
    set can be found) or logical (a reference to ValueSet.url)": `ValueSet/id`, or that
    address absolute on this server."""
    stored = created(client, {**_value_set("3.0", ["male"]), "url": f"{URL}-nam"})
    for reference in (f"ValueSet/{stored['id']}", f"{server.base}/ValueSet/{stored['id']}"):
        assert found(client, "/Patient", {"family": family, "gender:in": reference}) == {
            patients["male"]}, reference
        assert found(client, "/Patient", {"family": family, "gender:not-in": reference}) == {
            patients["female"], patients["other"]}, reference
    assert_outcome(client.get("/Patient", params={"gender:in": "ValueSet/khong-co"}), 400,
                   expression="gender:in")


def test_a_canonical_url_with_a_version_finds_that_version(client, patients):
    """search.html#uri: a `|version` on a canonical URL is a search on the version too."""
    def versions(value: str) -> set[str]:
        response = client.get("/ValueSet", params={"url": value})
        assert response.status_code == 200, response.text
        return {e["resource"]["version"] for e in response.json().get("entry", [])}

    assert versions(URL) == {"1.0", "2.0"}
    assert versions(f"{URL}|1.0") == {"1.0"}
    assert versions(f"{URL}|3.0") == set()
