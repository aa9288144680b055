"""The FHIR type an ElementDefinition.type names (http://hl7.org/fhir/R4/elementdefinition.html
#ElementDefinition.type): FHIRPath system types, which R4's snapshots give ids, urls and
primitive values, name theirs in an extension."""

# Where the core definitions are: a type's (CORE + `Quantity`), the core extensions'.
CORE = "http://hl7.org/fhir/StructureDefinition/"
FHIR_TYPE = CORE + "structuredefinition-fhir-type"
_SYSTEM_TYPES = "http://hl7.org/fhirpath/System."


def choice_name(stem: str, code: str) -> str:
    """The JSON name of a choice element for one of its types: `value` and `Quantity` give
    `valueQuantity`, `deceased` and `boolean` `deceasedBoolean`
    (http://hl7.org/fhir/R4/formats.html#choice)."""
    return stem + code[0].upper() + code[1:]


def type_code_of(entry: dict, element: dict) -> str:
    """The FHIR type of an ElementDefinition.type (`uri` for Extension.url's System.String).
    Resource.id is an `id` (http://hl7.org/fhir/R4/resource.html#id) although the snapshot
    says string."""
    code = entry["code"]
    if not code.startswith(_SYSTEM_TYPES):
        return code
    if element.get("base", {}).get("path") == "Resource.id":
        return "id"
    return next(
        (e["valueUrl"] for e in entry.get("extension", ()) if e["url"] == FHIR_TYPE), "string"
    )
