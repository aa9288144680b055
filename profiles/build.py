"""Build the conformance data the server ships from the official R4 package
(`hl7.fhir.r4.examples@4.0.1`, unpacked in `../shared/fhir-r4`):

    python -m profiles.build ../shared/fhir-r4

writes `profiles/` (every StructureDefinition with its snapshot, every SearchParameter and
CompartmentDefinition) and `terminology/` (every CodeSystem, ValueSet, ConceptMap and
NamingSystem), keeping only what the server reads at run time: documentation (element
definitions, comments, mappings) is dropped, so the files are a fraction of the package (but
for element definitions that require an absolute URI); a code's definition and designations
stay ($lookup answers with them).
"""

import argparse
import json
from pathlib import Path

PROFILES = Path(__file__).resolve().parent
TERMINOLOGY = PROFILES.parent / "terminology"

_SD_KEYS = ("resourceType", "id", "url", "version", "name", "status", "fhirVersion", "kind",
            "abstract", "type", "baseDefinition", "derivation", "context", "contextInvariant")
_ELEMENT_KEYS = ("id", "path", "sliceName", "sliceIsConstraining", "min", "max", "base",
                 "contentReference", "type", "maxLength", "condition", "constraint",
                 "mustSupport", "isModifier", "isSummary", "binding", "slicing",
                 "representation")
_ELEMENT_PREFIXES = ("fixed", "pattern", "defaultValue", "minValue", "maxValue")
_CONSTRAINT_KEYS = ("key", "severity", "human", "expression", "source")
_SEARCH_KEYS = ("resourceType", "id", "url", "name", "status", "code", "base", "type",
                "description", "expression", "target", "multipleOr", "multipleAnd",
                "comparator", "modifier", "chain", "component", "xpathUsage")
_TERMINOLOGY_KEYS = ("resourceType", "id", "url", "version", "name", "status",
                     "caseSensitive", "valueSet", "hierarchyMeaning", "compositional",
                     "content", "supplements", "count", "filter", "property", "compose",
                     "uniqueId", "kind", "source", "sourceUri", "sourceCanonical", "target",
                     "targetUri", "targetCanonical", "group")
# The regex and FHIR type of primitive values are extensions on ElementDefinition.type.
_TYPE_EXTENSIONS = ("http://hl7.org/fhir/StructureDefinition/regex",
                    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type")


# Of its documentation, a definition saying the value is an absolute URI (ValueSet.url,
# compose.include.system and 37 others): validation holds values to it.
_ABSOLUTE_DEFINITION = "An absolute URI"


def _element(element: dict) -> dict:
    kept = {k: element[k] for k in _ELEMENT_KEYS if k in element}
    if element.get("definition", "").startswith(_ABSOLUTE_DEFINITION):
        kept["definition"] = element["definition"]
    kept |= {k: v for k, v in element.items() if k.startswith(_ELEMENT_PREFIXES)}
    if "constraint" in kept:
        kept["constraint"] = [
            {k: c[k] for k in _CONSTRAINT_KEYS if k in c} for c in kept["constraint"]
        ]
    if "binding" in kept:
        kept["binding"] = {k: kept["binding"][k] for k in ("strength", "valueSet")
                           if k in kept["binding"]}
    if "type" in kept:
        kept["type"] = [_type(t) for t in kept["type"]]
    return kept


def _type(entry: dict) -> dict:
    extensions = [e for e in entry.get("extension", ()) if e["url"] in _TYPE_EXTENSIONS]
    kept = {k: v for k, v in entry.items() if k != "extension"}
    return kept | ({"extension": extensions} if extensions else {})


def structure_definition(definition: dict) -> dict:
    kept = {k: definition[k] for k in _SD_KEYS if k in definition}
    # The snapshot is what validation reads; a differential only where there is no snapshot.
    view = "snapshot" if "snapshot" in definition else "differential"
    kept[view] = {"element": [_element(e) for e in definition[view]["element"]]}
    return kept


def _concepts(concepts: list[dict]) -> list[dict]:
    kept = []
    for concept in concepts:
        entry = {k: concept[k] for k in ("code", "display", "definition", "designation",
                                         "property") if k in concept}
        if "concept" in concept:
            entry["concept"] = _concepts(concept["concept"])
        kept.append(entry)
    return kept


def terminology_resource(resource: dict) -> dict:
    kept = {k: resource[k] for k in _TERMINOLOGY_KEYS if k in resource}
    if "concept" in resource:
        kept["concept"] = _concepts(resource["concept"])
    return kept


def _bundle(resources: list[dict]) -> dict:
    resources.sort(key=lambda r: r.get("url") or r["id"])
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def _write(path: Path, bundle: dict) -> None:
    path.write_text(json.dumps(bundle, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")


def build(package: Path) -> None:
    definitions = package / "definitions"
    by_kind: dict[str, list[dict]] = {}
    for file in sorted(definitions.glob("StructureDefinition-*.json")):
        definition = json.loads(file.read_text(encoding="utf-8"))
        kind = definition["kind"]
        if definition.get("derivation") == "constraint":
            kind = "extension" if definition["type"] == "Extension" else "profile"
        by_kind.setdefault(kind, []).append(structure_definition(definition))
    for kind, resources in by_kind.items():
        _write(PROFILES / f"r4-structure-{kind}.json", _bundle(resources))
    searches = json.loads((definitions / "Bundle-searchParams.json").read_text(encoding="utf-8"))
    _write(PROFILES / "r4-search-parameters.json",
           _bundle([{k: e["resource"][k] for k in _SEARCH_KEYS if k in e["resource"]}
                    for e in searches["entry"]]))
    compartments = [json.loads(f.read_text(encoding="utf-8"))
                    for f in sorted(definitions.glob("CompartmentDefinition-*.json"))]
    _write(PROFILES / "r4-compartments.json",
           _bundle([c for c in compartments if c["id"] != "example"]))
    operations = [json.loads(f.read_text(encoding="utf-8"))
                  for f in sorted(definitions.glob("OperationDefinition-*.json"))]
    _write(PROFILES / "r4-operations.json",
           _bundle([{k: v for k, v in o.items() if k not in ("text", "description")}
                    for o in operations]))
    by_type: dict[str, list[dict]] = {}
    for file in sorted((package / "terminology").glob("*.json")):
        resource = json.loads(file.read_text(encoding="utf-8"))
        by_type.setdefault(resource["resourceType"], []).append(terminology_resource(resource))
    for resource_type, resources in by_type.items():
        _write(TERMINOLOGY / f"r4-{resource_type}.json", _bundle(resources))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", type=Path, help="the unpacked hl7.fhir.r4.examples package")
    build(parser.parse_args().package)


if __name__ == "__main__":
    main()
