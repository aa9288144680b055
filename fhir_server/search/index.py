"""The per-write search index stored beside each resource (DESIGN.md §2): `search.<code>`
entry arrays for every supported parameter, `sort.<code>` keys for `_sort`, and the Patient
compartments the resource belongs to."""

import hashlib
from collections.abc import Callable
from functools import cache

from fhir_server.conformance.search_parameters import (
    PROFILES,
    SearchParameter,
    patient_compartment,
    search_parameters,
)
from fhir_server.search.fhirpath import Node, compile_path
from fhir_server.search.types import (
    composite,
    date,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)

TYPE_MODULES = {
    "string": string,
    "token": token,
    "date": date,
    "reference": reference,
    "quantity": quantity,
    "number": number,
    "uri": uri,
    "composite": composite,
}
# Served by top-level fields of the stored document instead of `search.<code>`.
TOP_LEVEL_PARAMETERS = {"_id": "_id", "_lastUpdated": "lastUpdated"}
# Bump when extraction changes, so `$reindex` knows stored entries are stale.
_EXTRACTION_REVISION = "1"


@cache
def index_version() -> str:
    """Identifies the definitions and extraction code the stored entries came from."""
    digest = hashlib.sha256(_EXTRACTION_REVISION.encode())
    for name in ("Bundle-searchParams.json", "CompartmentDefinition-patient.json"):
        digest.update((PROFILES / name).read_bytes())
    return digest.hexdigest()[:16]


Extractor = tuple[str, SearchParameter, Callable[[dict], list[Node]]]


@cache
def _extractors(resource_type: str) -> tuple[Extractor, ...]:
    return tuple(
        (code, parameter, compile_path(parameter.expression, resource_type))
        for code, parameter in search_parameters(resource_type).items()
        if code not in TOP_LEVEL_PARAMETERS
    )


def _entries(parameter: SearchParameter, nodes: list[Node]) -> list:
    if parameter.type == "composite":
        return composite.index(parameter, nodes)
    return TYPE_MODULES[parameter.type].index(nodes)


def build_search_index(resource_type: str, resource: dict) -> dict:
    """The `search`, `sort` and `compartments` fields of a current-version document.

    Every `search.<code>` is an array, empty when the resource has no such value; `missing`
    lists those codes, so `:missing=true` is one index lookup for every parameter.
    """
    search, sort = {}, {}
    for code, parameter, extract in _extractors(resource_type):
        entries = _entries(parameter, extract(resource))
        search[code] = entries
        if entries and parameter.type != "composite":
            low_high = TYPE_MODULES[parameter.type].sort_range(entries)
            if low_high is not None:
                sort[code] = {"a": low_high[0], "d": low_high[1]}
    compartments = {
        f"Patient/{target_id}"
        for code in patient_compartment().get(resource_type, ())
        for kind, target_id in reference.local_references(search.get(code, []))
        if kind == "Patient"
    }
    if resource_type == "Patient" and isinstance(resource.get("id"), str):
        compartments.add(f"Patient/{resource['id']}")
    return {
        "search": search,
        "sort": sort,
        "missing": sorted(code for code, entries in search.items() if not entries),
        "compartments": sorted(compartments),
        "indexVersion": index_version(),
    }


def index_keys(resource_type: str) -> list[list[tuple[str, int]]]:
    """The MongoDB index of every supported parameter of a type (DESIGN.md §2): one on the
    entry array, or on the range fields for dates and numbers."""
    keys = [[("compartments", 1)], [("missing", 1)]]
    for code, parameter in search_parameters(resource_type).items():
        field = f"search.{code}"
        if code in TOP_LEVEL_PARAMETERS:
            continue
        if parameter.type == "date":
            # `lo` leads for eq/lt/le/sa, `hi` alone serves gt/ge/eb.
            keys += [[(f"{field}.lo", 1), (f"{field}.hi", 1)], [(f"{field}.hi", 1)]]
        elif parameter.type in ("number", "quantity"):
            keys.append([(f"{field}.v", 1)])
        else:
            keys.append([(field, 1)])
    return keys
