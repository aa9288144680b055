"""FHIR packages: reading them (.tgz and directories), resolving an installed set by its
dependencies, and what their definitions do to the registry (precedence of the R4 core,
`url|version`, the package each resource came from)."""

import io
import json
import logging
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.conformance.definitions import CORE_LABEL, build_registry, registry
from fhir_server.conformance.packages import (
    INDEX_SUFFIX,
    Package,
    PackageError,
    installed_packages,
    package_resources,
    read_package,
    resolve,
    shipped_directory,
)
from profiles.build_packages import tgz_bytes, write_index

GENDER = "http://hl7.org/fhir/administrative-gender"
IPS = "http://hl7.org/fhir/uv/ips/StructureDefinition/"
VN_CORE = "http://fhir.ehealth.gov.vn/core/StructureDefinition/"
SHIPPED = ["fhir-exchange-server.operations", "hl7.terminology.r4",
           "hl7.fhir.uv.extensions.r4", "hl7.fhir.uv.ips", "hl7.fhir.vn.core"]


def package_files(name: str, version: str = "1.0.0", dependencies: dict | None = None,
                  resources: list[dict] = ()) -> dict[str, bytes]:
    manifest = {"name": name, "version": version,
                "dependencies": dependencies or {"hl7.fhir.r4.core": "4.0.1"}}
    files = {"package/package.json": json.dumps(manifest).encode(),
             "package/.index.json": b'{"index-version": 1, "files": []}',
             "package/example/Patient-example.json": b'{"resourceType": "Patient"}'}
    for resource in resources:
        name_ = f"package/{resource['resourceType']}-{resource['id']}.json"
        files[name_] = json.dumps(resource).encode()
    return files


def write_tgz(directory: Path, files: dict[str, bytes], name: str = "p.tgz") -> Path:
    path = directory / name
    path.write_bytes(tgz_bytes(files))
    return path


def write_directory(directory: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    return directory


def package(name: str, version: str = "1.0.0", **dependencies: str) -> Package:
    return Package(name, version, dependencies, Path(name))


CODE_SYSTEM = {"resourceType": "CodeSystem", "id": "gender", "url": GENDER, "version": "9.9.9",
               "status": "active", "content": "complete", "concept": [{"code": "other-x"}]}
VALUE_SET = {"resourceType": "ValueSet", "id": "colours", "url": "http://example.org/vs/colours",
             "version": "1.0.0", "status": "active"}


def test_a_tgz_and_a_directory_give_the_same_package_without_examples(tmp_path):
    files = package_files("example.colours", resources=[VALUE_SET])
    from_tgz = read_package(write_tgz(tmp_path, files))
    unpacked = write_directory(tmp_path / "unpacked", files)
    from_directory = read_package(unpacked)
    assert (from_tgz.label, dict(from_tgz.dependencies)) == (
        from_directory.label, dict(from_directory.dependencies)
    ) == ("example.colours#1.0.0", {"hl7.fhir.r4.core": "4.0.1"})
    assert from_tgz.definitions() == from_directory.definitions() == [VALUE_SET]
    assert package_resources(unpacked) == [VALUE_SET]  # neither manifest nor example/


@pytest.mark.parametrize(("files", "message"), [
    ({"package/ValueSet-x.json": b"{}"}, "no package/package.json"),
    ({"package/package.json": b"not json"}, "package/package.json is not JSON"),
    ({"package/package.json": b'{"version": "1"}'}, "has no 'name'"),
    ({"package/package.json": b'{"name": "a", "version": "1", "dependencies": ["b"]}'},
     "'dependencies'"),
])
def test_a_bad_package_is_a_clear_error(tmp_path, files, message):
    with pytest.raises(PackageError, match=message):
        read_package(write_tgz(tmp_path, files))


def test_a_file_that_is_not_a_tgz_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.tgz"
    path.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(PackageError, match="not a readable .tgz package"):
        read_package(path)


_TEXT = st.text(alphabet="ab.é1", max_size=4)  # a small alphabet: no Unicode tables to build


@given(st.dictionaries(st.sampled_from(["name", "version", "dependencies", "canonical"]),
                       st.none() | _TEXT | st.integers()
                       | st.dictionaries(_TEXT, _TEXT | st.none(), max_size=2)
                       | st.lists(_TEXT, max_size=2)))
def test_any_manifest_reads_or_is_a_package_error(manifest):
    """Whatever package.json holds, reading the package gives a package or a PackageError."""
    files = {"package/package.json": json.dumps(manifest).encode()}
    try:
        found = read_package(_MemoryFile(tgz_bytes(files)))
    except PackageError:
        return
    assert isinstance(found.name, str) and found.name
    assert isinstance(found.version, str) and found.version
    assert all(isinstance(v, str) for v in found.dependencies.values())


class _MemoryFile:
    """A `.tgz` held in memory, read as a Traversable."""

    name = "memory.tgz"

    def __init__(self, data: bytes):
        self.data = data

    def is_dir(self) -> bool:
        return False

    def open(self, mode: str = "rb") -> io.BytesIO:
        return io.BytesIO(self.data)

    def read_bytes(self) -> bytes:
        return self.data


def test_a_missing_dependency_names_the_package_and_who_needs_it():
    with pytest.raises(PackageError, match=r"example.a#1.0.0 needs example.b#2.0.0, which is "
                                           "not installed"):
        resolve([package("example.a", **{"example.b": "2.0.0"})])


def test_any_installed_version_satisfies_a_dependency_and_the_difference_is_logged(caplog):
    with caplog.at_level(logging.INFO, "fhir_server.packages"):
        ordered = resolve([package("example.a", **{"example.b": "1.0.0"}),
                           package("example.b", "1.1.0")])
    assert [p.name for p in ordered] == ["example.b", "example.a"]  # dependencies first
    assert "example.a#1.0.0 declares example.b#1.0.0; example.b#1.1.0 is installed" in caplog.text


def test_only_ips_may_go_without_ipa_the_known_absent_dependency():
    ipa = {"hl7.fhir.uv.ipa": "1.1.0"}
    assert [p.name for p in resolve([package("hl7.fhir.uv.ips", **ipa)])] == ["hl7.fhir.uv.ips"]
    with pytest.raises(PackageError, match="example.a#1.0.0 needs hl7.fhir.uv.ipa#1.1.0"):
        resolve([package("example.a", **ipa)])


def test_ips_names_ipa_only_in_its_capability_statement_and_guide():
    """Why IPA may be absent (profiles/packages/known-issues.json): no definition uses it."""
    ips = package_resources(shipped_directory() / "hl7.fhir.uv.ips-2.0.0.tgz")
    naming = {r["resourceType"] for r in ips if "hl7.org/fhir/uv/ipa" in json.dumps(r)}
    assert naming == {"CapabilityStatement", "ImplementationGuide"}


def test_the_shipped_packages_are_installed_by_default():
    assert [p.name for p in registry().packages] == SHIPPED
    ips_patient = registry().resolve(IPS + "Patient-uv-ips")
    assert registry().package_of(ips_patient) == "hl7.fhir.uv.ips#2.0.0"
    vn_patient = registry().resolve(VN_CORE + "vn-core-patient")
    assert registry().package_of(vn_patient) == "hl7.fhir.vn.core#1.0.0"


def test_the_core_keeps_every_url_it_defines():
    """IG copies of core definitions (THO's CodeSystems, the extensions pack) are reachable
    by `url|version` only, so base R4 validation behaves as without packages."""
    core = build_registry([])
    shadowed = 0
    for url, resource in core.by_url.items():
        assert registry().package_of(registry().resolve(url)) == CORE_LABEL, url
        assert registry().resolve(url) == resource
    for resource in registry().by_url.values():
        label = registry().package_of(resource)
        if label != CORE_LABEL and resource.get("url") in core.by_url:
            shadowed += 1
            assert registry().resolve(f"{resource['url']}|{resource['version']}") is resource
    assert shadowed > 1000  # THO and the extensions pack repeat much of the core


def test_a_package_resource_is_reachable_by_url_and_version(tmp_path):
    files = package_files("example.colours", resources=[VALUE_SET, CODE_SYSTEM])
    built = build_registry([read_package(write_tgz(tmp_path, files))])
    assert built.resolve(VALUE_SET["url"]) == VALUE_SET
    assert built.resolve(VALUE_SET["url"] + "|1.0.0") == VALUE_SET
    assert built.resolve(VALUE_SET["url"] + "|0.1") == VALUE_SET  # no such version: the url's
    assert built.package_of(built.resolve(VALUE_SET["url"])) == "example.colours#1.0.0"
    assert built.resolve(GENDER)["concept"][0]["code"] == "male"  # the core's
    assert built.resolve(GENDER + "|9.9.9") == CODE_SYSTEM
    assert CODE_SYSTEM in built.all("CodeSystem")  # every version


def test_an_installed_package_replaces_the_shipped_one_of_its_name(tmp_path):
    files = package_files("hl7.fhir.vn.core", "1.1.0", {"hl7.fhir.uv.ips": "2.0.0"})
    write_tgz(tmp_path, files, "vn.tgz")
    labels = [p.label for p in installed_packages(tmp_path)]
    assert "hl7.fhir.vn.core#1.1.0" in labels and "hl7.fhir.vn.core#1.0.0" not in labels


def test_an_installed_package_with_a_missing_dependency_is_a_start_up_error(tmp_path):
    write_tgz(tmp_path, package_files("example.a", dependencies={"example.gone": "3.0"}))
    with pytest.raises(PackageError, match="example.a#1.0.0 needs example.gone#3.0"):
        installed_packages(tmp_path)


def test_the_index_gives_what_the_package_gives_and_a_stale_one_is_ignored(tmp_path, caplog):
    files = package_files("example.colours", resources=[VALUE_SET])
    tgz = write_tgz(tmp_path, files, "example.colours-1.0.0.tgz")
    index = write_index(tgz, tmp_path)
    assert index.name == "example.colours-1.0.0" + INDEX_SUFFIX
    (found,) = [p for p in installed_packages(tmp_path) if p.name == "example.colours"]
    assert found.index is not None and found.definitions() == [VALUE_SET]
    tgz.write_bytes(tgz_bytes(files | {"package/ValueSet-x.json": json.dumps(
        VALUE_SET | {"id": "x", "url": "http://example.org/vs/x"}).encode()}))
    with caplog.at_level(logging.WARNING, "fhir_server.packages"):
        (found,) = [p for p in installed_packages(tmp_path) if p.name == "example.colours"]
    assert found.index is None and len(found.definitions()) == 2
    assert "was not built from" in caplog.text


def test_the_shipped_indexes_hold_the_definitions_of_their_packages(tmp_path):
    for name in ("hl7.fhir.uv.ips-2.0.0", "hl7.fhir.vn.core-1.0.0"):
        shutil.copyfile(shipped_directory() / f"{name}.tgz", tmp_path / f"{name}.tgz")
        indexed = read_package(shipped_directory() / f"{name}.tgz",
                               shipped_directory() / f"{name}{INDEX_SUFFIX}")
        assert indexed.index is not None, "the index was built from other bytes"
        unindexed = read_package(tmp_path / f"{name}.tgz")
        assert ([(r["resourceType"], r["id"]) for r in indexed.definitions()]
                == [(r["resourceType"], r["id"]) for r in unindexed.definitions()])
