"""Validation speed per resource over the official R4 examples: the StructureDefinition
engine (fhir_server.conformance.validation) next to the fhir.resources R4B models
(`get_fhir_model_class(type).model_validate(resource)`) in the same run.

    python bench/validation.py [--rounds 5]

Each resource is validated `rounds` times by each engine and its best time kept;
percentiles and totals are over the examples both engines can take (R4B has no model for
R4-only types such as MedicinalProduct), then over all examples for the new engine.
"""

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class

from fhir_server.conformance.validation import validate_resource
from fhir_server.errors import InvalidResource

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "fhir-r4" / "examples-all"


def _new_engine(resource: dict) -> None:
    # A refused example is timed all the same (the tests list the refused ones).
    with contextlib.suppress(InvalidResource):
        validate_resource(resource)


def _r4b_models(resource: dict) -> None:
    # pydantic's ValidationError is a ValueError: some R4 content is not R4B.
    with contextlib.suppress(ValueError):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _has_r4b_model(resource_type: str) -> bool:
    try:
        get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return False
    return True


def _best_ms(function, resource: dict, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        function(resource)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    return (f"p50 {statistics.median(ordered):7.3f} ms  p95 {p95:7.3f} ms  "
            f"total {sum(ordered):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    resources = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]
    for resource in resources:  # compile the trees and expressions, load the models
        _new_engine(resource)
    modelled = [_has_r4b_model(r["resourceType"]) for r in resources]
    for resource, has_model in zip(resources, modelled, strict=True):
        if has_model:
            _r4b_models(resource)
    new, old, new_all = [], [], []
    for resource, has_model in zip(resources, modelled, strict=True):
        new_all.append(_best_ms(_new_engine, resource, rounds))
        if has_model:
            new.append(new_all[-1])
            old.append(_best_ms(_r4b_models, resource, rounds))
    print(f"{len(resources)} official R4 examples, {sum(modelled)} with an R4B model; best of "
          f"{rounds} rounds per resource")
    print(f"StructureDefinition engine  {_summary(new)}")
    print(f"fhir.resources R4B models   {_summary(old)}")
    ratios = [n / o for n, o in zip(new, old, strict=True)]
    print(f"ratio new/R4B               p50 {statistics.median(ratios):7.2f}      "
          f"total {sum(new) / sum(old):7.2f}")
    print(f"StructureDefinition engine, all {len(resources)} examples: {_summary(new_all)}")


if __name__ == "__main__":
    main()
