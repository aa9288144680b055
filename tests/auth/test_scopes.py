"""SMART App Launch 2.x scopes, v2 and v1 syntax
(http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.auth.scopes import (
    ALL,
    INTERACTION_PERMISSION,
    PERMISSIONS,
    Permissions,
    Scope,
    grant,
    parse_scopes,
)

TYPES = ["Patient", "Encounter", "Observation", "Condition"]


def scope(text: str) -> Scope:
    (parsed,) = parse_scopes(text)
    return parsed


@pytest.mark.parametrize(
    ("text", "context", "resource_type", "letters"),
    [
        ("user/Patient.rs", "user", "Patient", "rs"),
        ("system/*.cruds", "system", "*", "cruds"),
        ("patient/Observation.r", "patient", "Observation", "r"),
        ("user/Encounter.cud", "user", "Encounter", "cud"),
        ("system/Patient.s", "system", "Patient", "s"),
        ("user/Patient.read", "user", "Patient", "rs"),
        ("user/Patient.write", "user", "Patient", "cud"),
        ("system/*.*", "system", "*", "cruds"),
        ("user/*.read", "user", "*", "rs"),
    ],
)
def test_v2_and_v1_forms(text, context, resource_type, letters):
    assert scope(text) == Scope(context, resource_type, frozenset(letters))


@pytest.mark.parametrize(
    "text",
    [
        "openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access",
        "profile",
        "user/Patient.sr",  # letters out of order
        "user/Patient.rr",  # repeated letter
        "user/Patient.",  # no permission
        "user/Patient.x",
        "user/Patient.rsx",
        "user/Patient.Read",
        "user/patient.rs",  # not a resource type name
        "user/Pat-ient.rs",
        "user/Patient",
        "admin/Patient.rs",  # unknown context
        "User/Patient.rs",
        "user/Observation.rs?",  # a granular scope without its search
        "user/Patient.rs\x00",
        "/Patient.rs",
        "user/.rs",
        "user/**.rs",
    ],
)
def test_other_scopes_are_ignored(text):
    assert parse_scopes(text) == ()


def test_a_granular_scope_grants_where_its_search_matches_only():
    granted = Permissions.from_text(
        "user/Observation.rs?category=laboratory system/*.r?_tag=a|b "
        "patient/Condition.rs?category=problem-list-item user/Observation.s?code=1")
    assert scope("user/Observation.rs?category=laboratory") == Scope(
        "user", "Observation", frozenset("rs"), "category=laboratory")
    assert not granted.allows("Observation", "r") and not granted.allows("Observation", "s")
    assert granted.queries("Observation", "r") == ("category=laboratory", "_tag=a|b")
    assert granted.queries("Observation", "s") == ("category=laboratory", "code=1")
    assert granted.queries("Patient", "r") == ("_tag=a|b",)
    assert granted.queries("Observation", "c") == ()
    assert granted.queries("Condition", "r") == ("_tag=a|b",)
    assert granted.queries("Condition", "r", patient=True) == ("category=problem-list-item",)
    assert not granted.patient_allows("Condition", "r") and granted.has_patient_grants


@pytest.mark.parametrize(("text", "normalised"), [
    ("user/Observation.rs?category=laboratory user/Observation.r?category=laboratory",
     "user/Observation.rs?category=laboratory"),
    ("user/Observation.rs?category=laboratory user/Observation.rs", "user/Observation.rs"),
    ("user/Observation.rs?category=laboratory user/*.r",
     "user/*.r user/Observation.rs?category=laboratory"),
    ("user/Observation.r?category=laboratory system/*.rs",
     "system/*.rs user/Observation.r?category=laboratory"),
])
def test_granular_scopes_a_whole_scope_covers_are_left_out(text, normalised):
    assert Permissions.from_text(text).text() == normalised


def test_a_scope_string_keeps_order_and_drops_duplicates():
    parsed = parse_scopes("openid fhirUser  user/Patient.rs\tuser/Encounter.read user/Patient.rs")
    assert [s.text() for s in parsed] == ["user/Patient.rs", "user/Encounter.rs"]


def test_permissions_of_user_and_system_scopes():
    permissions = Permissions.from_text("user/Patient.rs system/Observation.c openid")
    assert permissions.allows("Patient", "r") and permissions.allows("Patient", "s")
    assert not permissions.allows("Patient", "u")
    assert permissions.allows("Observation", "c") and not permissions.allows("Observation", "r")
    assert not permissions.allows("Encounter", "r")


def test_a_wildcard_covers_every_type():
    permissions = Permissions.from_text("user/*.rs user/Patient.u")
    assert permissions.allows("Encounter", "s") and permissions.allows("Patient", "r")
    assert permissions.allows("Patient", "u") and not permissions.allows("Encounter", "u")
    assert permissions.allowed_types("u", TYPES) == ["Patient"]
    assert permissions.allowed_types("r", TYPES) == TYPES


def test_patient_scopes_grant_only_within_a_patients_compartment():
    permissions = Permissions.from_text("patient/*.rs patient/Patient.write user/Encounter.r")
    assert not any(permissions.allows(t, p) for t in TYPES if t != "Encounter"
                   for p in PERMISSIONS)
    assert permissions.text() == "user/Encounter.r"
    assert permissions.patient_allows("Observation", "s")
    assert permissions.patient_allows("Patient", "u") and permissions.patient_allows("Patient", "r")
    assert not permissions.patient_allows("Observation", "u")


def test_a_permission_is_one_letter_of_cruds():
    for bad in ("", "x", "rs", "R", "read"):
        with pytest.raises(ValueError, match="one letter"):
            Permissions().allows("Patient", bad)


def test_all_allows_everything():
    assert all(ALL.allows(t, p) for t in TYPES for p in PERMISSIONS)
    assert ALL.text() == "system/*.cruds"


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("user/Patient.read user/Patient.write", "user/Patient.cruds"),
        ("system/*.rs system/Patient.r system/Encounter.cud", "system/*.rs system/Encounter.cud"),
        ("user/Patient.rs system/Patient.rs", "user/Patient.rs system/Patient.rs"),
        ("user/Observation.s user/Observation.r", "user/Observation.rs"),
        ("openid patient/*.rs", ""),
    ],
)
def test_text_is_the_normalised_v2_form(text, normalised):
    assert Permissions.from_text(text).text() == normalised
    assert Permissions.from_text(normalised) == Permissions.from_text(text)


def test_permissions_are_values():
    assert Permissions.from_text("user/Patient.read") == Permissions.from_text("user/Patient.rs")
    assert hash(Permissions.from_text("user/*.r")) == hash(Permissions.from_text("user/*.r"))
    assert Permissions.from_text("user/*.r") != Permissions.from_text("system/*.r")
    assert repr(ALL) == "Permissions('system/*.cruds')"


def test_interaction_letters():
    assert INTERACTION_PERMISSION["read"] == "r" and INTERACTION_PERMISSION["vread"] == "r"
    assert INTERACTION_PERMISSION["search-type"] == "s"
    assert INTERACTION_PERMISSION["patch"] == "u" and INTERACTION_PERMISSION["delete"] == "d"
    assert set(INTERACTION_PERMISSION.values()) == set(PERMISSIONS)


@pytest.mark.parametrize(
    ("requested", "registered", "granted"),
    [
        ("system/*.rs", "system/Patient.rs system/Encounter.r",
         "system/Patient.rs system/Encounter.r"),
        ("system/Patient.cruds", "system/*.rs", "system/Patient.rs"),
        ("system/Patient.read", "system/*.*", "system/Patient.read"),
        ("system/*.read", "system/*.rs", "system/*.read"),
        ("system/*.*", "system/*.rs", "system/*.read"),
        ("system/*.write", "system/*.cruds", "system/*.write"),
        ("system/*.*", "system/*.r", "system/*.r"),
        ("system/*.read system/Patient.rs", "system/*.rs", "system/*.read system/Patient.rs"),
        ("system/Patient.rs system/*.read system/Patient.rs", "system/Patient.rs",
         "system/Patient.rs system/Patient.read"),
        ("system/*.read", "system/Encounter.rs system/Patient.r",
         "system/Encounter.read system/Patient.r"),
        ("system/Patient.read", "system/*.r system/Patient.s", "system/Patient.read"),
        ("system/*.cruds", "system/*.rs", "system/*.rs"),
        ("system/Patient.c", "system/*.rs", ""),
        ("system/Patient.rs", "system/Encounter.rs", ""),
        ("user/Patient.rs", "system/Patient.rs", ""),
        ("openid system/Observation.rs", "system/Observation.cruds", "system/Observation.rs"),
        ("", "system/*.cruds", ""),
        ("system/Observation.rs?category=laboratory", "system/*.rs",
         "system/Observation.rs?category=laboratory"),
        ("system/Observation.read?category=laboratory", "system/Observation.cruds",
         "system/Observation.read?category=laboratory"),
        ("system/*.rs", "system/Observation.r?category=laboratory",
         "system/Observation.r?category=laboratory"),
        ("system/Observation.rs?category=laboratory", "system/Observation.rs?category=vital",
         ""),
        ("system/Observation.rs?code=1", "system/Observation.rs?code=1",
         "system/Observation.rs?code=1"),
        ("system/Observation.cud?code=1", "system/*.rs", ""),
        # The same criteria however encoded, ordered or repeated: the request's words.
        ("system/Observation.rs?code=a%7Cb&category=x", "system/Observation.rs?category=x&code=a|b",
         "system/Observation.rs?code=a%7Cb&category=x"),
        ("system/Observation.rs?code=1&code=1", "system/Observation.rs?code=1",
         "system/Observation.rs?code=1&code=1"),
        ("system/*.rs", "", ""),
    ],
)
def test_grant_narrows_the_request_to_the_registration(requested, registered, granted):
    assert grant(requested, registered) == granted


# Property tests ----------------------------------------------------------------------------

contexts = st.sampled_from(["user", "system", "patient", "admin"])
types = st.sampled_from([*TYPES, "*"])
letters = st.sets(st.sampled_from(PERMISSIONS)).map(
    lambda chosen: "".join(p for p in PERMISSIONS if p in chosen)
)
permission_words = st.one_of(letters, st.sampled_from(["read", "write", "*", "sr", "rr"]))
scope_tokens = st.one_of(
    st.builds(lambda c, t, p: f"{c}/{t}.{p}", contexts, types, permission_words),
    st.sampled_from(["openid", "fhirUser", "launch", "offline_access"]),
    st.text(max_size=20).filter(lambda text: not text.isspace() and " " not in text),
)
scope_strings = st.lists(scope_tokens, max_size=6).map(" ".join)


def model(text: str) -> set[tuple[str, str]]:
    """A brute-force reading of a scope string: the (type, letter) pairs it grants."""
    granted = set()
    words = {"read": "rs", "write": "cud", "*": "cruds"}
    for token in text.split():
        context, _, rest = token.partition("/")
        resource_type, _, permissions = rest.partition(".")
        permissions = words.get(permissions, permissions)
        valid = (
            context in ("user", "system")
            and (resource_type == "*" or resource_type in TYPES)
            and permissions
            and permissions == "".join(p for p in PERMISSIONS if p in permissions)
            and len(set(permissions)) == len(permissions)
        )
        if valid:
            covered = TYPES if resource_type == "*" else [resource_type]
            granted |= {(t, p) for t in covered for p in permissions}
    return granted


@given(st.text())
def test_parsing_arbitrary_text_never_raises(text):
    assert all(isinstance(s, Scope) for s in parse_scopes(text))
    Permissions.from_text(text).text()


@given(scope_strings)
def test_allows_agrees_with_the_brute_force_model(text):
    permissions = Permissions.from_text(text)
    expected = model(text)
    assert {(t, p) for t in TYPES for p in PERMISSIONS if permissions.allows(t, p)} == expected


@given(scope_strings)
def test_the_normalised_text_grants_the_same(text):
    permissions = Permissions.from_text(text)
    assert model(permissions.text()) == model(text)
    assert Permissions.from_text(permissions.text()) == permissions


@given(scope_strings, scope_strings)
def test_grant_never_allows_more_than_either_side(requested, registered):
    granted = Permissions.from_text(grant(requested, registered))
    for resource_type in TYPES:
        for permission in PERMISSIONS:
            if granted.allows(resource_type, permission):
                assert Permissions.from_text(requested).allows(resource_type, permission)
                assert Permissions.from_text(registered).allows(resource_type, permission)


@given(st.sampled_from(["user", "system"]), scope_strings, scope_strings)
def test_grant_is_the_intersection_within_one_context(context, requested, registered):
    def only(text: str) -> str:
        return " ".join(t for t in text.split() if t.startswith(f"{context}/"))

    granted = model(grant(only(requested), only(registered)))
    assert granted == model(only(requested)) & model(only(registered))
