"""Build the implementation guide packages the server ships (`profiles/packages/`) from
`../shared/fhir-packages`:

    python -m profiles.build_packages ../shared

builds `hl7.fhir.vn.core` 1.0.0 (canonical http://fhir.ehealth.gov.vn/core) from the FHIR XML
sources of the Ministry of Health's guide (`vn-core-moh/`), copies the HL7 packages it needs
unchanged, and writes beside each `.tgz` its index (`NAME-VERSION.definitions.jsonl`): the
definitions the server reads, compacted as `profiles.build` compacts the R4 core, so that
start-up parses a few MB instead of every file of THO (4,100 files).
"""

import argparse
import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

from fhir_server.conformance.packages import (
    CORE_PACKAGE,
    DEFINITION_TYPES,
    INDEX_SUFFIX,
    digest,
    package_resources,
    read_package,
)
from profiles.build import structure_definition, terminology_resource

PACKAGES = Path(__file__).resolve().parent / "packages"
HL7_PACKAGES = (
    "hl7.fhir.uv.ips-2.0.0.tgz",
    "hl7.terminology.r4-7.0.1.tgz",
    "hl7.fhir.uv.extensions.r4-5.3.0-ballot-tc1.tgz",
)
VN_CORE = {
    "name": "hl7.fhir.vn.core",
    "version": "1.0.0",
    "canonical": "http://fhir.ehealth.gov.vn/core",
}
_NARRATIVE = ("text",)


def compact(resource: dict) -> dict:
    """What the server reads of a definition (documentation and narrative dropped)."""
    if resource["resourceType"] == "StructureDefinition":
        return structure_definition(resource)
    if resource["resourceType"] == "SearchParameter":
        return {k: v for k, v in resource.items() if k not in _NARRATIVE}
    return terminology_resource(resource)


def write_index(package: Path, directory: Path) -> Path:
    """Write the index of the `.tgz` `package` into `directory`, named after the file."""
    manifest = read_package(package)
    resources = [compact(r) for r in package_resources(package)
                 if r.get("resourceType") in DEFINITION_TYPES]
    header = {
        "package": {"name": manifest.name, "version": manifest.version,
                    "canonical": manifest.canonical,
                    "dependencies": dict(manifest.dependencies)},
        "sha256": digest(package),
    }
    target = directory / (package.name.removesuffix(".tgz") + INDEX_SUFFIX)
    with target.open("w", encoding="utf-8") as lines:
        for line in (header, resources):
            lines.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    return target


def tgz_bytes(files: dict[str, bytes]) -> bytes:
    """A reproducible `.tgz` (fixed times and owners, sorted names): the same sources give
    the same bytes, so the index's digest only changes with the content."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(files[name]), 0o644
            archive.addfile(info, io.BytesIO(files[name]))
    return raw.getvalue()


def _json(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n"


def vn_core_files(sources: Path) -> dict[str, bytes]:
    """package.json, .index.json and one JSON file per resource of the VN Core sources."""
    from fhir_server.conformance.xml_format import xml_to_resource

    guide = xml_to_resource((sources / "vn-core-ig.xml").read_bytes())
    dependencies = {CORE_PACKAGE: guide.get("fhirVersion", ["4.0.1"])[0]}
    dependencies |= {d["packageId"]: d["version"] for d in guide.get("dependsOn", ())}
    manifest = VN_CORE | {
        "title": guide.get("title", guide.get("name")),
        "description": guide.get("description", ""),
        "fhirVersions": guide.get("fhirVersion", ["4.0.1"]),
        "dependencies": dependencies,
        "license": guide.get("license", "CC0-1.0"),
        "type": "IG",
        "author": guide.get("publisher", ""),
    }
    files = {"package/package.json": _json(manifest)}
    entries = []
    for source in sorted((sources / "resources").glob("*.xml")):
        resource = xml_to_resource(source.read_bytes())
        if "id" not in resource:
            # The canonical URL ends in the id (http://hl7.org/fhir/R4/resource.html#canonical).
            resource = {"resourceType": resource["resourceType"],
                        "id": resource["url"].rsplit("/", 1)[-1]} | resource
            print(f"{source.name}: no id, given {resource['id']} from its url")
        name = f"{resource['resourceType']}-{resource['id']}.json"
        files[f"package/{name}"] = _json(resource)
        entries.append({"filename": name} | {
            k: resource[k] for k in ("resourceType", "id", "url", "version", "kind", "type")
            if k in resource
        })
    files["package/.index.json"] = _json({"index-version": 1, "files": entries})
    return files


def build(shared: Path) -> None:
    source = shared / "fhir-packages"
    PACKAGES.mkdir(exist_ok=True)
    built = PACKAGES / f"{VN_CORE['name']}-{VN_CORE['version']}.tgz"
    built.write_bytes(tgz_bytes(vn_core_files(source / "vn-core-moh")))
    packages = [built]
    for name in HL7_PACKAGES:
        packages.append(PACKAGES / name)
        shutil.copyfile(source / name, packages[-1])
    for package in packages:
        print(f"{package.name}: index {write_index(package, PACKAGES).name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shared", type=Path, help="the directory holding fhir-packages/")
    build(parser.parse_args().shared)


if __name__ == "__main__":
    main()
