"""`fhir-server package install|list` run for real, and servers reading what it installed: a
package's SearchParameter is searchable after a write, resources written before the package
was installed are found after `$reindex`, and a package missing a dependency stops start-up
with a clear message."""

import json
import os
import signal
from pathlib import Path

import httpx
import pytest
from proc_table import workers
from process_issuer import bearer

from profiles.build_packages import tgz_bytes

ETHNIC_GROUP = "http://example.org/fhir/StructureDefinition/ethnic-group"
ETHNICITY = "urn:example:ethnicity"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
             **bearer()}
TERMINATED = (0, -signal.SIGTERM)
SEARCH_PARAMETER = {
    "resourceType": "SearchParameter", "id": "patient-ethnic-group",
    "url": "http://example.org/fhir/SearchParameter/patient-ethnic-group", "version": "0.1.0",
    "name": "EthnicGroup", "status": "active", "code": "ethnic-group", "base": ["Patient"],
    "type": "token", "description": "The patient's ethnic group",
    "expression": f"Patient.extension('{ETHNIC_GROUP}').value",
}


def _package(directory: Path, version: str = "0.1.0", dependencies: dict | None = None,
             name: str = "example.ethnicity") -> Path:
    manifest = {"name": name, "version": version,
                "dependencies": dependencies or {"hl7.fhir.r4.core": "4.0.1"}}
    files = {"package/package.json": json.dumps(manifest).encode(),
             "package/SearchParameter-patient-ethnic-group.json":
                 json.dumps(SEARCH_PARAMETER).encode()}
    path = directory / f"{name}-{version}.tgz"
    path.write_bytes(tgz_bytes(files))
    return path


def _patient(group: str) -> dict:
    return {"resourceType": "Patient", "name": [{"family": "Lò", "given": ["Văn", "Pâng"]}],
            "extension": [{"url": ETHNIC_GROUP,
                           "valueCoding": {"system": ETHNICITY, "code": group}}]}


def _create(base: str, resource: dict) -> str:
    response = httpx.post(f"{base}/Patient", json=resource, headers=FHIR_JSON, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _found(base: str, group: str) -> set[str]:
    response = httpx.get(f"{base}/Patient", params={"ethnic-group": f"{ETHNICITY}|{group}"},
                         headers=FHIR_JSON, timeout=30)
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


def test_install_refuses_a_bad_package_and_a_missing_dependency(cli, tmp_path):
    data = tmp_path / "data"
    not_a_package = tmp_path / "notes.tgz"
    not_a_package.write_text("not an archive")
    result = cli("package", "install", not_a_package, "--data-dir", data)
    assert result.returncode == 1
    assert "cannot install" in result.stderr and "not a readable .tgz package" in result.stderr
    needy = _package(tmp_path, dependencies={"example.gone": "3.0"})
    result = cli("package", "install", needy, "--data-dir", data)
    assert result.returncode == 1
    assert "example.ethnicity#0.1.0 needs example.gone#3.0, which is not installed" in (
        result.stderr)
    assert not (data / "packages").exists() or not any((data / "packages").iterdir())
    result = cli("package", "install", tmp_path / "missing.tgz", "--data-dir", data)
    assert result.returncode == 2 and "is not a file or directory" in result.stderr


def test_install_a_tgz_then_a_directory_of_another_version_and_list_them(cli, tmp_path):
    data = tmp_path / "data"
    result = cli("package", "install", _package(tmp_path), "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"installed example.ethnicity#0.1.0 into {data / 'packages'}/example.ethnicity-0.1.0.tgz"
        " (1 SearchParameter)")
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    (unpacked / "package").mkdir()
    (unpacked / "package" / "package.json").write_text(json.dumps(
        {"name": "example.ethnicity", "version": "0.2.0",
         "dependencies": {"hl7.fhir.uv.ips": "2.0.0"}}))
    result = cli("package", "install", unpacked, "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert "replaced example.ethnicity#0.1.0" in result.stdout
    assert sorted(p.name for p in (data / "packages").iterdir()) == ["example.ethnicity-0.2.0"]
    listed = cli("package", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    labels = [line.split()[0] for line in listed.stdout.splitlines()]
    assert labels == ["hl7.terminology.r4#7.0.1", "hl7.fhir.uv.extensions.r4#5.3.0-ballot-tc1",
                      "hl7.fhir.uv.ips#2.0.0", "example.ethnicity#0.2.0",
                      "fhir-exchange-server.operations#1.0.0", "hl7.fhir.vn.core#1.0.0"]


def test_a_package_search_parameter_is_searchable_and_reindex_finds_older_data(
        cli, spawn, tmp_path):
    data = tmp_path / "data"
    before = spawn(data)
    before.wait_ready()
    older = _create(before.base, _patient("thai"))
    assert before.stop() in TERMINATED
    result = cli("package", "install", _package(tmp_path), "--data-dir", data)
    assert result.returncode == 0, result.stderr

    server = spawn(data)
    server.wait_ready()
    statement = httpx.get(f"{server.base}/metadata", timeout=30).json()
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    assert {"name": "ethnic-group", "definition": SEARCH_PARAMETER["url"], "type": "token",
            "documentation": "The patient's ethnic group"} in patient["searchParam"]
    newer = _create(server.base, _patient("thai"))
    _create(server.base, _patient("kinh"))
    assert newer in _found(server.base, "thai")
    response = httpx.post(f"{server.base}/$reindex", headers=FHIR_JSON, timeout=60)
    assert response.status_code == 200, response.text
    assert _found(server.base, "thai") == {older, newer}
    assert server.stop() in TERMINATED


def test_a_package_missing_a_dependency_stops_start_up_naming_it(spawn, tmp_path):
    data = tmp_path / "data"
    (data / "packages").mkdir(parents=True)
    _package(data / "packages", dependencies={"example.gone": "3.0"})
    server = spawn(data)
    assert server.process.wait(60) == 2
    assert ("cannot start: the installed packages are not usable: example.ethnicity#0.1.0 "
            "needs example.gone#3.0, which is not installed") in server.output()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/metadata", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _metadata(base: str) -> dict:
    return httpx.get(f"{base}/metadata", timeout=30).json()


def _search_codes(base: str) -> set[str]:
    statement = _metadata(base)
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    return {parameter["name"] for parameter in patient["searchParam"]}


@pytest.mark.slow
def test_replaced_workers_read_the_packages_and_date_of_the_servers_start(
        cli, spawn, eventually, tmp_path):
    """Installing a package is for the server's next start: a worker started to replace one
    that died reads the packages its siblings read, or the same search would be answered
    differently by each (and resources it writes indexed for parameters theirs lack)."""
    data = tmp_path / "data"
    assert cli("package", "install", _package(tmp_path), "--data-dir", data).returncode == 0
    server = spawn(data, "--workers", "2")
    server.wait_ready()
    assert eventually(lambda: len(workers(server.process.pid)) == 2, 30), server.output()
    codes = _search_codes(server.base)
    assert "ethnic-group" in codes
    published = _metadata(server.base)["date"]
    renamed = {**SEARCH_PARAMETER, "code": "ethnicity-later", "version": "0.2.0",
               "url": "http://example.org/fhir/SearchParameter/patient-ethnicity-later"}
    later = tmp_path / "later.tgz"
    later.write_bytes(tgz_bytes({
        "package/package.json": json.dumps({"name": "example.later", "version": "0.1.0",
                                            "dependencies": {"hl7.fhir.r4.core": "4.0.1"}}
                                           ).encode(),
        "package/SearchParameter-later.json": json.dumps(renamed).encode()}))
    assert cli("package", "install", later, "--data-dir", data).returncode == 0
    killed = workers(server.process.pid)
    for worker in killed:
        os.kill(worker, signal.SIGKILL)
    assert eventually(lambda: len(set(workers(server.process.pid)) - set(killed)) == 2, 60), (
        server.output())
    assert eventually(lambda: _answers(server.base), 60), server.output()
    # New connections land on either worker: each answers with the packages of the start,
    # and one statement (its date, so its ETag, is the server's start, not the worker's).
    assert all(_search_codes(server.base) == codes for _ in range(8))
    assert {_metadata(server.base)["date"] for _ in range(8)} == {published}
    assert server.stop() in TERMINATED
    assert not list(data.glob("packages-serving-*"))  # the workers' copy goes with them


def _extension(url: str, value_max: str = "1") -> dict:
    """An IG's extension as packages carry it, differential only: `Extension.url` typed
    `uri` (the base says System.String, whose FHIR type is uri), a `code` value of at most
    `value_max` (above 1 it widens the base: no snapshot can be made)."""
    return {"resourceType": "StructureDefinition", "url": url, "name": "ActionType",
            "status": "draft", "fhirVersion": "4.0.1", "kind": "complex-type",
            "abstract": False, "context": [{"type": "element", "expression": "Element"}],
            "type": "Extension", "derivation": "constraint",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
            "differential": {"element": [
                {"id": "Extension", "path": "Extension", "max": "1"},
                {"id": "Extension.url", "path": "Extension.url", "type": [{"code": "uri"}],
                 "fixedUri": url},
                {"id": "Extension.value[x]", "path": "Extension.value[x]", "max": value_max,
                 "type": [{"code": "code"}]}]}}


def test_an_installed_extension_is_checked_and_one_it_cannot_use_is_no_500(
        cli, spawn, tmp_path):
    """An extension whose snapshot the server cannot generate is checked as an unknown one,
    with a warning saying why; one giving Extension.url the type uri is usable."""
    usable, broken = (f"http://example.org/fhir/StructureDefinition/{name}"
                      for name in ("action-type", "action-kind"))
    source = tmp_path / "actions.tgz"
    source.write_bytes(tgz_bytes({
        "package/package.json": json.dumps({"name": "example.actions", "version": "0.1.0",
                                            "dependencies": {"hl7.fhir.r4.core": "4.0.1"}}
                                           ).encode(),
        "package/StructureDefinition-action-type.json": json.dumps(_extension(usable)).encode(),
        "package/StructureDefinition-action-kind.json":
            json.dumps(_extension(broken, value_max="2")).encode()}))
    data = tmp_path / "data"
    result = cli("package", "install", source, "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert f"profile {broken} cannot be used" in result.stdout
    assert usable not in result.stdout
    server = spawn(data)
    server.wait_ready()

    def sent(url: str, value: dict, operation: str = "") -> httpx.Response:
        patient = {"resourceType": "Patient", "extension": [{"url": url, **value}]}
        return httpx.post(f"{server.base}/Patient{operation}", json=patient,
                          headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"},
                          timeout=30)

    checked = sent(broken, {"valueString": "x"}, "/$validate")
    assert checked.status_code == 200, checked.text
    [warning] = checked.json()["issue"]
    assert (warning["severity"], warning["code"]) == ("warning", "processing"), warning
    assert broken in warning["diagnostics"] and "max 2" in warning["diagnostics"]
    assert sent(broken, {"valueString": "x"}).status_code == 201
    wrong = sent(usable, {"valueString": "x"}, "/$validate").json()["issue"]
    assert [(i["severity"], i["expression"]) for i in wrong] == [
        ("error", ["Patient.extension[0].valueString"])], wrong
    assert sent(usable, {"valueCode": "approve"}).status_code == 201
    assert server.stop() in TERMINATED
