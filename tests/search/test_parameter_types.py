"""Every search parameter the server declares indexes something: its expression selects a
FHIR type (`result_types`) that the module indexing it takes (search.html#ptypes lists the
data types of each parameter type). A number parameter over `Patient.birthDate` (the
extensions pack's `age`) was declared in /metadata and matched nothing: it is an age now.
"""

from fhir_server.conformance.registry import resource_types
from fhir_server.conformance.search_parameters import search_parameters
from fhir_server.search.fhirpath import result_types
from fhir_server.search.index import type_module

# module (search/types/<name>.py) → the data types its index takes.
INDEXED = {
    "number": {"integer", "decimal", "positiveInt", "unsignedInt", "Range"},
    "age": {"date", "dateTime", "instant"},
    "date": {"date", "dateTime", "instant", "Period", "Timing"},
    "string": {"string", "markdown", "HumanName", "Address"},
    "token": {"boolean", "code", "Coding", "CodeableConcept", "ContactPoint", "Identifier",
              "string", "uri", "id"},
    "reference": {"Reference", "canonical", "uri", "Resource"},
    "quantity": {"Quantity", "Age", "Duration", "Money", "Range", "SampledData"},
    "uri": {"uri", "url", "canonical", "uuid", "oid"},
    "near": {"BackboneElement"},  # Location.position
}


def test_every_declared_parameter_indexes_what_its_expression_selects():
    unindexed = []
    for resource_type in resource_types():
        for code, parameter in search_parameters(resource_type).items():
            if parameter.type == "composite":  # its components are typed each
                continue
            module = type_module(resource_type, parameter).__name__.rpartition(".")[2]
            selected = result_types(parameter.expression, resource_type)
            if not selected & INDEXED[module]:
                unindexed.append(f"{resource_type}.{code} ({module}): {sorted(selected)}")
    assert unindexed == []


def test_a_number_over_dates_is_an_age():
    assert type_module("Patient", search_parameters("Patient")["age"]).__name__.endswith(".age")
    probability = search_parameters("RiskAssessment")["probability"]
    assert type_module("RiskAssessment", probability).__name__.endswith(".number")
