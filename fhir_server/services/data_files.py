"""Reading FHIR data files, plain or gzipped: NDJSON (http://hl7.org/fhir/R4/nd-json.html),
one resource a line, and JSON files of one or more resources or Bundles one after the other.
Every resource comes with where it was read: `file:line`, `file:line Bundle.entry[i]`."""

import gzip
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from fhir_server.conformance import json_format
from fhir_server.errors import BadRequest

NDJSON_SUFFIXES = (".ndjson", ".jsonl")
DATA_SUFFIXES = (*NDJSON_SUFFIXES, ".json")  # each also gzipped (`.gz`)
# The Bulk Data manifest bulk clients keep beside the files they downloaded: no resource.
_MANIFEST = "manifest.json"
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


def data_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the NDJSON and JSON files under the directories named (but a
    Bulk Data `manifest.json`, named or not), sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.name.removesuffix(".gz").endswith(DATA_SUFFIXES)
                and p.name != _MANIFEST
            )
        elif path.name != _MANIFEST:
            files.append(path)
    return files


def manifests(paths: Iterable[Path]) -> list[Path]:
    """The Bulk Data `manifest.json` files named, or under the directories named, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob(_MANIFEST) if p.is_file())
        elif path.name == _MANIFEST:
            found.append(path)
    return found


def is_ndjson(path: Path) -> bool:
    return path.name.removesuffix(".gz").endswith(NDJSON_SUFFIXES)


def _open(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return path.open(encoding="utf-8-sig")


def as_resource(document: object, where: str) -> dict:
    """The document if it is a resource; 400 naming `where` if not."""
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise BadRequest(f"{where} is not a FHIR resource (a JSON object with a resourceType)")
    return document


def parse_line(line: str, where: str) -> dict:
    try:
        return as_resource(json_format.loads(line), where)
    except ValueError as bad:
        raise BadRequest(f"{where} is not JSON: {bad}") from None


def ndjson_lines(path: Path) -> Iterator[tuple[str, str]]:
    """(`file:line`, text) of each non-blank line."""
    with _open(path) as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield f"{path}:{number}", line


def _skip_whitespace(text: str, position: int) -> int:
    """Where the JSON whitespace starting at `position` ends."""
    spaces = _JSON_WHITESPACE.match(text, position)  # `*`: it always matches
    return spaces.end() if spaces else position


def json_documents(path: Path) -> Iterator[tuple[str, dict]]:
    """(`file:line`, resource) of each JSON document in the file: usually one, or several one
    after the other (e.g. the pages of a search saved to one file)."""
    with _open(path) as file:
        text = file.read()
    decoder = json.JSONDecoder(parse_float=json_format.parse_number,
                               parse_int=json_format.parse_integer,
                               object_pairs_hook=json_format.unique_members)
    position, line = _skip_whitespace(text, 0), 1
    while position < len(text):
        try:
            document, end = decoder.raw_decode(text, position)
        except ValueError as bad:
            raise BadRequest(f"{path} is not JSON: {bad}") from None
        yield f"{path}:{line}", as_resource(document, f"{path}:{line}")
        line += text.count("\n", position, end)
        position = _skip_whitespace(text, end)
        line += text.count("\n", end, position)


def is_bundle(resource: dict) -> bool:
    return resource["resourceType"] == "Bundle"


def bundle_resources(bundle: dict, where: str) -> Iterator[tuple[str, dict]]:
    """(`where Bundle.entry[i]`, resource) of the entries holding a resource, search outcomes
    left out (http://hl7.org/fhir/R4/bundle.html#searchset)."""
    entries = bundle.get("entry")
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or (entry.get("search") or {}).get("mode") == "outcome":
            continue
        if "resource" in entry:
            located = f"{where} Bundle.entry[{index}]"
            yield located, as_resource(entry["resource"], located)


def read_resources(files: Iterable[Path]) -> Iterator[tuple[str, dict]]:
    """(location, resource) of every resource in the files: each line of NDJSON files, the
    entries of JSON Bundles and other JSON resources; 400 for what is not one."""
    for path in files:
        if is_ndjson(path):
            for where, line in ndjson_lines(path):
                yield where, parse_line(line, where)
            continue
        for where, resource in json_documents(path):
            if is_bundle(resource):
                yield from bundle_resources(resource, where)
            else:
                yield where, resource
