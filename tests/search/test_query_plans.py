"""Every supported search parameter is served by an index: each compiled query shape is
explained on a real mongod, and a collection scan fails the test (DESIGN.md §3)."""

import json
from datetime import UTC, datetime

import pytest

from fhir_server.conformance.search_parameters import search_parameters
from fhir_server.search.compiler import Compiler
from fhir_server.search.fhirpath import result_types
from fhir_server.search.index import index_keys, index_plan
from fhir_server.search.types import quantity
from fhir_server.storage.database import Database

# The types served first and a clinical sample of the others (every type's parameters are
# indexed the same way, from the same definitions).
RESOURCE_TYPES = ("Patient", "Encounter", "DocumentReference", "Provenance", "Practitioner",
                  "Organization", "Group", "Binary", "AuditEvent", "Observation", "Condition",
                  "MedicationRequest", "Location", "Immunization", "MolecularSequence")
# One value per parameter type that matches nothing, so the plan with the parameter's own
# index wins the planner's trial; and the modifiers and prefixes each type compiles.
SHAPES = {
    "string": [("", "zz"), (":exact", "Zz"), (":contains", "zz")],
    "token": [
        ("", "zz"),
        ("", "http://x|zz"),
        ("", "|zz"),
        ("", "http://x|"),
        (":text", "zz"),
        (":of-type", "http://x|MR|zz"),
        (":in", "http://hl7.org/fhir/ValueSet/administrative-gender"),
    ],
    "date": [
        ("", f"{prefix}2020-01-01") for prefix in ("eq", "gt", "lt", "ge", "le", "sa", "eb", "ap")
    ],
    "reference": [("", "Zz/zz"), (":identifier", "http://x|zz")],
    "quantity": [("", "5"), ("", "gt5||min"), ("", "le5|http://unitsofmeasure.org|min")],
    "number": [("", "5"), ("", "gt5")],
    "uri": [("", "http://x/zz"), (":below", "http://x/zz"), (":above", "http://x/zz/y")],
    "special": [("", "10.5|106.7|5|km")],
}
# A composite value is one value per component, each of its component's type.
COMPONENT_VALUES = {"token": "zz", "reference": "Zz/zz", "quantity": "5", "number": "5",
                    "date": "2020-01-01", "string": "zz", "uri": "http://x/zz"}
# Shapes that select (almost) everything: served by walking an index, never a scan.
BROAD_SHAPES = {
    "token": [(":not", "zz"), (":not-in", "http://hl7.org/fhir/ValueSet/administrative-gender")],
    "date": [("", "ne2020-01-01")],
}
MISSING = [(":missing", "true"), (":missing", "false")]
# A contained resource that the reference parameters of the types searched point at.
_CONTAINED = [{"type": kind, "via": ["subject", "patient", "medication"], "search": {}}
              for kind in ("Patient", "Medication")]


def _cases(shapes: dict) -> list:
    cases = []
    for kind in RESOURCE_TYPES:
        for code, parameter in search_parameters(kind).items():
            typed = shapes.get(parameter.type, [])
            if parameter.type == "composite" and shapes is SHAPES:
                typed = [("", "$".join(COMPONENT_VALUES[c.type] for c in parameter.components))]
            for modifier, value in typed + MISSING:
                if code in ("_id", "_lastUpdated") and modifier:
                    continue
                if (modifier, value) == MISSING[0]:
                    continue  # matches every document here: `test_missing_true_...` below
                if modifier == ":of-type" and "Identifier" not in result_types(
                        parameter.expression, kind):
                    continue  # refused: only an Identifier has a type to search by
                cases.append(
                    pytest.param(
                        kind, f"{code}{modifier}", value, id=f"{kind}?{code}{modifier}={value}"
                    )
                )
    return cases


@pytest.fixture(scope="module")
def database(mongo_uri, loop):
    db = Database(mongo_uri, "query_plans", index_plan)

    async def prepare():
        await db.client.drop_database("query_plans")
        for kind in RESOURCE_TYPES:
            await db.prepare_type(kind)
        # Some current documents, so MongoDB has plans to choose between; a few refer to
        # a contained resource.
        for kind in RESOURCE_TYPES:
            await db.db[kind].insert_many(
                [{"_id": f"{kind}-{n}", "deleted": False, "search": {},
                  "contained": _CONTAINED if n % 10 == 0 else []} for n in range(50)]
            )

    loop.run_until_complete(prepare())
    yield db
    loop.run_until_complete(db.close())


# One entry per parameter type, in the stored shape (README "Storage layout").
_LONG_AGO = datetime(1000, 1, 1, tzinfo=UTC)
_ENTRIES = {"date": {"lo": _LONG_AGO, "hi": _LONG_AGO}, "number": {"lo": 1.0, "hi": 1.0},
            "quantity": {"v": 1.0}, "quantity range": {"lo": 1.0, "hi": 1.0},
            "composite": {"c0": ["x"]}}


def _shape(parameter) -> str:
    """The kind of entry a parameter's values have: a quantity that may be a Range has
    ranges."""
    if parameter.type == "quantity" and quantity.takes_ranges(parameter.expression):
        return "quantity range"
    return parameter.type


@pytest.fixture(scope="module")
def valued(mongo_uri, loop):
    """Documents with a value for every parameter: `:missing=true` matches none of them."""
    db = Database(mongo_uri, "query_plans_valued", index_plan)

    async def prepare():
        await db.client.drop_database(db.db.name)
        for kind in RESOURCE_TYPES:
            await db.prepare_type(kind)
            search = {code: [_ENTRIES.get(_shape(parameter), "x")]
                      for code, parameter in search_parameters(kind).items()
                      if parameter.type != "special"}
            await db.db[kind].insert_many(
                [{"_id": f"{kind}-{n}", "deleted": False, "search": search} for n in range(50)]
            )

    loop.run_until_complete(prepare())
    yield db
    loop.run_until_complete(db.close())


def _plan(loop, database: Database, kind: str, name: str, value: str) -> str:
    async def explain() -> dict:
        store = database.store()
        query, used = await Compiler(store.project).compile(kind, [(name, value)], strict=True)
        assert used == [(name, value)]
        return await store.explain(kind, query, [("_id", 1)])

    return json.dumps(loop.run_until_complete(explain()), default=str)


@pytest.mark.parametrize(("kind", "name", "value"), _cases(SHAPES))
def test_a_selective_search_uses_the_parameters_own_index(loop, database, kind, name, value):
    plan = _plan(loop, database, kind, name, value)
    assert "COLLSCAN" not in plan, plan
    code = name.partition(":")[0]
    field = {"_id": "_id", "_lastUpdated": "lastUpdated"}.get(code, f"search.{code}")
    assert f'"keyPattern": {{"{field}' in plan, plan


@pytest.mark.parametrize(("kind", "name"), [
    ("MedicationRequest", "medication.code"),
    ("MedicationRequest", "medication:Medication.code"),
    ("Observation", "subject.name"),
    ("Observation", "patient.birthdate"),
    ("Observation", "subject:Patient.organization.name"),
])
def test_a_chain_reads_contained_resources_through_their_own_index(loop, database, kind, name):
    """A chain's branch for contained targets (search.html#contained) is a lookup in the
    partial index of `contained`, beside the parameter's own for stored targets: an `$or`
    with a branch no index serves would read the whole collection."""
    plan = _plan(loop, database, kind, name, "zz" if "date" not in name else "2020-01-01")
    assert "COLLSCAN" not in plan, plan
    code = name.partition(".")[0].partition(":")[0]
    assert f'"keyPattern": {{"search.{code}"' in plan, plan
    assert '"keyPattern": {"contained.via": 1, "contained.type": 1}' in plan, plan


@pytest.mark.parametrize(("kind", "code"), [
    (kind, code) for kind in RESOURCE_TYPES for code, parameter in search_parameters(kind).items()
    if code not in ("_id", "_lastUpdated") and parameter.type != "special"
])  # `near`: a 2dsphere index holds no document without a position
def test_missing_true_uses_the_parameters_own_index(loop, valued, kind, code):
    plan = _plan(loop, valued, kind, f"{code}:missing", "true")
    assert f'"keyPattern": {{"search.{code}' in plan, plan


@pytest.mark.parametrize(("kind", "name", "value"), _cases(BROAD_SHAPES))
def test_a_broad_search_walks_an_index(loop, database, kind, name, value):
    assert "COLLSCAN" not in _plan(loop, database, kind, name, value)


def test_every_parameter_has_an_index():
    for kind in RESOURCE_TYPES:
        indexed = {keys[0][0] for keys in index_keys(kind)}
        for code in set(search_parameters(kind)) - {"_id", "_lastUpdated"}:
            fields = {f"search.{code}{suffix}" for suffix in ("", ".lo", ".v", ".c0", ".p")}
            assert fields & indexed, code


def test_start_up_drops_indexes_of_parameters_no_longer_defined(loop, database, mongo_uri):
    async def indexes_after_restart() -> set[str]:
        await database.db["Patient"].create_index("search.retired-parameter")
        restarted = Database(mongo_uri, database.db.name, index_plan)  # a new process
        await restarted.prepare()
        await restarted.close()
        return {index["name"] async for index in await database.db["Patient"].list_indexes()}

    names = loop.run_until_complete(indexes_after_restart())
    assert not any("retired-parameter" in name for name in names)
    assert "live_search.family_1" in names
