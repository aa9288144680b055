"""`_list` (http://hl7.org/fhir/R4/search.html#list): the resources a List holds.

Data set: three Patients; List `ward` holds the first two and an Observation, List `other`
the third; a List deleted after it was made; an Observation of the first Patient (in `ward`)
and one of the third (in no List).
"""

import pytest
from api.helpers import assert_outcome
from search.helpers import assert_bad_parameter, expected, found, load, ref
from security.helpers import fhir_client

VITALS = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}


def _list(*items: str) -> dict:
    return {"resourceType": "List", "status": "current", "mode": "working",
            "entry": [{"item": ref(item)} for item in items]}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    data = {key: {"resourceType": "Patient", "name": [{"family": key}]}
            for key in ("an", "binh", "chi")}
    data |= {key: {"resourceType": "Observation", "status": "final", "code": VITALS,
                   "subject": ref(subject)} for key, subject in (("pulse", "an"),
                                                                 ("temperature", "chi"))}
    data |= {"ward": _list("an", "binh", "pulse"), "other": _list("chi"),
             "gone": _list("chi")}
    loaded = load(client, data)
    assert client.delete(f"/List/{loaded['gone']}").status_code == 204
    return loaded


@pytest.mark.parametrize(("lists", "keys"), [
    ("{ward}", {"an", "binh"}),
    ("{other}", {"chi"}),
    ("{ward},{other}", {"an", "binh", "chi"}),  # any of the Lists
    ("{gone}", set()),  # deleted: holds nothing
    ("no-such-list", set()),
])
def test_list_finds_what_the_list_holds_of_the_type(client, ids, lists, keys):
    assert found(client, "/Patient", {"_list": lists.format(**ids)}) == expected(ids, keys)


def test_list_combines_with_other_parameters(client, ids):
    both = [("_list", ids["ward"]), ("_list", ids["other"])]
    assert found(client, "/Patient", both) == set()  # in both Lists: none
    assert found(client, "/Patient", {"_list": ids["ward"], "family": "binh"}) == {ids["binh"]}
    assert found(client, "/Observation", {"_list": ids["ward"]}) == {ids["pulse"]}


STRICT = {"Prefer": "handling=strict"}


@pytest.mark.parametrize(("path", "params", "keys"), [
    ("", {"_type": "Patient", "_list": "{ward}"}, {"an", "binh"}),
    ("", {"_type": "Patient,Observation", "_list": "{ward}"}, {"an", "binh", "pulse"}),
    ("", {"_list": "{ward}"}, {"an", "binh", "pulse"}),  # every type
    ("", {"_list": "{other}"}, {"chi"}),
    ("/Patient/{an}/*", {"_list": "{ward}"}, {"an", "pulse"}),
    ("/Patient/{chi}/*", {"_list": "{ward}"}, set()),
    ("/Patient/{an}/Observation", {"_list": "{ward}"}, {"pulse"}),
    ("/Patient/{chi}/Observation", {"_list": "{other}"}, set()),
    ("/Observation", {"subject:Patient._list": "{other}"}, {"temperature"}),
    ("/Observation", {"subject._list": "{ward}"}, {"pulse"}),
    ("/Patient", {"_has:Observation:subject:_list": "{ward}"}, {"an"}),
])
@pytest.mark.parametrize("headers", [{}, STRICT])
def test_list_filters_every_search_as_the_other_parameters_of_all_resources(
        client, ids, path, params, keys, headers):
    """`_list` is a parameter of every resource (search.html#all): a search of several
    types, of a compartment, a chain and `_has` take it as they take `_id`; left out, it
    would answer every resource of the types searched."""
    path = path.format(**ids)
    params = {name: value.format(**ids) for name, value in params.items()}
    assert found(client, path, params, headers) == expected(ids, keys)


@pytest.mark.parametrize("params", [{"_list": "$current-problems"}, {"_list:missing": "true"}])
def test_what_list_cannot_do_is_a_400_naming_it(client, ids, params):
    assert_bad_parameter(client.get("/Patient", params=params), "_list")


def test_list_needs_a_scope_to_read_lists(server, issuer, ids):
    with fhir_client(server.base, issuer.token("user/Patient.rs")) as http:
        assert found(http, "/Patient", {"family": "an"}) >= {ids["an"]}
        assert_outcome(http.get("/Patient", params={"_list": ids["ward"]}), 403)
