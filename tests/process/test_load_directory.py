"""`fhir-server load DIR`, run for real, on a multi-type bulk data set in the style of
Synthea's bulk output (examples/clinical.py): one NDJSON file per type, `Type/id` references
between the files in whatever order they load, `meta.profile`s the server does not know
(kept, and reported as warnings); a report per resource type, with each failure's file:line
and reason."""

import gzip
import json
import re
from pathlib import Path

import httpx
from test_cli import FHIR_JSON, TERMINATED

from examples.clinical import bulk_data_set, write_ndjson
from examples.clinical_codes import US_CORE, VN_CORE
from examples.vietnam import CCCD_SYSTEM
from fhir_server.search.types.reference import references_in

LOINC = "http://loinc.org"
BLOOD_PRESSURE, HEART_RATE = "85354-9", "8867-4"
# Every file refers only to files after it: each reference points forward.
LOAD_ORDER = ("DiagnosticReport", "Observation", "MedicationRequest", "Procedure", "CarePlan",
              "Condition", "Encounter", "Immunization", "AllergyIntolerance", "Coverage",
              "Patient", "Medication", "Location", "Practitioner", "Organization")
LOAD_TIMEOUT = 600


def _write_forward(directory: Path, data_set: dict[str, list[dict]]) -> None:
    """The data set as `NN-Type.ndjson` files, sorted so that references point forward."""
    assert set(data_set) == set(LOAD_ORDER), set(data_set) ^ set(LOAD_ORDER)
    for path in write_ndjson(directory, data_set):
        rank = LOAD_ORDER.index(path.stem)
        path.rename(directory / f"{rank:02d}-{path.name}")
    for kind, resources in data_set.items():
        for resource in resources:
            targets = {e["reference"].split("/")[0] for e in references_in(resource)}
            assert all(LOAD_ORDER.index(t) > LOAD_ORDER.index(kind) for t in targets), kind


def _report(stdout: str) -> dict[str, tuple[int, int, int]]:
    """{resource type: (loaded, failed, warnings)} of the table the load prints."""
    rows = stdout.split("resource type", 1)[1].splitlines()[1:]
    report = {}
    for row in rows:
        match = re.fullmatch(r"(\S+)\s+(\d+)\s+(\d+)\s+(\d+)", row.strip())
        if not match:
            break
        report[match[1]] = tuple(int(n) for n in match.groups()[1:])
    return report


def _profiles(resources: list[dict]) -> int:
    """The warnings a load gives: one per `meta.profile` the server does not know (US Core;
    VN Core is installed, and the data set conforms to it)."""
    return sum(not url.startswith(VN_CORE) for resource in resources
               for url in resource["meta"]["profile"])


def _failures(stdout: str) -> list[str]:
    """The lines under `failed:` after the table."""
    lines = stdout.split("\nfailed:\n", 1)[1].splitlines()
    return lines[: (lines + [""]).index("")]


def _search(base: str, path: str, **params: str) -> list[dict]:
    """Every resource the search finds, following `next` links."""
    found, url, query = [], f"{base}/{path}", params
    while url:
        response = httpx.get(url, params=query, headers=FHIR_JSON, timeout=60)
        assert response.status_code == 200, response.text
        bundle = response.json()
        found += [entry["resource"] for entry in bundle.get("entry", [])]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        query = None
    return found


def _ids(resources: list[dict]) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in resources}


def _of_code(resources: list[dict], code: str) -> list[dict]:
    return [r for r in resources if r["code"]["coding"][0]["code"] == code]


def test_bulk_data_set_loads_whatever_the_file_order(cli, spawn, mongods, tmp_path):
    data_set = bulk_data_set(seed=7, patients=4)
    directory = tmp_path / "bulk"
    _write_forward(directory, data_set)
    data = tmp_path / "data"
    result = cli("load", "--data-dir", data, directory, timeout=LOAD_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    expected = {kind: (len(resources), 0, _profiles(resources))
                for kind, resources in data_set.items()}
    totals = tuple(sum(column) for column in zip(*expected.values(), strict=True))
    assert _report(result.stdout) == {**expected, "total": totals}, result.stdout
    # Each profile the server does not know is a warning, grouped by type and profile.
    warning = f"  Patient ({len(data_set['Patient'])}×): Profile {US_CORE}us-core-patient is not"
    assert warning in result.stdout.split("\nwarnings:\n", 1)[1], result.stdout
    assert mongods(data) == []

    server = spawn(data)
    server.wait_ready()
    observations = data_set["Observation"]
    patient = data_set["Patient"][0]
    cccd = next(i["value"] for i in patient["identifier"] if i["system"] == CCCD_SYSTEM)
    reference = f"Patient/{patient['id']}"
    of_patient = [o for o in observations if o["subject"]["reference"] == reference]
    found = _search(server.base, "Observation", **{
        "subject:Patient.identifier": f"{CCCD_SYSTEM}|{cccd}",
        "code": f"{LOINC}|{BLOOD_PRESSURE}"})
    assert _ids(found) == _ids(_of_code(of_patient, BLOOD_PRESSURE)) != set()
    assert found[0]["component"][0]["valueQuantity"]["unit"] == "mm[Hg]"
    found = _search(server.base, "Observation", code=HEART_RATE, _count="100")
    assert _ids(found) == _ids(_of_code(observations, HEART_RATE))
    # Profiles the server does not know are kept (and searchable).
    found = _search(server.base, "Patient", _profile=f"{VN_CORE}vn-core-patient")
    assert _ids(found) == _ids(data_set["Patient"])

    everything = _search(server.base, f"Patient/{patient['id']}/$everything", _count="20")
    in_compartment = [r for resources in data_set.values() for r in resources
                      if reference in {e["reference"] for e in references_in(r)}]
    medications = {r["medicationReference"]["reference"] for r in in_compartment
                   if r["resourceType"] == "MedicationRequest"}
    assert _ids([patient, *in_compartment]) | medications <= _ids(everything)
    assert server.stop() in TERMINATED
    assert mongods(data) == []


def test_one_invalid_resource_is_reported_and_the_rest_loads(cli, spawn, mongods, tmp_path):
    data_set = bulk_data_set(seed=8, patients=1)
    observations = data_set["Observation"]
    bad = observations[1]
    data_set["Observation"] = [*observations[:1], {**bad, "status": "checked"},
                               *observations[2:]]
    directory = tmp_path / "bulk"
    write_ndjson(directory, data_set)
    patients = directory / "Patient.ndjson"
    patients.with_suffix(".ndjson.gz").write_bytes(gzip.compress(patients.read_bytes()))
    patients.unlink()
    data = tmp_path / "data"
    result = cli("load", "--data-dir", data, directory, timeout=LOAD_TIMEOUT)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    report = _report(result.stdout)
    loaded = [o for o in observations if o["id"] != bad["id"]]
    assert report["Observation"] == (len(loaded), 1, _profiles(loaded)), result.stdout
    assert all(report[kind] == (len(resources), 0, _profiles(resources))
               for kind, resources in data_set.items() if kind != "Observation"), result.stdout
    failures = _failures(result.stdout)
    assert len(failures) == 1, result.stdout
    assert f"Observation {directory / 'Observation.ndjson'}:2: 400" in failures[0], failures
    assert "status" in failures[0] and "'checked'" in failures[0], failures

    server = spawn(data)
    server.wait_ready()
    assert httpx.get(f"{server.base}/Observation/{bad['id']}", headers=FHIR_JSON,
                     timeout=30).status_code == 404
    stored = _search(server.base, "Observation", _count="100")
    assert _ids(stored) == _ids(observations) - {f"Observation/{bad['id']}"}
    assert all(resource["meta"]["profile"] for resource in stored)
    assert server.stop() in TERMINATED
    assert mongods(data) == []


def test_conditional_references_to_a_later_file_load_on_a_retry(cli, spawn, mongods,
                                                                 tmp_path):
    """Synthea's bulk output refers to its organizations as `Organization?identifier=...`:
    the Encounters file, loaded first, failed with 404 for each (60% of the SMART sample
    data set), though the same command run twice loaded everything. A transaction file
    refers so too; a resource invalid for its own sake still fails, once."""
    system = "https://github.com/synthetichealth/synthea"
    organization = {"resourceType": "Organization", "id": "bv-1", "name": "Bệnh viện Đa khoa",
                    "identifier": [{"system": system, "value": "org-1"}]}
    patient = {"resourceType": "Patient", "id": "bn-1", "name": [{"family": "Lê"}]}
    ambulatory = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
    encounters = [{"resourceType": "Encounter", "id": f"kb-{n}", "status": "finished",
                   "class": ambulatory, "subject": {"reference": "Patient/bn-1"},
                   "serviceProvider": {"reference": f"Organization?identifier={system}|org-1"}}
                  for n in range(3)]
    directory = tmp_path / "synthea"
    write_ndjson(directory, {"Encounter": [*encounters, {**encounters[0], "id": "kb-bad",
                                                         "status": "over"}],
                             "Organization": [organization], "Patient": [patient]})
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:5d1c2f6e-0f7a-4f35-9d7e-2a3c4b5d6e7f", "resource": {
            "resourceType": "Condition", "subject": {"reference": "Patient/bn-1"},
            "code": {"text": "Tăng huyết áp"},
            "asserter": {"reference": "Practitioner?identifier=http://example.vn|bs-1"}},
         "request": {"method": "POST", "url": "Condition"}}]}
    (directory / "A-transaction.json").write_text(json.dumps(transaction))
    practitioner = {"resourceType": "Practitioner", "id": "bs-1",
                    "identifier": [{"system": "http://example.vn", "value": "bs-1"}]}
    (directory / "Z-practitioner.json").write_text(json.dumps(practitioner))
    # The log a Bulk Data client writes beside its download: no FHIR, skipped (it failed
    # each of its lines, and the load).
    (directory / "log.ndjson").write_text('{"eventId": "kickoff", "exportId": 1}\n'
                                          '{"eventId": "export_complete"}\n')
    data = tmp_path / "data"
    result = cli("load", "--data-dir", data, directory, timeout=LOAD_TIMEOUT)
    assert result.returncode == 1, result.stdout + result.stderr
    report = _report(result.stdout)
    assert report["Encounter"][:2] == (3, 1), result.stdout
    assert report["Condition"][:2] == (1, 0), result.stdout
    assert [line for line in _failures(result.stdout) if "kb-bad" in line or ":4:" in line]
    assert len(_failures(result.stdout)) == 1, result.stdout
    assert "log.ndjson: not FHIR NDJSON" in result.stdout
    assert mongods(data) == []

    server = spawn(data)
    server.wait_ready()
    found = _search(server.base, "Encounter", **{"service-provider": "Organization/bv-1"})
    assert _ids(found) == _ids(encounters)
    assert server.stop() in TERMINATED


def test_a_bundle_with_nothing_to_load_is_skipped_not_failed(cli, mongods, tmp_path):
    """The official `Bundle-bundle-search-warning`, a searchset holding its outcome alone,
    was sent as a batch of no entries and reported as failed ("Bundle.entry is an empty
    array"): a failed file, and exit status 1, for a file with nothing wrong in it."""
    directory = tmp_path / "examples"
    directory.mkdir()
    warning = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": [
        {"resource": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "warning", "code": "not-found"}]}, "search": {"mode": "outcome"}}]}
    (directory / "search-warning.json").write_text(json.dumps(warning))
    patient = {"resourceType": "Patient", "id": "bn-2", "name": [{"family": "Trần"}]}
    (directory / "patient.json").write_text(json.dumps(patient))
    data = tmp_path / "data"
    result = cli("load", "--data-dir", data, directory, timeout=LOAD_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _report(result.stdout)["Patient"] == (1, 0, 0), result.stdout
    assert "search-warning.json:1: a Bundle with no resources to load, skipped" in result.stdout
    assert mongods(data) == []


def test_a_document_or_message_bundle_is_stored_whole(cli, mongods, tmp_path):
    """A document Bundle was taken apart and its entries put one by one, overwriting what a
    Patient of the same id held, and no Bundle was stored: a document is one thing."""
    directory = tmp_path / "documents"
    directory.mkdir()
    patient = {"resourceType": "Patient", "id": "doc-pat", "name": [{"family": "Lê"}]}
    composition = {"resourceType": "Composition", "id": "doc-comp", "status": "final",
                   "type": {"coding": [{"system": "http://loinc.org", "code": "60591-5"}]},
                   "subject": {"reference": "Patient/doc-pat"}, "date": "2025-07-01",
                   "author": [{"display": "Bệnh viện"}], "title": "Tóm tắt"}
    document = {"resourceType": "Bundle", "id": "doc-1", "type": "document",
                "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:" + "0" * 8
                               + "-0000-4000-8000-" + "0" * 12},
                "timestamp": "2025-07-01T08:00:00+07:00",
                "entry": [{"fullUrl": "http://example.org/fhir/Composition/doc-comp",
                           "resource": composition},
                          {"fullUrl": "http://example.org/fhir/Patient/doc-pat",
                           "resource": patient}]}
    (directory / "document.json").write_text(json.dumps(document))
    result = cli("load", "--data-dir", tmp_path / "data", directory, timeout=LOAD_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    report = _report(result.stdout)
    assert report == {"Bundle": (1, 0, 0), "total": (1, 0, 0)}, result.stdout
    assert mongods(tmp_path / "data") == []
