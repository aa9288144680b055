"""Search-index extraction speed: every Patient SearchParameter expression over the official
Patient examples, with fhir_server.search.fhirpath next to fhirpathpy (both compiled once).

    python bench/fhirpath.py
"""

import json
import re
import time
from pathlib import Path

import fhirpathpy
from fhirpathpy.models import models

from fhir_server.search.fhirpath import compile_path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "fhir-r4" / "examples"


def patient_expressions() -> list[str]:
    bundle = json.loads((ROOT / "profiles" / "Bundle-searchParams.json").read_text())
    bases = {"Patient", "Resource", "DomainResource"}
    return [
        entry["resource"]["expression"]
        for entry in bundle["entry"]
        if bases & set(entry["resource"]["base"]) and entry["resource"].get("expression")
    ]


def per_resource_us(functions: list, resources: list[dict], seconds: float = 1.0) -> float:
    """Mean µs to evaluate all `functions` on one resource."""
    rounds, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for resource in resources:
            for function in functions:
                function(resource)
        rounds += 1
    return elapsed / (rounds * len(resources)) * 1e6


def main() -> None:
    resources = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("Patient-*.json"))]
    expressions = patient_expressions()
    ours = [compile_path(expression, "Patient") for expression in expressions]
    # fhirpathpy knows no `Resource.` base type: spell it as the type.
    theirs = [
        fhirpathpy.compile(re.sub(r"\bResource\.", "Patient.", expression), models["r4"])
        for expression in expressions
    ]
    ours_us, theirs_us = per_resource_us(ours, resources), per_resource_us(theirs, resources)
    print(f"{len(expressions)} Patient expressions x {len(resources)} official Patient examples")
    print(
        f"fhir_server.search.fhirpath: {ours_us:8.1f} µs per resource "
        f"({ours_us / len(expressions):.2f} µs per parameter)"
    )
    print(
        f"fhirpathpy (compiled):       {theirs_us:8.1f} µs per resource "
        f"({theirs_us / len(expressions):.2f} µs per parameter)"
    )
    print(f"speed-up: {theirs_us / ours_us:.0f}x")


if __name__ == "__main__":
    main()
