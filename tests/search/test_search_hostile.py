"""Hostile search input: MongoDB operators, regular-expression metacharacters, separators,
NUL, very long and unusual Unicode values in parameter names and values. The server never
fails with a 5xx, answers a Bundle or a 400 OperationOutcome, matches metacharacters
literally, and changes nothing (DESIGN.md §3: "Every value that reaches MongoDB is a typed
value produced by our parser ... every regex is built from re.escape").

Data set: patients whose family names start with metacharacters (`.*`, `a|b`, `^`, `$`,
`(`, `[`, `+`, `?`, `\\`, `,`), two ordinary ones that a regex would wrongly match (alpha,
beta), and two encounters.
"""

from urllib.parse import urlencode

import pytest
from api.helpers import type_snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search.helpers import ACT_CODE, expected, found, load, ref

from fhir_server.settings import Settings

FAMILIES = {
    "dot_star": ".*Lạ", "pipe": "a|b", "caret": "^caret", "dollar": "$dollar",
    "paren": "(x)", "bracket": "[abc]", "plus": "a+b", "question": "?q",
    "backslash": "back\\slash", "comma": "a,b", "alpha": "alpha", "beta": "beta",
    "nguyen": "Nguyễn",
}
DATA = {key: {"resourceType": "Patient", "name": [{"family": family}]}
        for key, family in FAMILIES.items()}
DATA |= {
    "e1": {"resourceType": "Encounter", "status": "finished",
           "class": {"system": ACT_CODE, "code": "AMB"}, "subject": ref("alpha")},
    "e2": {"resourceType": "Encounter", "status": "planned",
           "class": {"system": ACT_CODE, "code": "IMP"}, "subject": ref("nguyen")},
}
EVERYONE = set(FAMILIES)


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    ids = load(client, DATA)
    ids["snapshot"] = (type_snapshot(client, "Patient"), type_snapshot(client, "Encounter"))
    return ids


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        (".*", {"dot_star"}),
        (".", {"dot_star"}),
        ("^", {"caret"}),
        ("\\$dollar", {"dollar"}),
        ("(", {"paren"}),
        ("[abc", {"bracket"}),
        ("a+", {"plus"}),
        ("?", {"question"}),
        ("a\\|b", {"pipe"}),
        ("a\\,b", {"comma"}),
        ("back\\\\slash", {"backslash"}),
        # An unescaped comma separates two values.
        ("a,b", {"pipe", "comma", "plus", "alpha", "beta", "backslash"}),
        # `$`, `,` and `|` are escaped with `\` in a literal value (search.html#escaping).
        ("{\"\\$gt\": \"\"}", set()),
        ("\\$where", set()),
        ("[\\$ne]=1", set()),
        ("\\\\", set()),
    ],
)
def test_metacharacters_match_literally(client, ids, value, keys):
    assert found(client, "/Patient", {"family": value}) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"family:contains": "*"}, {"dot_star"}),
        ({"family:contains": "\\|"}, {"pipe"}),
        ({"family:contains": "+b"}, {"plus"}),
        ({"family:exact": ".*Lạ"}, {"dot_star"}),
        ({"family:exact": ".*"}, set()),
        ({"family:exact": "a\\|b"}, {"pipe"}),
        ({"name": ".*"}, {"dot_star"}),
        ({"family[$ne]": "1"}, EVERYONE),
        ({"$where": "1 == 1"}, EVERYONE),
        ({"_id": "{\"\\$ne\": null}"}, set()),
        ({"_id": ".*"}, set()),
        ({"identifier": "|.*"}, set()),
        # An empty alternative is left out: as a prefix it matched every family.
        ({"family": ",alpha"}, {"alpha"}),
        ({"family": "alpha,"}, {"alpha"}),
        ({"family:contains": "lph,,"}, {"alpha"}),
        ({"family": ","}, EVERYONE),
    ],
)
def test_operators_and_metacharacters_never_widen_a_search(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


def test_an_unescaped_pipe_in_a_string_is_literal_or_refused(client, ids):
    response = client.get("/Patient", params={"family": "a|b"})
    if response.status_code == 400:
        assert response.json()["resourceType"] == "OperationOutcome"
    else:
        assert found(client, "/Patient", {"family": "a|b"}) == expected(ids, {"pipe"})


HOSTILE = ["$where", "$ne", "$gt", "$regex", "$expr", "{\"$gt\": \"\"}", "{\"$ne\": 1}",
           "[$ne]=1", ".*", "^", "$", "|", "||", ",", "\\", "\\\\", "\x00", "a\x00b",
           "(?i)a", "a{1,99999}", "((((a))))*", "[^]", "'; db.dropDatabase(); '",
           "function() { return true; }", "this.resource", "__proto__", "constructor",
           "Patient/", "Patient/../Encounter", "gt", "ap", "eq$", "$$", "1e400", "-0",
           "NaN", "Infinity", "9" * 400, "Nguyễn\u0301\u0301", "\ufeff", "\u202e", "🩺",
           "\U0001f600" * 20, "%00", "%", "%%", "=", "&", "#", "null", "true", "[]", "{}"]
NAMES = ["family", "given", "name", "address", "address-city", "identifier", "gender",
         "telecom", "birthdate", "_id", "_lastUpdated", "_tag", "organization",
         "general-practitioner", "link", "_has:Encounter:patient:status", "_sort", "_count",
         "_include", "_revinclude", "_summary", "_elements", "_total"]
ENCOUNTER_NAMES = ["subject", "patient", "status", "class", "date", "length", "type",
                   "service-provider", "subject:Patient", "patient.name", "subject.identifier",
                   "_has:DocumentReference:encounter:status", "part-of"]
MODIFIERS = ["", ":exact", ":contains", ":not", ":missing", ":text", ":in", ":not-in",
             ":below", ":above", ":identifier", ":of-type", ":Patient", "[$ne]", ".$gt",
             ":$where", ".", ":", "::"]
values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.sampled_from(list("$.*^|,\\{}[]()+?:'\"/=&%#\x00 aáđĐ0-9")),
            max_size=40),
    st.text(max_size=30),
    st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE), st.sampled_from(HOSTILE)),
    st.builds(lambda s, n: s * n, st.sampled_from(["a", "ạ", "$", "|", "\\"]),
              st.integers(500, 3000)),
)
names = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))


@st.composite
def requests(draw):
    resource_type = draw(st.sampled_from(["Patient", "Encounter"]))
    pool = NAMES if resource_type == "Patient" else ENCOUNTER_NAMES
    params = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.one_of(st.sampled_from(pool), names))
        params.append((name + draw(st.sampled_from(MODIFIERS)), draw(values)))
    method = draw(st.sampled_from(["GET", "POST"]))
    strict = draw(st.booleans())
    return resource_type, params, method, strict


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests())
def test_hostile_queries_get_a_bundle_or_a_400_outcome(client, ids, request):
    resource_type, params, method, strict = request
    headers = {"Prefer": "handling=strict"} if strict else {}
    long_query = sum(len(n) + len(v) for n, v in params) > 1500
    form = urlencode(params).encode()
    if method == "POST" or long_query:
        response = client.post(f"/{resource_type}/_search", content=form,
                               headers=headers | {
                                   "Content-Type": "application/x-www-form-urlencoded"})
    else:
        response = client.get(f"/{resource_type}", params=params, headers=headers)
    # A form over FHIR_MAX_SEARCH_FORM_BYTES (64 KiB: 3,000 "ạ" are 27 KB encoded) is 413.
    limit = Settings.model_fields["max_search_form_bytes"].default
    allowed = (200, 400, 413) if len(form) > limit else (200, 400)
    assert response.status_code in allowed, (response.status_code, response.text[:500])
    body = response.json()
    if response.status_code == 200:
        assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
        assert all(e["resource"]["resourceType"] in ("Patient", "Encounter", "Organization",
                                                     "Practitioner", "Provenance",
                                                     "DocumentReference", "Group")
                   for e in body.get("entry", []))
    else:
        assert body["resourceType"] == "OperationOutcome", body
        assert any(i["severity"] in ("error", "fatal") for i in body["issue"])
        assert "Traceback" not in response.text


def test_nothing_was_changed_by_hostile_queries(client, ids):
    assert found(client, "/Patient") == expected(ids, EVERYONE)
    assert (type_snapshot(client, "Patient"), type_snapshot(client, "Encounter")) == (
        ids["snapshot"])
    assert found(client, "/Patient", {"family": "nguyen"}) == expected(ids, {"nguyen"})
