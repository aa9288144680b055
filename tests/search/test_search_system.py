"""search-system (http://hl7.org/fhir/R4/search.html#searchcontexts): `GET [base]?...` and
`POST [base]/_search` over the types `_type` names, or every type the token may search:
matches grouped by type, pages that neither repeat nor skip and end without an empty page,
totals, includes that apply to each type, parameters every searched type must have, and the
token's scopes.

Data set: a tag of this module's own on two Patients, a Practitioner and an Observation of
one of the patients (so `_tag` finds exactly these), and a Practitioner named like a patient.
"""

import uuid

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome, next_link
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search.helpers import load, ref
from security.helpers import fhir_client

TAG_SYSTEM = "http://benhvien-bachmai.vn/fhir/tag"


@pytest.fixture(scope="module")
def tag() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
def ids(client, tag) -> dict[str, str]:
    meta = {"tag": [{"system": TAG_SYSTEM, "code": tag}]}
    return load(client, {
        "mai": {"resourceType": "Patient", "meta": meta,
                "name": [{"family": f"Hoàng{tag}", "given": ["Mai"]}]},
        "lan": {"resourceType": "Patient", "meta": meta,
                "name": [{"family": f"Vũ{tag}", "given": ["Lan"]}]},
        "hoang": {"resourceType": "Practitioner", "meta": meta,
                  "name": [{"family": f"Hoàng{tag}", "given": ["Minh"]}]},
        "weight": {"resourceType": "Observation", "meta": meta, "status": "final",
                   "code": {"text": "cân nặng"}, "subject": ref("mai"),
                   "valueQuantity": {"value": 50, "unit": "kg"}},
    })


def _found(bundle: dict) -> list[tuple[str, str]]:
    return [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle.get("entry", [])
            if e["search"]["mode"] == "match"]


def _pages(client, params: dict) -> list[dict]:
    response = client.get("", params=params)
    assert response.status_code == 200, response.text
    pages = [response.json()]
    while (url := next_link(pages[-1])) is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def test_every_type_by_a_parameter_all_types_have(client, ids, tag):
    response = client.get("", params={"_tag": f"{TAG_SYSTEM}|{tag}"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset" and bundle["total"] == 4
    assert sorted(_found(bundle)) == sorted([
        ("Observation", ids["weight"]), ("Patient", ids["mai"]), ("Patient", ids["lan"]),
        ("Practitioner", ids["hoang"])])
    kinds = [kind for kind, _ in _found(bundle)]
    assert kinds == sorted(kinds), "grouped by type"
    assert bundle["link"][0]["url"].split("?")[0] == client.base_url.__str__().rstrip("/")


def test_type_names_the_types_and_allows_their_shared_parameters(client, ids, tag):
    bundle = client.get("", params={"_type": "Patient,Practitioner",
                                    "family": f"Hoàng{tag}"}).json()
    assert sorted(_found(bundle)) == sorted([("Patient", ids["mai"]),
                                             ("Practitioner", ids["hoang"])])
    form = {"_type": "Patient,Practitioner", "family": f"Hoàng{tag}"}
    # `GET [base]/_search?...` too, as `GET [type]/_search` and a batch entry's are.
    for response in (client.post("/_search", data=form), client.get("/_search", params=form)):
        assert response.status_code == 200, response.text
        assert sorted(_found(response.json())) == sorted(_found(bundle))


@pytest.mark.parametrize("count", ["1", "2", "3"])
def test_pages_across_types_neither_repeat_nor_skip(client, ids, tag, count):
    pages = _pages(client, {"_tag": f"{TAG_SYSTEM}|{tag}", "_count": count})
    found = [match for page in pages for match in _found(page)]
    assert len(found) == len(set(found)) == 4
    assert all(_found(page) for page in pages), "no empty page"
    assert len(pages) == -(-4 // int(count))


def test_counts_and_includes(client, ids, tag):
    params = {"_tag": f"{TAG_SYSTEM}|{tag}"}
    assert client.get("", params=params | {"_summary": "count"}).json()["total"] == 4
    paged = client.get("", params=params | {"_count": "1", "_total": "accurate"}).json()
    assert paged["total"] == 4 and len(_found(paged)) == 1
    bundle = client.get("", params=params | {"_type": "Observation,Practitioner",
                                             "_include": "Observation:subject"}).json()
    included = [(e["resource"]["resourceType"], e["resource"]["id"])
                for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert included == [("Patient", ids["mai"])]


def _included(bundle: dict) -> list[tuple[str, str]]:
    return [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]
            if e["search"]["mode"] == "include"]


@pytest.mark.parametrize("revinclude", ["*", "Observation:*", "Observation:subject"])
def test_revinclude_wildcards_apply_to_each_type_searched(client, ids, revinclude):
    """`_revinclude=*` and `Type:*` as a search of one type reads them (search.html#include),
    in search-system and in a compartment's `*`."""
    for path, params in (("", {"_type": "Patient"}), (f"/Patient/{ids['mai']}/*",
                                                      {"_type": "Patient"})):
        bundle = client.get(path, params=params | {"_id": ids["mai"],
                                                   "_revinclude": revinclude}).json()
        assert ("Observation", ids["weight"]) in _included(bundle), (path, bundle)


def test_a_page_holds_each_resource_once(client, ids, tag):
    """Bundle rule bdl-7: a resource one type matches is not also included by another, and
    one two types include is there once."""
    both = client.get("", params={"_type": "Observation,Patient", "_tag": f"{TAG_SYSTEM}|{tag}",
                                  "_include": "Observation:subject",
                                  "_revinclude": "Observation:subject"}).json()
    urls = [entry["fullUrl"] for entry in both["entry"]]
    assert len(urls) == len(set(urls)), urls
    assert sorted(_found(both)) == sorted([("Observation", ids["weight"]),
                                           ("Patient", ids["mai"]), ("Patient", ids["lan"])])
    assert _included(both) == []
    twice = client.get(f"/Patient/{ids['mai']}/*", params={
        "_type": "Observation,Patient", "_include": "Observation:subject",
        "_revinclude": "Observation:subject"}).json()
    urls = [entry["fullUrl"] for entry in twice["entry"]]
    assert len(urls) == len(set(urls)), urls


@pytest.mark.parametrize(("params", "status"), [
    ({"family": "x"}, 400),  # not a parameter of every type
    ({"_type": "Patient,Observation", "family": "x"}, 400),
    ({"_type": "Patient,Khong"}, 400),
    ({"_id": "x", "_count": "nhiều"}, 400),
    ({"_id": "x", "_cursor": "not-a-cursor"}, 400),
    # Refused by a search of one type, so by one of several (probe CK).
    ({"_id": "x", "_include": "bogus"}, 400),
    ({"_id": "x", "_include": "Khong:subject"}, 400),
    ({"_id": "x", "_revinclude": "Observation"}, 400),
    ({"_id": "x", "_revinclude": "Observation:khong"}, 400),
    ({"_id": "x", "_total": "bogus"}, 400),
    # Not supported whatever the handling: ignored, the answer would hold every match.
    ({"_id": "x", "_text": "zzzz"}, 400),
    ({"_type": "Patient,Practitioner", "_content": "zzzz"}, 400),
    ({"_id": "x", "_filter": "name eq zzzz"}, 400),
    ({"_id": "x", "_contained": "true"}, 400),
])
def test_what_cannot_be_searched_is_400(client, ids, params, status):
    assert_outcome(client.get("", params=params), status)
    assert_outcome(client.get(f"/Patient/{ids['mai']}/*", params=params), status)


@pytest.mark.parametrize(("types", "keys"), [
    (None, {"mai", "lan", "hoang", "weight"}),
    ("Patient", {"mai", "lan"}),
    ("Patient,Practitioner", {"mai", "lan", "hoang"}),
])
def test_a_parameter_no_searched_type_has_is_ignored_unless_strict(client, ids, tag, types,
                                                                   keys):
    """As a search of one type ignores a parameter it does not know (http.html: "servers
    SHOULD ignore unknown or unsupported parameters"), unless Prefer: handling=strict."""
    params = {"_tag": f"{TAG_SYSTEM}|{tag}", "khong-biet": "1", "_contained": "false"}
    if types:
        params["_type"] = types
    bundle = client.get("", params=params).json()
    assert {resource_id for _, resource_id in _found(bundle)} == {ids[key] for key in keys}
    assert "khong-biet" not in bundle["link"][0]["url"]  # self: what the search used
    strict = client.get("", params=params, headers={"Prefer": "handling=strict"})
    assert_outcome(strict, 400)


def test_the_token_decides_the_types(server, issuer, ids, tag):
    with fhir_client(server.base, issuer.token("user/Patient.rs")) as http:
        bundle = http.get("", params={"_tag": f"{TAG_SYSTEM}|{tag}"}).json()
        assert {kind for kind, _ in _found(bundle)} == {"Patient"}
        assert_outcome(http.get("", params={"_type": "Observation", "_id": ids["weight"]}), 403)


def test_total_as_in_a_search_of_one_type(client, tag):
    params = {"_tag": f"{TAG_SYSTEM}|{tag}"}
    assert "total" not in client.get("", params={**params, "_total": "none"}).json()
    for mode in ("estimate", "accurate"):
        first = client.get("", params={**params, "_count": "1", "_total": mode}).json()
        assert first["total"] == 4 and next_link(first)


def test_pages_go_on_with_a_token_of_other_scopes(server, issuer, client, ids, tag):
    """The cursor names the type a page reached, not its place among the types found at
    the time: with a token of fewer types, the next page is that type's, not an empty one
    (probe CK); pasted into another search it is refused."""
    first = client.get("", params={"_tag": f"{TAG_SYSTEM}|{tag}", "_count": "1"}).json()
    assert _found(first) == [("Observation", ids["weight"])]
    with fhir_client(server.base, issuer.token("user/Patient.rs user/Practitioner.rs")) as http:
        found, url = [], next_link(first)
        while url is not None:
            page = http.get(url)
            assert page.status_code == 200, page.text
            found += _found(page.json())
            url = next_link(page.json())
    assert sorted(found) == sorted([("Patient", ids["mai"]), ("Patient", ids["lan"]),
                                    ("Practitioner", ids["hoang"])])
    cursor = next_link(first).split("_cursor=")[1]
    assert_outcome(client.get("", params={"_tag": f"{TAG_SYSTEM}|{tag}", "_type": "Patient",
                                          "_cursor": cursor}), 400)


def test_scopes_of_no_type_across_the_system_are_403(server, issuer, ids):
    """patient/ and granular scopes grant searches of a type, not of the system: with or
    without `_type`, 403 rather than an empty answer saying nothing is stored."""
    for scopes, patient in (("patient/*.rs", ids["mai"]),
                            ("user/Observation.rs?status=final", None)):
        claims = {"patient": patient} if patient else {}
        with fhir_client(server.base, issuer.token(scopes, **claims)) as http:
            assert_outcome(http.get("", params={"_id": ids["weight"]}), 403)
            assert_outcome(http.get("", params={"_id": ids["weight"],
                                                "_type": "Observation"}), 403)


def test_capabilities_declare_it(client):
    rest = client.get("/metadata").json()["rest"][0]
    assert {"code": "search-system"} in rest["interaction"]
    assert {p["name"] for p in rest["searchParam"]} >= {"_id", "_lastUpdated", "_tag"}
    assert client.get("", headers=FHIR_HEADERS, params={"_id": "khong-co"}).json().get(
        "entry") is None


def test_a_count_of_several_types_links_itself_with_its_types(client, ids, tag):
    """The self link lists the parameters used (search.html#self), `_type` too."""
    bundle = client.get("", params={"_type": "Patient,Practitioner", "_summary": "count",
                                    "_tag": f"{TAG_SYSTEM}|{tag}"}).json()
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert "_type=Patient,Practitioner" in self_link, self_link
    assert "_summary=count" in self_link, self_link


def test_every_type_of_a_compartment(client, server, issuer, ids, tag):
    """`Patient/[id]/*` (compartmentdefinition.html): the compartment's resources of every
    type, narrowed by `_type` and the parameters they share; a patient/ token gets its own."""
    bundle = client.get(f"/Patient/{ids['mai']}/*").json()
    # The signed Provenances of her record are in her compartment too (Provenance.patient).
    assert sorted(m for m in _found(bundle) if m[0] != "Provenance") == [
        ("Observation", ids["weight"]), ("Patient", ids["mai"])]
    assert {m[0] for m in _found(bundle)} == {"Observation", "Patient", "Provenance"}
    assert bundle["link"][0]["url"].endswith(f"/Patient/{ids['mai']}/*")
    only = client.get(f"/Patient/{ids['mai']}/*", params={"_type": "Observation"}).json()
    assert _found(only) == [("Observation", ids["weight"])]
    assert _found(client.get(f"/Patient/{ids['lan']}/*",
                             params={"_tag": f"{TAG_SYSTEM}|{tag}"}).json()) == [
        ("Patient", ids["lan"])]  # her Provenances do not carry the tag
    outside = client.get(f"/Patient/{ids['mai']}/*", params={"_type": "Practitioner"})
    assert_outcome(outside, 400)
    assert "not in the compartment" in outside.json()["issue"][0]["diagnostics"]
    assert_outcome(client.get(f"/Khong/{ids['mai']}/*"), 404)
    with fhir_client(server.base, issuer.token("patient/*.rs", patient=ids["lan"])) as http:
        assert_outcome(http.get(f"/Patient/{ids['mai']}/*"), 403)
        own = http.get(f"/Patient/{ids['lan']}/*", params={"_type": "Patient,Observation"})
        assert _found(own.json()) == [("Patient", ids["lan"])]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=st.lists(st.tuples(
    st.sampled_from(["_type", "_count", "_cursor", "_include", "_revinclude", "_sort",
                     "_summary", "_total", "_elements", "_id", "_tag", "_lastUpdated",
                     "family", "_has:Observation:subject:status", "_include:iterate"]),
    st.sampled_from(["", ",", "Patient", "Patient,Observation", "*", "Observation:subject",
                     "Provenance:target", "-_lastUpdated", "count", "accurate", "0", "-1",
                     "ge2020", "x", "id,meta", "Khong", "final"])), max_size=4))
def test_any_parameters_are_answered_or_refused_never_500(client, ids, params):
    for path in ("", f"/Patient/{ids['mai']}/*"):
        response = client.get(path, params=params)
        assert response.status_code in (200, 400, 403), (path, params, response.text)
