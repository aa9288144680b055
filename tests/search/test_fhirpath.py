"""The FHIRPath subset compiler (fhir_server.search.fhirpath), differentially against
fhirpathpy on the official R4 examples and on random Patient- and AuditEvent-shaped JSON."""

import json
import re
from pathlib import Path

import pytest
from fhirpathpy import evaluate
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st
from search.fhirpath_helpers import EXAMPLES, refers_to, values

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.search_parameters import search_parameters
from fhir_server.search.fhirpath import UnsupportedExpression, compile_path

ROOT = Path(__file__).resolve().parents[2]
# The official AuditEvent examples, which ../shared lacks (see data/README.md).
DATA = Path(__file__).resolve().parent / "data"
R4 = models["r4"]
# The types of the examples in ../shared/fhir-r4/examples; Binary has no search parameters of
# its own: nothing to compare.
TYPES = ("Patient", "Encounter", "DocumentReference", "Provenance", "Practitioner",
         "Organization", "Group", "AuditEvent")
# The official R4 SearchParameters (the packages' have tests of their own below).
DEFINITIONS = [d for d in registry().all("SearchParameter")
               if registry().package_of(d) == "hl7.fhir.r4.core#4.0.1"]
RESOLVE = re.compile(r"\.where\(resolve\(\) is (\w+)\)")


def parameters(resource_type: str) -> list[dict]:
    """The official SearchParameters with an expression that apply to `resource_type`."""
    bases = {resource_type, "Resource", "DomainResource"}
    return [d for d in DEFINITIONS if bases & set(d["base"]) and d.get("expression")]


def examples() -> list[tuple[str, dict]]:
    """(name, resource) of every official example of our types, also inside Bundles."""
    found = []
    for path in sorted(EXAMPLES.glob("*.json")) + sorted(DATA.glob("AuditEvent-*.json")):
        resource = json.loads(path.read_text())
        if resource["resourceType"] in TYPES:
            found.append((path.stem, resource))
        for index, entry in enumerate(resource.get("entry", [])):
            if entry.get("resource", {}).get("resourceType") in TYPES:
                found.append((f"{path.stem}#{index}", entry["resource"]))
    return found


EXAMPLE_RESOURCES = examples()


def canonical(values: list) -> list[str]:
    """Order-insensitive form; fhirpathpy returns JSON numbers inside objects as Decimal."""
    return sorted(json.dumps(value, sort_keys=True, default=float) for value in values)


def distinct(values: list) -> list:
    out: list = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def fhirpathpy(resource: dict, expression: str, base: str | None = None) -> list:
    """fhirpathpy's result; `X as T` over several items is an error there (the spec's `as`
    takes one item): then the same with `ofType(T)`, which is what we compute."""
    path = {"base": base, "expression": expression} if base else expression
    try:
        return evaluate(resource, path, model=R4)
    except ValueError as error:
        if "Expected singleton" not in str(error):
            raise
        return fhirpathpy(resource, re.sub(r"(\S+) as (\w+)", r"\1.ofType(\2)", expression), base)


def expected(resource: dict, expression: str) -> list:
    """fhirpathpy, with `Resource.` spelled as the type (it does not know the base types) and
    `.where(resolve() is T)` done by filtering the references (it has no resolve())."""
    expression = re.sub(r"\b(Domain)?Resource\.", f"{resource['resourceType']}.", expression)
    if not RESOLVE.search(expression):
        return fhirpathpy(resource, expression)
    values = []
    for branch in expression.split(" | "):
        target = RESOLVE.search(branch)
        found = fhirpathpy(resource, RESOLVE.sub("", branch))
        values += [v for v in found if not target or refers_to(v, target[1], resource)]
    return distinct(values) if " | " in expression else values


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        pytest.param(resource, parameter["expression"], id=f"{name}-{parameter['code']}")
        for name, resource in EXAMPLE_RESOURCES
        for parameter in parameters(resource["resourceType"])
    ],
)
def test_official_examples_agree_with_fhirpathpy(resource, expression):
    assert canonical(values(expression, resource["resourceType"], resource)) == canonical(
        expected(resource, expression)
    )


COMPONENT_CASES = [
    pytest.param(
        resource,
        parameter["expression"],
        component["expression"],
        id=f"{name}-{parameter['code']}-{component['expression']}",
    )
    for name, resource in EXAMPLE_RESOURCES
    for parameter in parameters(resource["resourceType"])
    for component in parameter.get("component", [])
    if fhirpathpy(resource, parameter["expression"])
]


@pytest.mark.parametrize(("resource", "base", "expression"), COMPONENT_CASES)
def test_composite_components_agree_with_fhirpathpy(resource, base, expression):
    for item in values(base, resource["resourceType"], resource):
        assert canonical(values(expression, base, item)) == canonical(
            fhirpathpy(item, expression, base)
        )


def test_the_examples_cover_every_type_and_composite():
    assert {resource["resourceType"] for _, resource in EXAMPLE_RESOURCES} == set(TYPES)
    assert {case.values[1] for case in COMPONENT_CASES} == {
        "DocumentReference.relatesTo",
        "Group.characteristic",
    }


AUDIT_EVENT_PARAMETERS = {
    "action",
    "address",
    "agent",
    "agent-name",
    "agent-role",
    "altid",
    "date",
    "entity",
    "entity-name",
    "entity-role",
    "entity-type",
    "outcome",
    "patient",
    "policy",
    "site",
    "source",
    "subtype",
    "type",
}


def test_every_audit_event_parameter_finds_values_in_the_examples():
    """So that the differential test above compares more than empty results."""
    audit_events = [r for _, r in EXAMPLE_RESOURCES if r["resourceType"] == "AuditEvent"]
    assert len(audit_events) == 9
    own = [p for p in parameters("AuditEvent") if p["base"] == ["AuditEvent"]]
    assert {p["code"] for p in own} == AUDIT_EVENT_PARAMETERS
    found = {
        p["code"]
        for p in own
        for resource in audit_events
        if compile_path(p["expression"], "AuditEvent")(resource)
    }
    assert found == AUDIT_EVENT_PARAMETERS


@pytest.mark.parametrize("resource_type", TYPES)
def test_every_expression_of_our_types_compiles(resource_type):
    for parameter in parameters(resource_type):
        compile_path(parameter["expression"], resource_type)
        for component in parameter.get("component", []):
            compile_path(component["expression"], parameter["expression"])


def test_every_parameter_the_server_indexes_compiles_packages_included():
    """What index extraction compiles (`extension('url')` of package parameters rewritten):
    none is left unindexed."""
    checked = 0
    for resource_type in registry().resource_types:
        for parameter in search_parameters(resource_type).values():
            if parameter.expression:
                compile_path(parameter.expression, resource_type)
                checked += 1
    assert checked > 2500


@pytest.mark.parametrize("expression", [
    "Patient.birthDate.extension", "Patient.birthDate.extension('http://a').value",
    "Patient.birthDate.extension.where(url = 'http://b')", "Patient.birthDate.id",
    "Patient.name.given.extension", "Patient.name.given.extension.url",
    "Patient.deceased.extension"])
def test_the_id_and_extensions_of_primitives_agree_with_fhirpathpy(expression):
    """A primitive's id and extensions, from its `_name` (json.html#primitive)."""
    patient = {"resourceType": "Patient", "birthDate": "2000-02-03",
               "_birthDate": {"id": "b1", "extension": [{"url": "http://a", "valueString": "x"},
                                                        {"url": "http://b", "valueCode": "y"}]},
               "deceasedBoolean": True, "_deceasedBoolean": {"extension": [
                   {"url": "http://a", "valueString": "z"}]},
               "name": [{"given": ["A", "B"], "_given": [None, {"extension": [
                   {"url": "http://c", "valueString": "w"}]}]}]}
    found = values(expression, "Patient", patient)
    assert found and canonical(found) == canonical(fhirpathpy(patient, expression))


TEXT = st.text(alphabet="aAé 1", max_size=3)  # small, so that values repeat
WRONG = st.sampled_from([None, True, 0, 1.5, "", "text", {"x": 1}, ["a"], [[{"city": "x"}]]])


def maybe_wrong(strategy):
    """Mostly `strategy`, sometimes a value of the wrong JSON shape or null."""
    return st.integers(0, 3).flatmap(lambda dice: WRONG if dice == 0 else strategy)


def objects(**fields):
    """JSON objects with these fields, any of them wrongly shaped or null (= missing)."""
    return st.fixed_dictionaries({k: maybe_wrong(v) for k, v in fields.items()})


def lists_of(strategy):
    return st.one_of(st.lists(maybe_wrong(strategy), max_size=4), WRONG)


def with_deceased(patient: dict) -> dict:
    """`deceased` as the choice element it is: deceasedBoolean or deceasedDateTime."""
    if "deceased" in patient:
        value = patient.pop("deceased")
        patient["deceasedBoolean" if isinstance(value, bool) else "deceasedDateTime"] = value
    return patient


PATIENTS = st.fixed_dictionaries(
    {"resourceType": st.just("Patient")},
    optional={
        "id": maybe_wrong(TEXT),
        "birthDate": maybe_wrong(st.just("2000-02-03")),
        "name": lists_of(objects(family=TEXT, given=st.lists(maybe_wrong(TEXT), max_size=3))),
        "telecom": lists_of(objects(system=st.sampled_from(["email", "phone"]), value=TEXT)),
        "address": lists_of(objects(city=TEXT, line=st.lists(TEXT, max_size=2))),
        "deceased": st.one_of(st.booleans(), st.just("2020-01-01T10:00:00Z")),
    },
).map(with_deceased)
SHAPES = {  # expression -> the JSON class of its values
    "Patient.name": dict,
    "Patient.name.family": str,
    "Patient.name.given | Practitioner.name.given": str,
    "Patient.telecom.where(system='email')": dict,
    "Patient.address.city": str,
    "Patient.birthDate": str,
    "Resource.id": str,
    "(Patient.deceased as dateTime)": str,
    "Patient.deceased.exists() and Patient.deceased != false": bool,
}


@settings(max_examples=300, deadline=None)
@given(PATIENTS)
def test_random_patients_never_raise_and_agree_with_fhirpathpy(patient):
    """fhirpathpy returns values of any JSON shape; we skip those not shaped like their type."""
    for expression, shape in SHAPES.items():
        ours = values(expression, "Patient", patient)
        theirs = [v for v in expected(patient, expression) if isinstance(v, shape)]
        assert canonical(ours) == canonical(theirs), expression


def audit_events():
    """AuditEvent-shaped JSON around the `patient`, `address`, `site` and `entity-name` paths."""
    references = objects(
        reference=st.sampled_from(["Patient/1", "Patient/2", "Device/1", "#p", "#d", "Patient/"])
    )
    agent = objects(who=references, network=objects(address=TEXT), name=TEXT)
    entity = objects(what=references, name=TEXT)
    contained = st.just(
        [{"resourceType": "Patient", "id": "p"}, {"resourceType": "Device", "id": "d"}]
    )
    return st.fixed_dictionaries(
        {"resourceType": st.just("AuditEvent")},
        optional={
            "agent": lists_of(agent),
            "entity": lists_of(entity),
            "source": maybe_wrong(objects(site=TEXT, observer=references)),
            "contained": contained,
        },
    )


AUDIT_EVENT_SHAPES = {
    "AuditEvent.agent.who.where(resolve() is Patient)"
    " | AuditEvent.entity.what.where(resolve() is Patient)": dict,
    "AuditEvent.agent.network.address": str,
    "AuditEvent.agent.name": str,
    "AuditEvent.entity.name": str,
    "AuditEvent.source.site": str,
    "AuditEvent.source.observer": dict,
}


@settings(max_examples=300, deadline=None)
@given(audit_events())
def test_random_audit_events_never_raise_and_agree_with_fhirpathpy(audit_event):
    for expression, shape in AUDIT_EVENT_SHAPES.items():
        ours = values(expression, "AuditEvent", audit_event)
        theirs = [v for v in expected(audit_event, expression) if isinstance(v, shape)]
        assert canonical(ours) == canonical(theirs), expression


@pytest.mark.parametrize("expression", ["a" * 64 + "!", "Patient." + "name." * 300 + "#",
                                        "x" * 3000 + "("])
def test_unsupported_syntax_is_refused_in_linear_time(expression):
    """FHIRPath Patch paths come from clients: `aaaa…a!` made the tokenizer's fullmatch of
    `(?:token)*` backtrack exponentially (22 letters held the server 2 s, each one more
    doubled it); tokens are now matched one after another."""
    with pytest.raises(UnsupportedExpression):
        compile_path(expression, "Patient")
