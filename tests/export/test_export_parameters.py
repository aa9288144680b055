"""Kick-off parameter checks (IG v2 "Query Parameters"), for any value: what strict handling
refuses (400 naming the parameter) is exactly what lenient handling ignores with a warning."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.auth.scopes import ALL
from fhir_server.errors import BadRequest
from fhir_server.services.export.request import PATIENT, SYSTEM, parse_kick_off

NAMES = ["_outputFormat", "_since", "_until", "_type", "_elements", "patient",
         "includeAssociatedData", "_typeFilter", "organizeOutputBy", "_pretty"]
VALUES = st.one_of(
    st.sampled_from(["ndjson", "application/fhir+ndjson", "text/csv", "2024-03-01",
                     "2024-03-01T08:00:00+07:00", "2999-01-01T00:00:00Z", "yesterday",
                     "Patient", "Patient,Encounter", "Observationx", "Patient.name", "id",
                     "Patient/123", "LatestProvenanceResources", "_everything",
                     "Patient?gender=male", "Encounter?status=finished&_sort=date", ""]),
    st.text(max_size=20),
)


@settings(max_examples=200, deadline=None)
@given(level=st.sampled_from([SYSTEM, PATIENT]),
       params=st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=4))
def test_strict_refuses_exactly_what_lenient_ignores(level, params):
    lenient = parse_kick_off(level, params, False, ALL, 100)
    try:
        strict = parse_kick_off(level, params, True, ALL, 100)
    except BadRequest as refused:
        expression = refused.issues[0].expression
        assert expression and expression[0] in {name for name, _ in params}
        assert lenient.warnings and lenient.warnings[0].startswith(refused.diagnostics)
    else:
        assert lenient.warnings == [] and strict == lenient


@pytest.mark.parametrize("output_format", ["text/csv", "application/fhir+json", "nd json"])
def test_another_output_format_is_refused_strictly_and_ignored_leniently(output_format):
    params = [("_outputFormat", output_format), ("_type", "Patient")]
    with pytest.raises(BadRequest) as refused:
        parse_kick_off(SYSTEM, params, True, ALL, 100)
    assert output_format in refused.value.diagnostics
    lenient = parse_kick_off(SYSTEM, params, False, ALL, 100)
    assert lenient.types == ["Patient"] and "_outputFormat" in lenient.warnings[0]
