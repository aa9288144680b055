"""The FHIRPath subset compiler (fhir_server.search.fhirpath) on its own terms: the FHIR type
of each node, choice elements, `resolve() is Type`, and the expressions it refuses."""

import gc
import json
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st
from search.fhirpath_helpers import EXAMPLES, refers_to, values

from fhir_server.search.fhirpath import Node, UnsupportedExpression, _distinct, compile_path

PATIENT = json.loads((EXAMPLES / "Patient-example.json").read_text())


@pytest.mark.parametrize(
    ("expression", "resource_type", "resource", "types"),
    [
        ("Patient.telecom", "Patient", PATIENT, {"ContactPoint"}),
        ("Patient.identifier", "Patient", PATIENT, {"Identifier"}),
        ("Patient.name", "Patient", PATIENT, {"HumanName"}),
        ("Patient.name.given", "Patient", PATIENT, {"string"}),
        ("Patient.address.use", "Patient", PATIENT, {"code"}),
        ("Patient.birthDate", "Patient", PATIENT, {"date"}),
        ("Patient.managingOrganization", "Patient", PATIENT, {"Reference"}),
        ("Patient.contact", "Patient", PATIENT, {"BackboneElement"}),
        ("Resource.id", "Patient", PATIENT, {"id"}),
        (
            "Resource.meta.lastUpdated",
            "Patient",
            {"meta": {"lastUpdated": "2024-01-01T00:00:00Z"}},
            {"instant"},
        ),
        (
            "Resource.meta.tag | Resource.meta.security",
            "Encounter",
            {"meta": {"tag": [{"code": "a"}], "security": [{"code": "N"}]}},
            {"Coding"},
        ),
        ("Resource.meta.profile", "Group", {"meta": {"profile": ["http://x/p"]}}, {"canonical"}),
        ("Resource.meta.source", "Group", {"meta": {"source": "http://x/s"}}, {"uri"}),
        ("(Patient.deceased as dateTime)", "Patient", {"deceasedDateTime": "2020"}, {"dateTime"}),
        ("Patient.deceased", "Patient", {"deceasedBoolean": True}, {"boolean"}),
        ("Encounter.length", "Encounter", {"length": {"value": 3, "unit": "d"}}, {"Duration"}),
        ("Encounter.class", "Encounter", {"class": {"code": "IMP"}}, {"Coding"}),
        ("Provenance.occurred", "Provenance", {"occurredPeriod": {"start": "2020"}}, {"Period"}),
        (
            "Provenance.entity.agent.who",
            "Provenance",
            {"entity": [{"agent": [{"who": {"reference": "Practitioner/1"}}]}]},
            {"Reference"},
        ),
        (
            "DocumentReference.content.attachment.url",
            "DocumentReference",
            {"content": [{"attachment": {"url": "http://x/Binary/1"}}]},
            {"url"},
        ),
        ("target", "DocumentReference.relatesTo", {"target": {"reference": "x"}}, {"Reference"}),
        ("AuditEvent.action", "AuditEvent", {"action": "R"}, {"code"}),
        ("AuditEvent.recorded", "AuditEvent", {"recorded": "2020-01-01T00:00:00Z"}, {"instant"}),
        ("AuditEvent.type", "AuditEvent", {"type": {"code": "rest"}}, {"Coding"}),
        ("AuditEvent.subtype", "AuditEvent", {"subtype": [{"code": "read"}]}, {"Coding"}),
        (
            "AuditEvent.agent.network.address",
            "AuditEvent",
            {"agent": [{"network": {"address": "10.0.0.1", "type": "2"}}]},
            {"string"},
        ),
        ("AuditEvent.agent.altId", "AuditEvent", {"agent": [{"altId": "u1"}]}, {"string"}),
        (
            "AuditEvent.agent.role",
            "AuditEvent",
            {"agent": [{"role": [{"text": "r"}]}]},
            {"CodeableConcept"},
        ),
        ("AuditEvent.agent.policy", "AuditEvent", {"agent": [{"policy": ["urn:x"]}]}, {"uri"}),
        ("AuditEvent.source.site", "AuditEvent", {"source": {"site": "Cloud"}}, {"string"}),
        ("AuditEvent.source.observer", "AuditEvent", {"source": {"observer": {}}}, {"Reference"}),
        ("AuditEvent.entity.what", "AuditEvent", {"entity": [{"what": {}}]}, {"Reference"}),
        ("AuditEvent.entity.role", "AuditEvent", {"entity": [{"role": {"code": "1"}}]}, {"Coding"}),
        ("value", "Group.characteristic", {"valueBoolean": False}, {"boolean"}),
    ],
)
def test_nodes_carry_the_fhir_type(expression, resource_type, resource, types):
    nodes = compile_path(expression, resource_type)(resource)
    assert nodes
    assert {node.type for node in nodes} == types


GROUP = {
    "resourceType": "Group",
    "characteristic": [
        {"code": {"text": "a"}, "valueCodeableConcept": {"text": "x"}},
        {"code": {"text": "b"}, "valueBoolean": True},
        {"code": {"text": "c"}, "valueQuantity": {"value": 1}},
        {"code": {"text": "d"}, "valueReference": {"reference": "Patient/1"}},
        {"code": {"text": "e"}, "valueCodeableConcept": {"text": "x"}},
    ],
}


def test_choice_elements_are_typed_by_their_json_key():
    assert compile_path("Group.characteristic.value as CodeableConcept", "Group")(GROUP) == [
        Node({"text": "x"}, "CodeableConcept"),
        Node({"text": "x"}, "CodeableConcept"),
    ]
    assert {node.type for node in compile_path("Group.characteristic.value", "Group")(GROUP)} == {
        "CodeableConcept",
        "boolean",
        "Quantity",
        "Reference",
    }
    union = (
        "(Group.characteristic.value as CodeableConcept) | (Group.characteristic.value as boolean)"
    )
    assert compile_path(union, "Group")(GROUP) == [  # a union has no duplicates
        Node({"text": "x"}, "CodeableConcept"),
        Node(True, "boolean"),
    ]


class _CountedReads(dict):
    """A resource that counts how often each of its elements is read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads: dict[str, int] = {}

    def get(self, key, default=None):
        self.reads[key] = self.reads.get(key, 0) + 1
        return super().get(key, default)


def test_the_types_of_a_choice_element_share_one_evaluation_of_its_parent():
    url = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
    patient = _CountedReads(resourceType="Patient", extension=[
        {"url": url, "valueString": "Trần"}, {"url": "http://x/other", "valueCode": "a"}])
    evaluate = compile_path(f"Patient.extension.where(url='{url}').value", "Patient")
    assert evaluate(patient) == [Node("Trần", "string")]
    # Extension.value has about fifty types; the extensions are read once, not once each.
    assert patient.reads["extension"] == 1
    assert evaluate(patient) == [Node("Trần", "string")]
    assert patient.reads["extension"] == 2


def test_an_evaluation_keeps_no_reference_to_the_resource():
    evaluate = compile_path("Patient.extension.value", "Patient")
    patient = _CountedReads(extension=[{"url": "http://x/a", "valueBoolean": True}])
    assert evaluate(patient) == [Node(True, "boolean")]
    evaluated = weakref.ref(patient)
    del patient
    gc.collect()
    assert evaluated() is None


@pytest.mark.parametrize(
    ("patient", "deceased"),
    [
        ({}, False),
        ({"deceasedBoolean": False}, False),
        ({"deceasedBoolean": True}, True),
        ({"deceasedDateTime": "2020-02-03"}, True),
        ({"deceasedBoolean": "yes"}, False),
    ],
)
def test_deceased_is_one_boolean(patient, deceased):
    expression = "Patient.deceased.exists() and Patient.deceased != false"
    assert compile_path(expression, "Patient")(patient) == [Node(deceased, "boolean")]


@pytest.mark.parametrize(
    ("reference", "is_patient"),
    [
        ("Patient/1", True),
        ("Patient/a-b.c/_history/2", True),
        ("http://example.org/fhir/Patient/1", True),
        ("https://x/fhir/Patient/1/_history/3", True),
        ("#p", True),
        ("#q", False),
        ("#missing", False),
        ("Practitioner/1", False),
        ("Patient", False),
        ("Patient/", False),
        ("xPatient/1", False),
        ("urn:uuid:1234", False),
        ("http://x/Patient/1/Observation/2", False),
        ("Patient/1?x=y", False),
        (None, False),
    ],
)
def test_resolve_is_decided_by_the_reference(reference, is_patient):
    encounter = {
        "resourceType": "Encounter",
        "contained": [
            {"resourceType": "Patient", "id": "p"},
            {"resourceType": "Practitioner", "id": "q"},
        ],
        "subject": {"reference": reference} if reference else {"display": "x"},
    }
    found = values("Encounter.subject.where(resolve() is Patient)", "Encounter", encounter)
    assert found == ([encounter["subject"]] if is_patient else [])
    assert refers_to(encounter["subject"], "Patient", encounter) is is_patient


def test_the_indexer_takes_one_item_of_the_collection_so_far():
    """`[n]` (http://hl7.org/fhirpath/#index-integer-collection), used by official R4
    expressions; the unions and choices it cannot follow are refused below."""
    patient = {"resourceType": "Patient", "name": [{"given": ["a", "b"]}, {"given": ["c"]}]}
    assert compile_path("Patient.name[0]", "Patient")(patient) == [
        Node({"given": ["a", "b"]}, "HumanName")
    ]
    assert values("Patient.name[1].given", "Patient", patient) == ["c"]
    assert values("Patient.name.given[2]", "Patient", patient) == ["c"]
    assert values("Patient.name[2]", "Patient", patient) == []
    assert values("Patient.name.given.first()", "Patient", patient) == ["a"]
    assert values("Patient.name.last().given", "Patient", patient) == ["c"]
    assert values("Patient.name[2].given.last()", "Patient", patient) == []


def test_the_extension_function_is_extension_where_url():
    """FHIR's `extension(url)` (fhirpath.html#functions), which package search parameters
    and FHIRPath Patch paths use."""
    patient = {"resourceType": "Patient", "extension": [
        {"url": "http://a", "valueString": "x"}, {"url": "http://b", "valueCode": "y"},
        {"url": "http://a", "valueString": "z"}]}
    assert values("Patient.extension('http://a').value", "Patient", patient) == ["x", "z"]
    assert values("Patient.extension('http://c')", "Patient", patient) == []


def test_a_primitive_has_its_id_and_extensions_as_children():
    """fhirpath.html: a primitive's `id` and `extension`, in JSON its `_name` object, or the
    same item of the `_name` array of a repeating one, null where an item has none
    (json.html#primitive). `.extension` from a primitive was refused ("a step .extension
    from the primitive type date"), so no path could reach a birth time."""
    birth_time = {"url": "http://birth-time", "valueDateTime": "1990-01-01T10:00:00+07:00"}
    absent = {"url": "http://absent", "valueCode": "unknown"}
    patient = {"resourceType": "Patient", "birthDate": "1990-01-01",
               "_birthDate": {"id": "b", "extension": [birth_time]},
               "deceasedDateTime": "2020", "_deceasedDateTime": {"extension": [absent]},
               "name": [{"given": ["An", "Bình", None],
                         "_given": [None, {"extension": [absent]}, {"extension": [birth_time]}]}]}
    assert values("Patient.birthDate.extension", "Patient", patient) == [birth_time]
    assert compile_path("Patient.birthDate.extension('http://birth-time').value", "Patient")(
        patient) == [Node(birth_time["valueDateTime"], "dateTime")]
    assert values("Patient.birthDate.extension.where(url = 'http://birth-time')", "Patient",
                  patient) == [birth_time]
    assert compile_path("Patient.birthDate.id", "Patient")(patient) == [Node("b", "string")]
    assert values("Patient.deceased.extension.value", "Patient", patient) == ["unknown"]
    assert values("(Patient.deceased as dateTime).extension", "Patient", patient) == [absent]
    assert values("Patient.name.given.extension", "Patient", patient) == [absent, birth_time]
    # The items of `given`, valued or not, as a FHIRPath Patch counts them.
    assert values("Patient.name.given[0].extension", "Patient", patient) == []
    assert values("Patient.name.given[1].extension", "Patient", patient) == [absent]
    assert values("Patient.name.given.last().extension", "Patient", patient) == [birth_time]
    assert values("Patient.gender.extension", "Patient", patient) == []


@pytest.mark.parametrize(
    "expression",
    [
        "Patient.name.single()",
        "Patient.extension(url)",
        "(Patient.name | Patient.address)[0]",
        "Patient.deceased[0]",
        "Patient.name[x]",
        "Patient.name[-1]",
        "Patient.nope",
        "Patient.name.nope",
        "Patient.name.where(family.startsWith('x'))",
        "Patient.gender = Patient.gender",
        "Patient.name or Patient.gender",
        "(Patient.name | Patient.address).city",
        "Patient.name.given + 'x'",
        "Patient.birthDate > @2000",
        "Patient.gender.value",
        "Patient.managingOrganization.resolve()",
        "Patient.name.where(resolve() is Patient)",
        "Patient.deceased.exists() and",
        "Patient.name as",
        "Patient.name)",
        "",
        "$this",
        "Patient.name.where(use = 'x\\'y')",
        "Patient.deceased is boolean",
    ],
)
def test_unsupported_expressions_raise(expression):
    with pytest.raises(UnsupportedExpression):
        compile_path(expression, "Patient")


@pytest.mark.parametrize("context", ["Patient/1", "patient", "Group.characteristic.value", ""])
def test_bad_contexts_raise(context):
    with pytest.raises(UnsupportedExpression):
        compile_path("id", context)


def test_other_types_branches_give_nothing():
    practitioner = {"resourceType": "Practitioner", "name": [{"family": "F"}]}
    assert values(
        "Patient.name.family | Practitioner.name.family", "Practitioner", practitioner
    ) == ["F"]
    assert values("Observation.subject.where(resolve() is Patient)", "Patient", PATIENT) == []
    assert compile_path("Patient.name", "Patient")(["not", "a", "resource"]) == []


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.text("ab", max_size=2),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from("xy"), children, max_size=2),
    max_leaves=6,
)


@given(st.lists(st.tuples(_JSON_VALUES, st.sampled_from(["string", "Coding", None])), max_size=30))
def test_union_removes_duplicates_by_fhirpath_equality_keeping_the_first(items):
    """`|` keeps the first of equal items, in order (http://hl7.org/fhirpath/#union-collections),
    and tells true from 1: what a pairwise comparison would keep, found in linear time."""
    nodes = [Node(value, fhir_type) for value, fhir_type in items]

    def same(a: Node, b: Node) -> bool:
        return a.type == b.type and json.dumps(a.value, sort_keys=True) == json.dumps(
            b.value, sort_keys=True)

    expected = [n for i, n in enumerate(nodes) if not any(same(n, m) for m in nodes[:i])]
    assert _distinct(nodes) == expected
