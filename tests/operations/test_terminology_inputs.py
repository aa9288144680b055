"""What a terminology operation makes of what it is given (probe BC): one of two alternative
inputs, never both silently (nor, at instance level, the instance and another resource:
probe CE); a filter naming a property or a code the code system does not have is refused,
not an empty binding; `excludeNotForUI` leaves out abstract codes; an `other-map` rule
follows a ConceptMap stored through the API; `$lookup` says whether a code is inactive."""

import uuid

import pytest
from api.helpers import FHIR_HEADERS, assert_outcome


@pytest.fixture(scope="module")
def system(client) -> str:
    """A department code system: `noi` (internal medicine, abstract, a grouping) over
    `tim-mach` (cardiology) and `tieu-hoa-cu` (retired), with a `khoi` property."""
    url = f"urn:bv:cs:khoa-{uuid.uuid4().hex[:8]}"
    code_system = {
        "resourceType": "CodeSystem", "url": url, "status": "active", "content": "complete",
        "property": [{"code": "khoi", "type": "string"},
                     {"code": "notSelectable", "type": "boolean"},
                     {"code": "status", "type": "code"}],
        "concept": [{"code": "noi", "display": "Khối Nội",
                     "property": [{"code": "notSelectable", "valueBoolean": True}],
                     "concept": [
                         {"code": "tim-mach", "display": "Tim mạch",
                          "property": [{"code": "khoi", "valueString": "noi"}]},
                         {"code": "tieu-hoa-cu", "display": "Tiêu hoá (cũ)",
                          "property": [{"code": "status", "valueCode": "retired"}]}]}]}
    response = client.post("/CodeSystem", json=code_system, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    return url


def _value_set(system: str, **include) -> dict:
    return {"resourceType": "ValueSet", "status": "active",
            "compose": {"include": [{"system": system, **include}]}}


def _expand(client, value_set: dict, *extra: dict):
    body = {"resourceType": "Parameters",
            "parameter": [{"name": "valueSet", "resource": value_set}, *extra]}
    return client.post("/ValueSet/$expand", json=body, headers=FHIR_HEADERS)


def _codes(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [c["code"] for c in response.json()["expansion"].get("contains", [])]


@pytest.mark.parametrize(("path", "params"), [
    ("/CodeSystem/$lookup", {"system": "{system}", "code": "noi",
                             "coding": "{system}|tim-mach"}),
    ("/CodeSystem/$subsumes", {"system": "{system}", "codeA": "noi",
                               "codingA": "{system}|tim-mach", "codeB": "tim-mach"}),
])
def test_two_alternative_inputs_are_400_not_one_of_them(client, system, path, params):
    """One was answered and the other left unread ($validate-code already refused)."""
    given = {name: value.format(system=system) for name, value in params.items()}
    assert_outcome(client.get(path, params=given), 400)


def test_expand_takes_a_url_or_a_value_set_not_both(client, system):
    response = _expand(client, _value_set(system),
                       {"name": "url", "valueUri": "http://hl7.org/fhir/ValueSet/gender"})
    assert_outcome(response, 400)


def _stored(client, resource: dict) -> str:
    response = client.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    return f"{resource['resourceType']}/{response.json()['id']}"


def test_at_instance_level_another_resource_or_system_is_400(client, system):
    """The request is on the instance: a `valueSet`, `codeSystem` or `conceptMap` sent as
    well, or `$subsumes`' `system` naming another code system, was ignored without a word
    (the instance answered), while a `url` naming another resource was 400 already."""
    [stored_system] = client.get("/CodeSystem", params={"url": system}).json()["entry"]
    code_system = f"CodeSystem/{stored_system['resource']['id']}"
    value_set = _stored(client, {**_value_set(system), "url": f"{system}/vs"})
    concept_map = _stored(client, {"resourceType": "ConceptMap", "status": "active", "group": [
        {"source": system, "target": "urn:bv:other", "element": [
            {"code": "noi", "target": [{"code": "N", "equivalence": "equivalent"}]}]}]})
    code = [{"name": "system", "valueUri": system}, {"name": "code", "valueCode": "noi"}]
    for path, name, *given in (
        (f"{value_set}/$expand", "valueSet"),
        (f"{value_set}/$validate-code", "valueSet", *code),
        (f"{code_system}/$validate-code", "codeSystem", code[1]),
        (f"{concept_map}/$translate", "conceptMap", *code),
    ):
        other = {"resourceType": name[0].upper() + name[1:], "status": "active"}
        body = {"resourceType": "Parameters",
                "parameter": [{"name": name, "resource": other}, *given]}
        response = client.post(f"/{path}", json=body, headers=FHIR_HEADERS)
        assert "name one resource" in assert_outcome(response, 400, expression=name)[
            "issue"][0]["diagnostics"], path
        assert client.post(f"/{path}", json={**body, "parameter": given},
                           headers=FHIR_HEADERS).status_code == 200, path
    subsumes = {"codeA": "noi", "codeB": "tim-mach"}
    assert_outcome(client.get(f"/{code_system}/$subsumes", params={
        **subsumes, "system": "http://hl7.org/fhir/administrative-gender"}), 400,
        expression="system")
    response = client.get(f"/{code_system}/$subsumes", params={**subsumes, "system": system})
    assert response.json()["parameter"] == [{"name": "outcome", "valueCode": "subsumes"}]


@pytest.mark.parametrize("rule", [
    {"property": "khoii", "op": "=", "value": "noi"},  # a typo of `khoi`
    {"property": "concept", "op": "is-a", "value": "noi-khoa"},  # no such code
])
def test_a_filter_the_code_system_cannot_answer_is_400_not_an_empty_binding(client, system,
                                                                               rule):
    assert_outcome(_expand(client, _value_set(system, filter=[rule])), 400)
    assert _codes(_expand(client, _value_set(system, filter=[
        {"property": "khoi", "op": "=", "value": "noi"}]))) == ["tim-mach"]


def test_exclude_not_for_ui_leaves_out_abstract_codes(client, system):
    every = _codes(_expand(client, _value_set(system)))
    assert "noi" in every
    for_ui = _expand(client, _value_set(system),
                     {"name": "excludeNotForUI", "valueBoolean": True})
    assert _codes(for_ui) == [code for code in every if code != "noi"]
    assert {"name": "excludeNotForUI", "valueBoolean": True} in (
        for_ui.json()["expansion"]["parameter"])


def test_lookup_says_whether_a_code_is_inactive(client, system):
    for code, inactive in (("tim-mach", False), ("tieu-hoa-cu", True)):
        response = client.get("/CodeSystem/$lookup", params={
            "system": system, "code": code, "property": "inactive"})
        assert response.status_code == 200, response.text
        [found] = [p["part"] for p in response.json()["parameter"] if p["name"] == "property"]
        assert found == [{"name": "code", "valueCode": "inactive"},
                         {"name": "value", "valueBoolean": inactive}]


def test_other_map_follows_a_concept_map_stored_through_the_api(client):
    """conceptmap.html#unmapped: `other-map` uses "the map identified by the canonical URL";
    one stored through the API was not looked for ("No mapping found")."""
    suffix = uuid.uuid4().hex[:8]
    source, target = f"urn:bv:cs:cu-{suffix}", f"urn:bv:cs:moi-{suffix}"
    fallback, first = f"urn:bv:cm:du-phong-{suffix}", f"urn:bv:cm:chinh-{suffix}"
    maps = [
        {"url": fallback, "group": [{"source": source, "target": target, "element": [
            {"code": "zz", "target": [{"code": "ZZ-moi", "equivalence": "equivalent"}]}]}]},
        {"url": first, "group": [{"source": source, "target": target, "element": [
            {"code": "aa", "target": [{"code": "AA-moi", "equivalence": "equivalent"}]}],
            "unmapped": {"mode": "other-map", "url": fallback}}]},
    ]
    for concept_map in maps:
        response = client.post("/ConceptMap", json={"resourceType": "ConceptMap",
                                                    "status": "active", **concept_map},
                               headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text
    response = client.get("/ConceptMap/$translate", params={
        "url": first, "system": source, "code": "zz"})
    assert response.status_code == 200, response.text
    parameters = response.json()["parameter"]
    assert parameters[0] == {"name": "result", "valueBoolean": True}, parameters
    concepts = [part["valueCoding"]["code"] for p in parameters if p["name"] == "match"
                for part in p["part"] if part["name"] == "concept"]
    assert concepts == ["ZZ-moi"]


def test_displays_follow_accept_language_without_display_language(client):
    """`Accept-Language: vi` was ignored: English displays though Vietnamese designations
    were there (R5's $expand reads the header; `displayLanguage` still wins)."""
    url = f"urn:bv:cs:gioi-{uuid.uuid4().hex[:8]}"
    code_system = {"resourceType": "CodeSystem", "url": url, "status": "active",
                   "content": "complete", "concept": [
                       {"code": "f", "display": "Female",
                        "designation": [{"language": "vi", "value": "Nữ"}]}]}
    assert client.post("/CodeSystem", json=code_system,
                       headers=FHIR_HEADERS).status_code == 201
    value_set = _value_set(url)

    def display(language: str | None, *extra: dict) -> str:
        body = {"resourceType": "Parameters",
                "parameter": [{"name": "valueSet", "resource": value_set}, *extra]}
        headers = {**FHIR_HEADERS, **({"Accept-Language": language} if language else {})}
        response = client.post("/ValueSet/$expand", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["expansion"]["contains"][0]["display"]

    assert display(None) == "Female"
    assert display("vi-VN,vi;q=0.9,en;q=0.5") == "Nữ"
    assert display("vi", {"name": "displayLanguage", "valueCode": "en"}) == "Female"
    looked_up = client.get("/CodeSystem/$lookup", params={"system": url, "code": "f"},
                           headers={"Accept-Language": "vi"}).json()
    assert {"name": "display", "valueString": "Nữ"} in looked_up["parameter"]


def test_other_maps_naming_each_other_are_followed_once(client):
    """Maps whose groups name each other by `other-map` made the paths through them grow as
    groups^maps (five maps of 25 groups held every client 3.7 s); a cycle ends, and a chain
    of six stored maps is followed to its end."""
    suffix = uuid.uuid4().hex[:8]
    source, target = f"urn:bv:cs:a-{suffix}", f"urn:bv:cs:b-{suffix}"
    urls = [f"urn:bv:cm:{n}-{suffix}" for n in range(6)]
    for n, url in enumerate(urls):
        groups = [{"source": source, "target": target, "element": [
                       {"code": f"z{g}", "target": [{"code": "Z", "equivalence": "equal"}]}],
                   "unmapped": {"mode": "other-map", "url": urls[(n + 1) % len(urls)]}}
                  for g in range(10)]
        if n == len(urls) - 1:  # the last maps the code, and names the first again
            groups[0]["element"] = [{"code": "x", "target": [
                {"code": "X", "equivalence": "equivalent"}]}]
        response = client.post("/ConceptMap", json={
            "resourceType": "ConceptMap", "status": "active", "url": url, "group": groups},
            headers=FHIR_HEADERS)
        assert response.status_code == 201, response.text
    for code, result in (("x", True), ("y", False)):
        response = client.get("/ConceptMap/$translate", params={
            "url": urls[0], "system": source, "code": code})
        assert response.status_code == 200, response.text
        assert response.json()["parameter"][0] == {"name": "result", "valueBoolean": result}


def test_a_retired_concept_is_inactive_to_filters_too(client, system):
    """`$lookup` called the retired concept inactive; an `inactive = true` filter left it
    out."""
    rule = {"property": "inactive", "op": "=", "value": "true"}
    assert _codes(_expand(client, _value_set(system, filter=[rule]))) == ["tieu-hoa-cu"]


@pytest.mark.parametrize(("path", "params", "said"), [
    # A CodeableConcept has no URL form: the message said none of the three was given.
    ("/ValueSet/$validate-code", {"url": "http://hl7.org/fhir/ValueSet/administrative-gender",
                                  "codeableConcept": "http://hl7.org/fhir/administrative-gender|male"},
     "cannot be written in a URL"),
    # CodeSystem/$validate-code has no `system`: its message offered one.
    ("/CodeSystem/$validate-code", {"code": "male"}, "'url', or a coding with a system"),
    ("/CodeSystem/$subsumes", {"codeA": "male", "codeB": "female"}, "'system', or codings"),
])
def test_a_missing_or_misplaced_input_is_named_as_the_operation_takes_it(client, path, params,
                                                                       said):
    outcome = assert_outcome(client.get(path, params=params), 400)
    assert said in outcome["issue"][0]["diagnostics"], outcome
