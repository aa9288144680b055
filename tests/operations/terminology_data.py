"""Hand-made terminology for the terminology tests, and `installed(...)` to put resources in
the conformance registry (the one the test servers read: same process) and take them out.

The disease CodeSystem has a nested hierarchy (infection > viral > dengue, covid) and one
given by `parent` properties (chronic > diabetes, hypertension), an abstract concept
(chronic), a retired one (hypertension), Vietnamese designations and two versions."""

from collections.abc import Iterator
from contextlib import contextmanager

from fhir_server.conformance.definitions import registry

BASE = "http://example.vn/fhir"
DISEASE = f"{BASE}/CodeSystem/benh"
SNOMED = "http://snomed.info/sct"
GENDER = "http://hl7.org/fhir/administrative-gender"


def _vi(text: str) -> list[dict]:
    return [{"language": "vi", "value": text}]


def disease_system(version: str = "1.0.0", extra: tuple[dict, ...] = ()) -> dict:
    return {
        "resourceType": "CodeSystem", "url": DISEASE, "version": version, "name": "Benh",
        "status": "active", "content": "complete", "language": "en", "caseSensitive": True,
        "hierarchyMeaning": "is-a",
        "property": [
            {"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent",
             "type": "code"},
            {"code": "notSelectable",
             "uri": "http://hl7.org/fhir/concept-properties#notSelectable", "type": "boolean"},
            {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status",
             "type": "code"},
            {"code": "severity", "type": "code"},
        ],
        "concept": [
            {"code": "infection", "display": "Infection", "designation": _vi("Nhiễm trùng"),
             "concept": [
                 {"code": "viral", "display": "Viral infection",
                  "designation": _vi("Nhiễm virus"), "concept": [
                      {"code": "dengue", "display": "Dengue fever",
                       "designation": _vi("Sốt xuất huyết Dengue"),
                       "property": [{"code": "severity", "valueCode": "high"}]},
                      {"code": "covid", "display": "COVID-19"}]},
                 {"code": "bacterial", "display": "Bacterial infection"}]},
            {"code": "chronic", "display": "Chronic disease",
             "property": [{"code": "notSelectable", "valueBoolean": True}]},
            {"code": "diabetes", "display": "Diabetes", "designation": _vi("Đái tháo đường"),
             "property": [{"code": "parent", "valueCode": "chronic"},
                          {"code": "severity", "valueCode": "medium"}]},
            {"code": "hypertension", "display": "Hypertension",
             "property": [{"code": "parent", "valueCode": "chronic"},
                          {"code": "status", "valueCode": "retired"}]},
            *extra,
        ],
    }


def value_set(name: str, *include: dict, exclude: tuple[dict, ...] = (), **compose) -> dict:
    return {"resourceType": "ValueSet", "url": f"{BASE}/ValueSet/{name}", "name": name,
            "status": "active",
            "compose": {"include": list(include), **({"exclude": list(exclude)} if exclude else {}),
                        **compose}}


def vs_url(name: str) -> str:
    return f"{BASE}/ValueSet/{name}"


def _filter(prop: str, op: str, value: str, **extra) -> dict:
    return {"system": DISEASE, "filter": [{"property": prop, "op": op, "value": value}],
            **extra}


VALUE_SETS = [
    value_set("all", {"system": DISEASE}),
    value_set("infections", _filter("concept", "is-a", "infection")),
    value_set("below-infection", _filter("concept", "descendent-of", "infection")),
    value_set("not-infection", _filter("concept", "is-not-a", "infection")),
    value_set("chronic", _filter("parent", "=", "chronic")),
    value_set("d-codes", _filter("code", "regex", "d.*")),
    value_set("graded", _filter("severity", "exists", "true")),
    value_set("listed", _filter("concept", "in", "dengue,covid")),
    # "khong-co" is no code of the (complete) code system: left out.
    value_set("enumerated", {"system": DISEASE, "concept": [
        {"code": "dengue", "display": "Sốt Dengue"}, {"code": "chronic"},
        {"code": "khong-co"}]}),
    value_set("imported", {"valueSet": [vs_url("infections")]},
              {"system": GENDER, "concept": [{"code": "female"}]},
              exclude=({"system": DISEASE, "concept": [{"code": "covid"}]},)),
    value_set("both", {"valueSet": [vs_url("infections"), vs_url("graded")]}),
    value_set("cycle-a", {"valueSet": [vs_url("cycle-b")]}),
    value_set("cycle-b", {"valueSet": [vs_url("cycle-a")]}, {"system": GENDER}),
    value_set("version-2", {"system": DISEASE, "version": "2.0.0"}),
    value_set("version-9", {"system": DISEASE, "version": "9.9"}),
    value_set("active", {"system": DISEASE}, inactive=False),
    value_set("snomed", {"system": SNOMED, "filter": [
        {"property": "concept", "op": "is-a", "value": "404684003"}]}),
    value_set("lookaround", _filter("code", "regex", "(?=d)dengue")),
    {"resourceType": "ValueSet", "url": vs_url("pre-expanded"), "status": "active",
     "expansion": {"timestamp": "2024-01-01T00:00:00Z", "total": 1, "contains": [
         {"system": SNOMED, "code": "38341003", "display": "Hypertensive disorder"}]}},
]

CONCEPT_MAP = {
    "resourceType": "ConceptMap", "url": f"{BASE}/ConceptMap/benh-to-icd10", "status": "active",
    "sourceUri": vs_url("all"), "targetUri": "http://hl7.org/fhir/ValueSet/icd-10",
    "group": [
        {"source": DISEASE, "target": "http://hl7.org/fhir/sid/icd-10",
         "element": [
             {"code": "dengue", "target": [
                 {"code": "A90", "display": "Dengue fever", "equivalence": "equivalent"}]},
             {"code": "viral", "target": [
                 {"code": "B34.9", "equivalence": "wider"}]},
             {"code": "covid", "target": [{"equivalence": "unmatched"}]}],
         "unmapped": {"mode": "fixed", "code": "R69", "display": "Illness, unspecified"}},
        {"source": DISEASE, "target": f"{BASE}/CodeSystem/benh-local",
         "element": [{"code": "diabetes", "target": [
             {"code": "DTD", "equivalence": "equal"}]}],
         "unmapped": {"mode": "provided"}},
    ],
}


@contextmanager
def installed(*resources: dict) -> Iterator[None]:
    """The resources are in the registry while the block runs."""
    found = registry()
    for resource in resources:
        found.add(resource)
    try:
        yield
    finally:
        for resource in resources:
            found.by_type[resource["resourceType"]].remove(resource)
            for key in [k for k, v in found.by_url.items() if v is resource]:
                del found.by_url[key]
            previous = [r for r in found.all(resource["resourceType"])
                        if r.get("url") == resource.get("url")]
            if previous:
                found.by_url[resource["url"]] = previous[-1]


def all_terminology() -> tuple[dict, ...]:
    return (disease_system("2.0.0", ({"code": "measles", "display": "Measles"},)),
            disease_system(), *VALUE_SETS, CONCEPT_MAP)
