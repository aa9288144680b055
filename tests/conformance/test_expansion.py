"""The ValueSet expansion engine (http://hl7.org/fhir/R4/valueset.html#compositions) over
the R4 core terminology and hand-made CodeSystems/ValueSets put in the registry."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from operations.terminology_data import (
    DISEASE,
    GENDER,
    all_terminology,
    disease_system,
    installed,
    vs_url,
)

from fhir_server.conformance.code_systems import code_system, index_code_system
from fhir_server.conformance.expansion import expand_resource, expansion
from fhir_server.conformance.terminology import expand


@pytest.fixture(scope="module", autouse=True)
def terminology():
    with installed(*all_terminology()):
        yield


def _codes(name: str) -> set[str]:
    concepts = expansion(vs_url(name)).concepts
    assert concepts is not None, expansion(vs_url(name)).reason
    return {c.code for c in concepts}


@pytest.mark.parametrize(("name", "codes"), [
    ("all", {"infection", "viral", "dengue", "covid", "bacterial", "chronic", "diabetes",
             "hypertension"}),
    ("infections", {"infection", "viral", "dengue", "covid", "bacterial"}),
    ("below-infection", {"viral", "dengue", "covid", "bacterial"}),
    ("not-infection", {"chronic", "diabetes", "hypertension"}),
    ("chronic", {"diabetes", "hypertension"}),
    ("d-codes", {"dengue", "diabetes"}),
    ("graded", {"dengue", "diabetes"}),
    ("listed", {"dengue", "covid"}),
    ("enumerated", {"dengue", "chronic"}),
    ("imported", {"infection", "viral", "dengue", "bacterial", "female"}),
    ("both", {"dengue"}),
    ("version-2", {"infection", "viral", "dengue", "covid", "bacterial", "chronic", "diabetes",
                   "hypertension", "measles"}),
    ("active", {"infection", "viral", "dengue", "covid", "bacterial", "chronic", "diabetes"}),
    ("pre-expanded", {"38341003"}),
])
def test_compose_rules(name, codes):
    assert _codes(name) == codes


@pytest.mark.parametrize(("name", "reason"), [
    ("snomed", "content 'not-present'"),
    ("version-9", "version 9.9 of the code system"),
    ("cycle-a", "imports itself"),
    ("lookaround", "what RE2 has not"),
])
def test_what_cannot_be_expanded_says_why(name, reason):
    result = expansion(vs_url(name))
    assert result.concepts is None and reason in result.reason
    assert expand(vs_url(name)) is None


@pytest.mark.parametrize(("pattern", "codes"), [
    ("(a+)+$", set()), ("(.|.)*e", {"male", "female"}), ("(?:a*)*", set()),
    ("((ab|a))*c", set()), (".*.*.*.*n", {"unknown"}), ("(a?){26}a{26}", set()),
    ("(a{0,16}){10}b", set()), ("[a-z]{4}", {"male"}), ("male|female", {"male", "female"}),
    (r"\w+n", {"unknown"}),
])
def test_regex_filters_are_matched_in_linear_time(pattern, codes):
    """RE2 does not backtrack: patterns that held `re` (and the server) for hours are
    answered, rightly."""
    value_set = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": "http://hl7.org/fhir/administrative-gender", "filter": [
            {"property": "code", "op": "regex", "value": pattern}]}]}}
    result = expand_resource(value_set)
    assert result.concepts is not None, result.reason
    assert {concept.code for concept in result.concepts} == codes


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)a", "(?<!x)a", "a" * 257, "(unclosed"])
def test_a_regex_filter_re2_cannot_run_is_refused_saying_why(pattern):
    value_set = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": "http://hl7.org/fhir/administrative-gender", "filter": [
            {"property": "code", "op": "regex", "value": pattern}]}]}}
    result = expand_resource(value_set)
    assert result.concepts is None and "regex filter" in result.reason


def test_validation_contract_leaves_abstract_codes_out_and_keeps_flags():
    allowed = expand(vs_url("all"))
    assert allowed is not None and "chronic" not in allowed[DISEASE]
    assert "hypertension" in allowed[DISEASE]  # inactive, still valid unless the set says not
    entry = expansion(vs_url("enumerated")).get(DISEASE, "chronic")
    assert entry is not None and entry.abstract and entry.display == "Chronic disease"
    assert expansion(vs_url("enumerated")).get(DISEASE, "dengue").display == "Sốt Dengue"


def test_displays_by_language_and_hierarchy_from_both_forms():
    index = code_system(DISEASE)
    assert index is not None and index.version == "1.0.0"
    assert index.find("dengue").display_in("vi-VN", index.language) == "Sốt xuất huyết Dengue"
    assert index.find("covid").display_in("vi", index.language) == "COVID-19"
    assert index.descendants("infection") == {"viral", "dengue", "covid", "bacterial"}
    assert index.ancestors("hypertension") == {"chronic"}
    assert index.subsumes("infection", "dengue") and not index.subsumes("dengue", "infection")
    assert index.find("viral").display == "Viral infection"  # a nested concept
    assert code_system(f"{DISEASE}|2.0.0").find("measles") is not None


def test_r4_core_expansions():
    gender = expand("http://hl7.org/fhir/ValueSet/administrative-gender")
    assert gender == {GENDER: frozenset({"male", "female", "other", "unknown"})}
    # imports of other value sets are followed
    labels = expansion("http://hl7.org/fhir/ValueSet/security-labels")
    assert labels.get("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")
    # LOINC is not held
    assert "http://loinc.org" in expansion(
        "http://hl7.org/fhir/ValueSet/observation-codes").reason


def test_an_expansion_is_computed_once():
    assert expansion(vs_url("imported")) is expansion(vs_url("imported"))


# A random is-a forest: node i's parent is some node before it (or none).
forests = st.lists(st.integers(min_value=-1, max_value=30), min_size=1, max_size=25).map(
    lambda picks: [p if 0 <= p < i else None for i, p in enumerate(picks)])


def _nested(parents: list[int | None]) -> list[dict]:
    nodes = [{"code": f"c{i}"} for i in range(len(parents))]
    for i, parent in enumerate(parents):
        if parent is not None:
            nodes[parent].setdefault("concept", []).append(nodes[i])
    return [node for node, parent in zip(nodes, parents, strict=True) if parent is None]


def _by_property(parents: list[int | None]) -> list[dict]:
    return [{"code": f"c{i}", "property": [{"code": "parent", "valueCode": f"c{parent}"}]
             if parent is not None else []} for i, parent in enumerate(parents)]


@settings(max_examples=60, deadline=None)
@given(forests, st.data())
def test_is_a_is_the_same_for_nested_and_property_hierarchies(parents, data):
    root = data.draw(st.integers(min_value=0, max_value=len(parents) - 1))
    expected = {root}
    for i, parent in enumerate(parents):
        if parent in expected:
            expected.add(i)
    for concepts in (_nested(parents), _by_property(parents)):
        system = {**disease_system(), "url": "http://example.vn/cs/forest", "concept": concepts}
        value_set = {"resourceType": "ValueSet", "compose": {"include": [
            {"system": "http://example.vn/cs/forest",
             "filter": [{"property": "concept", "op": "is-a", "value": f"c{root}"}]}],
            "exclude": [{"system": "http://example.vn/cs/forest", "concept": [{"code": "c0"}]}]}}
        with installed(system):
            result = expand_resource(value_set)
            index = index_code_system(system)
        assert {c.code for c in result.concepts or ()} == {f"c{i}" for i in expected} - {"c0"}
        assert index.descendants(f"c{root}") == {f"c{i}" for i in expected} - {f"c{root}"}
