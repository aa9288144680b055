"""Profiles are checked on resources whose base validation found bad values (a date of no
calendar, a code of no value set), so that one base error does not hide the profile's: random
mutations of the VN Core and IPS instances (any JSON value put anywhere) never make the
validation raise, and a base error whose structure is sound keeps the profile's issues."""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_profile_ips import EXAMPLES, ips_definitions  # noqa: F401 (its fixture)
from test_validation_properties import JSON
from test_vn_core_profiles import BIRTH_WEIGHT, CONDITION, ENCOUNTER, PATIENT, VN

from fhir_server.conformance.validation import validation_issues

IPS = "http://hl7.org/fhir/uv/ips/StructureDefinition/"
INSTANCES = [
    (PATIENT, VN + "vn-core-patient"),
    (ENCOUNTER, VN + "vn-core-encounter"),
    (CONDITION, VN + "vn-core-condition-encounter-diagnosis"),
    (BIRTH_WEIGHT, VN + "observation-birth-weight"),
    *((body, url) for body in EXAMPLES.values()
      for url in body.get("meta", {}).get("profile", ()) if url.startswith(IPS)),
]


# Any JSON, and values shaped like FHIR's in the wrong place (a Coding for a system, ...).
VALUES = JSON | st.sampled_from([
    5, 1.5, True, "", "2020-13-45", 10**30, {}, [], [1], ["x"], {"value": "x"},
    {"system": "http://loinc.org", "code": "8339-4"}, {"coding": "x"}, [{"system": 5}],
    {"reference": {"reference": "Patient/p1"}}, {"extension": [{"url": 5}]},
])


def _properties(value: object) -> list[tuple[dict | list, str | int]]:
    """(holder, key or index) of every value below `value` but its resourceType."""
    found: list[tuple[dict | list, str | int]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "resourceType":
                found.append((value, key))
                found += _properties(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            found += _properties(item)
    return found


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_a_mutated_instance_is_validated_against_its_profile_without_raising(data):
    resource, profile = data.draw(st.sampled_from(INSTANCES))
    resource = copy.deepcopy(resource)
    for _ in range(data.draw(st.integers(1, 3))):
        places = _properties(resource)
        if not places:
            break
        holder, key = data.draw(st.sampled_from(places))
        holder[key] = copy.deepcopy(data.draw(VALUES))  # type: ignore[index]
    issues = validation_issues(resource, (profile,))
    assert all(issue.severity in ("fatal", "error", "warning", "information")
               for issue in issues)


def test_a_bad_value_keeps_the_profiles_issues():
    """An Encounter of an unknown status (a required binding of R4) whose chief complaint
    VN Core wants is missing: both are errors."""
    encounter = copy.deepcopy(ENCOUNTER)
    encounter["status"] = "walking"
    encounter["diagnosis"][0]["use"]["coding"][0]["code"] = "DD"
    errors = [(i.expression[0], i.profile) for i in
              validation_issues(encounter, (VN + "vn-core-encounter",)) if i.severity == "error"]
    assert ("Encounter.status", None) in errors
    assert any(profile == VN + "vn-core-encounter" for _, profile in errors), errors
