"""Every official R4 example (shared/fhir-r4/examples-all, 721 of 131 types) stored through
the HTTP API on a server of its own, unchanged apart from id and meta, and found by `_id`;
the one large decimal example signed."""

import json
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from api.helpers import FHIR_HEADERS, without_meta
from conformance.test_official_examples_valid import REFUSED as REFUSED_BY_VALIDATION
from search.helpers import matches, search
from security.helpers import fhir_client, own_server

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples-all"


def _examples() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.json"))


EXAMPLES = _examples()
# Refused by documented rules, not by validation (README "Security", "Signature contract"):
# clients cannot write AuditEvents (405), and a Provenance carrying a signature is stored
# only when its signature verifies (the examples' XML-DSig placeholders cannot: 422).
# Questionnaire-qs1 breaks R4 itself (tests/conformance/test_official_examples_valid.py).
REFUSED_BY_RULE = {"AuditEvent": "405", "Provenance-signature": "422", "invalid": "400"}


def _refused_by_rule(resource: dict, name: str) -> str | None:
    if name in REFUSED_BY_VALIDATION:
        return REFUSED_BY_RULE["invalid"]
    if resource["resourceType"] == "AuditEvent":
        return REFUSED_BY_RULE["AuditEvent"]
    if resource["resourceType"] == "Provenance" and "signature" in resource:
        return REFUSED_BY_RULE["Provenance-signature"]
    return None


def _batches(resources: dict[str, dict], count: int) -> list[list[str]]:
    """The example names in `count` batches, each type in one batch only (its collection and
    indexes are made on its first write, the slow part), of about equal weight."""
    by_type: dict[str, list[str]] = {}
    for name, resource in resources.items():
        by_type.setdefault(resource["resourceType"], []).append(name)
    batches: list[list[str]] = [[] for _ in range(count)]
    weights = [0] * count
    for names in sorted(by_type.values(), key=len, reverse=True):
        lightest = weights.index(min(weights))
        batches[lightest] += names
        weights[lightest] += 10 + len(names)  # a type's indexes cost about ten writes
    return batches


def _batch(http, entries: list[dict]) -> list[dict]:
    response = http.post("", json={"resourceType": "Bundle", "type": "batch", "entry": entries},
                         headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text[:2000]
    return response.json()["entry"]


@pytest.fixture(scope="module")
def loaded_examples(mongo_uri, request, tmp_path_factory, issuer):
    """Every example PUT (update as create) in batches sent in parallel to a server of its
    own, so the data set above is not mixed with them; then one `_id` search per example,
    batched too. Returns the examples by file name, and the write and search response
    entries of each. Writes are not signed here (signing has its own tests, and 721
    signatures would make this the slowest test of the suite); test_a_large_decimal_is_signed
    signs one."""
    resources = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES}
    batches = _batches(resources, 4)

    def url(name: str, query: str = "") -> str:
        resource = resources[name]
        return f"{resource['resourceType']}{query}" if query else \
            f"{resource['resourceType']}/{resource['id']}"

    def put(http, names: list[str]) -> list[dict]:
        entries = [{"resource": resources[n], "request": {"method": "PUT", "url": url(n)}}
                   for n in names]
        response = http.post("", json={"resourceType": "Bundle", "type": "batch",
                                       "entry": entries}, headers=FHIR_HEADERS)
        if response.status_code == 200:
            return response.json()["entry"]
        # One entry broke the whole batch (a 500): one PUT each, so each example has its own
        # answer and its own failing test.
        answers = [http.put(f"/{url(n)}", json=resources[n], headers=FHIR_HEADERS)
                   for n in names]
        return [{"response": {"status": str(a.status_code), "outcome": a.json()}}
                for a in answers]

    def find(http, names: list[str]) -> list[dict]:
        return _batch(http, [{"request": {"method": "GET",
                                          "url": url(n, f"?_id={resources[n]['id']}")}}
                             for n in names])

    with own_server(mongo_uri, request, tmp_path_factory, issuer, sign_writes=False) as server, \
            fhir_client(server.base, issuer.token()) as http, ThreadPoolExecutor(4) as pool:
        http.timeout = 300
        written, searched = {}, {}
        for names, entries in zip(batches, pool.map(partial(put, http), batches), strict=True):
            written |= dict(zip(names, entries, strict=True))
        for names, entries in zip(batches, pool.map(partial(find, http), batches), strict=True):
            searched |= dict(zip(names, entries, strict=True))
        yield resources, written, searched


def test_there_are_721_examples_of_131_types():
    kinds = {json.loads(p.read_text(encoding="utf-8"))["resourceType"] for p in EXAMPLES}
    assert (len(EXAMPLES), len(kinds)) == (721, 131)


def _outcome_text(entry: dict) -> str:
    outcome = entry.get("response", {}).get("outcome") or entry.get("resource") or {}
    return "; ".join(f"{i.get('diagnostics')} @ {i.get('expression')}"
                     for i in outcome.get("issue", []))[:1500]


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_every_official_example_is_stored_and_found_by_id(loaded_examples, name):
    resources, written, searched = loaded_examples
    resource = resources[name]
    status = written[name]["response"]["status"]
    if (rule := _refused_by_rule(resource, name)) is not None:
        assert status.startswith(rule), (status, _outcome_text(written[name]))
        found_ids = []
    else:
        assert status.split()[0] in ("200", "201"), \
            f"{name} refused: {status}: {_outcome_text(written[name])}"
        found_ids = [resource["id"]]
    assert searched[name]["response"]["status"].startswith("200"), searched[name]
    result = searched[name]["resource"]
    assert [e["resource"]["id"] for e in result.get("entry", [])] == found_ids
    for entry in result.get("entry", []):  # stored unchanged apart from id and meta
        assert without_meta(entry["resource"]) == without_meta(resource)


def test_a_large_decimal_is_signed(client):
    """Observation-decimal.json holds 1000000000000000000 (and other decimals beyond what a
    JSON float holds exactly): the example is valid R4, so its write is stored and signed."""
    example = json.loads((EXAMPLES_DIR / "Observation-decimal.json").read_text(encoding="utf-8"))
    response = client.put(f"/Observation/{example['id']}", json=example, headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    provenance = search(client, "/Provenance", {"target": f"Observation/{example['id']}"})
    assert len(matches(provenance)) == 1
