"""`GET /metrics` (Prometheus text format): not served unless FHIR_METRICS=public; then,
without a token, the request counters move for exactly the interactions made, and MongoDB
round trips, signing, the audit spool and export jobs show."""

import uuid
from collections.abc import Iterator

import httpx
import pytest
from api.helpers import created, new_patient
from export.bulk_helpers import manifest, started
from prometheus_client.parser import text_string_to_metric_families
from security.helpers import assert_only_the_refusal_is_audited, fhir_client, own_server

Samples = dict[tuple[str, frozenset], float]
FAST_EXPORTS = {"export_poll_seconds": 0.05, "export_settle_seconds": 0.0}


def _root(server) -> str:
    return server.base.removesuffix("/fhir")


def scrape(server) -> Samples:
    """Every sample of /metrics, by name and labels."""
    response = httpx.get(f"{_root(server)}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str) -> dict[frozenset, float]:
    """The samples of `name` that changed, with their increase."""
    return {
        labels: value - before.get((sample, labels), 0.0)
        for (sample, labels), value in after.items()
        if sample == name and value != before.get((sample, labels), 0.0)
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (sample, have), value in samples.items()
               if sample == name and wanted <= have)


def requests(interaction: str, resource_type: str, status: int) -> frozenset:
    return frozenset({"interaction": interaction, "resource_type": resource_type,
                      "status": str(status)}.items())


@pytest.fixture(scope="module")
def metered(mongo_uri, request, tmp_path_factory, issuer) -> Iterator:
    with own_server(mongo_uri, request, tmp_path_factory, issuer, metrics="public",
                    **FAST_EXPORTS) as running:
        yield running


@pytest.fixture(scope="module")
def http(metered, issuer) -> Iterator[httpx.Client]:
    with fhir_client(metered.base, issuer.token()) as client:
        yield client


def test_metrics_are_not_served_by_default(server):
    assert httpx.get(f"{_root(server)}/metrics", timeout=30).status_code == 404


def test_read_search_and_create_move_exactly_their_request_counters(metered, http):
    before = scrape(metered)
    patient = created(http, new_patient())
    assert http.get(f"/Patient/{patient['id']}").status_code == 200
    assert http.get("/Patient", params={"_id": patient["id"]}).status_code == 200
    assert http.get("/NoSuchType/1").status_code == 404
    after = scrape(metered)
    assert moved(before, after, "fhir_requests_total") == {
        requests("create", "Patient", 201): 1,
        requests("read", "Patient", 200): 1,
        requests("search-type", "Patient", 200): 1,
        requests("read", "other", 404): 1,  # an unknown type is no label of its own
    }
    latency = moved(before, after, "fhir_request_seconds_count")
    assert latency[frozenset({"interaction": "read", "resource_type": "Patient"}.items())] == 1


def test_round_trips_per_request_grow_with_reads(metered, http):
    patient = created(http, new_patient())
    before = scrape(metered)
    assert http.get(f"/Patient/{patient['id']}").status_code == 200
    after = scrape(metered)
    name = "fhir_mongodb_round_trips_per_request"
    read = frozenset({"interaction": "read"}.items())
    assert moved(before, after, f"{name}_count")[read] == 1
    assert moved(before, after, f"{name}_sum")[read] >= 1  # a read finds its document
    assert total(after, "fhir_mongodb_commands_total", command="find") > total(
        before, "fhir_mongodb_commands_total", command="find")


def test_a_signed_write_is_timed(metered, http):
    before = scrape(metered)
    created(http, new_patient())  # a person's write: signed by the signing service
    after = scrape(metered)
    remote = moved(before, after, "fhir_signing_seconds_count")
    assert remote[frozenset({"signer": "remote"}.items())] == 1
    assert moved(before, after, "fhir_signing_seconds_sum")[frozenset({"signer": "remote"}
                                                                      .items())] > 0


def test_audit_spool_depth_is_shown(metered, http):
    assert http.get("/Patient", params={"_count": "1"}).status_code == 200
    depth = scrape(metered).get(("fhir_audit_spool_undrained_bytes", frozenset()))
    assert isinstance(depth, float), depth  # the gauge is exported, whatever the spool holds


def test_export_jobs_by_status_and_exported_resources(metered, http):
    created(http, new_patient())
    before = scrape(metered)
    status_url = started(http, "Patient/$export", params={"_type": "Patient"})
    kicked_off = scrape(metered)
    assert total(kicked_off, "fhir_export_jobs") == total(before, "fhir_export_jobs") + 1
    body = manifest(http, status_url)
    exported = sum(item["count"] for item in body["output"])
    after = scrape(metered)
    assert after[("fhir_export_jobs", frozenset({"status": "completed"}.items()))] >= 1
    assert after[("fhir_export_resources_total", frozenset())] - before.get(
        ("fhir_export_resources_total", frozenset()), 0) == exported >= 1


def test_metrics_bypass_the_address_rate_limit_that_refusals_count_in(
        mongo_uri, request, tmp_path_factory, issuer):
    limited = {"rate_limit_per_address_per_minute": 1, "rate_limit_address_burst": 1}
    with own_server(mongo_uri, request, tmp_path_factory, issuer, metrics="public",
                    **limited) as running, fhir_client(running.base, None) as client:
        statuses = [client.get("/metadata").status_code for _ in range(3)]
        assert statuses[0] == 200 and statuses[1:] == [429, 429]
        samples = [scrape(running) for _ in range(3)]  # each answered 200, no token
        refused = total(samples[-1], "fhir_requests_total", status="429")
        assert refused == 2


def test_scrapes_leave_no_audit_event(metered, http):
    for _ in range(3):
        scrape(metered)
    assert_only_the_refusal_is_audited(metered.base, http)


def _transaction_round_trips(metered, http, entries: int) -> float:
    """MongoDB round trips of one transaction of `entries` new Patients (PUT with new ids)."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    for _ in range(entries):
        patient = {**new_patient(), "id": str(uuid.uuid4())}
        bundle["entry"].append({"resource": patient,
                                "request": {"method": "PUT", "url": f"Patient/{patient['id']}"}})
    before = scrape(metered)
    response = http.post("", json=bundle)
    assert response.status_code == 200, response.text
    after = scrape(metered)
    name = "fhir_mongodb_round_trips_per_request"
    return moved(before, after, f"{name}_sum")[frozenset({"interaction": "transaction"}.items())]


def test_a_transactions_round_trips_do_not_grow_with_its_entries(metered, http):
    # Updates are looked up together, and new documents go in one insert_many per
    # collection (with their Provenances): not a few round trips per entry.
    few, many = (_transaction_round_trips(metered, http, n) for n in (3, 30))
    assert many - few < 10, (few, many)


def test_metadata_is_counted_as_capabilities(metered, http):
    """Its restful-interaction code (it was "operation", as an $export kick-off is). Last in
    the module: the AuditEvent of the anonymous /metadata would count in the one above."""
    before = scrape(metered)
    assert http.get("/metadata").status_code == 200
    assert moved(before, scrape(metered), "fhir_requests_total") == {
        requests("capabilities", "none", 200): 1}
